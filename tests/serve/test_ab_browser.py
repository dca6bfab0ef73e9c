"""A real browser (headless Debian chromium via playwright): the widget on a static shop page
shows the visitor's variant, and a click on it is attributed to that variant in the report."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lookalike.ab.experiments import Variant
from lookalike.ab.store import ExperimentStore
from lookalike.serve.app import create_app
from lookalike.serve.settings import ServeSettings
from tests.conftest import REPO
from tests.serve.abshop import build_ab_shop
from tests.serve.conftest import BROWSER_UA, LiveServer, StaticServer, free_port
from tests.serve.test_browser import wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = REPO / "test-artifacts"
ADMIN = "ab-browser-key"
K = 4


def shop_page(api: str) -> bytes:
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Shoes 0</title></head>
<body><h1>Example Shop: Shoes 0</h1>
<script src="{api}/widget.js" data-shop="shop" data-product-id="shoes-0" data-k="{K}" async>
</script></body></html>""".encode()


def test_widget_variant_and_click_attribution(browser: Browser, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shop = build_ab_shop(tmp_path / "build").root
    shop = Path(shutil.copytree(shop, tmp_path / "shop"))
    store = ExperimentStore(shop)
    store.start("widget-test", (Variant("image", 1), Variant("attributes", 1)))
    shop_port = free_port()
    settings = ServeSettings(
        admin_key=ADMIN,
        events_db=tmp_path / "events.sqlite",
        cors_origins={"shop": [f"http://127.0.0.1:{shop_port}"]},
    )
    app = create_app([shop], settings=settings)
    events = app.state.lookalike.events
    try:
        with LiveServer(app) as api:
            routes = {"/shoes-0.html": (200, "text/html", shop_page(api.url))}
            with StaticServer(routes, shop_port) as site:
                context = browser.new_context(
                    user_agent=BROWSER_UA, viewport={"width": 1000, "height": 700}
                )
                page = context.new_page()
                page.goto(f"{site.url}/shoes-0.html")
                frame = page.frame_locator("iframe[title='Similar products']")
                cards = frame.locator("a.card")
                cards.first.wait_for()
                assert cards.count() == K
                section = frame.locator("section.lk")
                experiment = section.get_attribute("data-experiment")
                variant = section.get_attribute("data-variant")
                # The variant shown is the one the visitor id (kept by widget.js) hashes to.
                visitor = page.evaluate("localStorage.getItem('lookalike_visitor')")
                assignment = store.assign(visitor)
                assert assignment is not None
                assert (experiment, variant) == ("widget-test", assignment.variant)
                assert wait_for(lambda: events.count("impression") == 1)
                page.screenshot(path=str(ARTIFACTS / "ab-widget.png"), full_page=True)

                with context.expect_page() as popup:
                    cards.nth(1).click()
                popup.value.close()
                assert wait_for(lambda: events.count("click") == 1)
                (click,) = events.iter_events(type="click")
                assert (click.experiment, click.variant, click.visitor) == (
                    experiment,
                    variant,
                    visitor,
                )
                context.close()

            # The report, as an admin sees it in the browser.
            context = browser.new_context(extra_http_headers={"X-API-Key": ADMIN})
            page = context.new_page()
            page.goto(f"{api.url}/v1/shops/shop/ab")
            row = page.locator(f'tr[data-variant="{variant}"] td')
            cells = row.all_inner_texts()
            assert cells[:5] == [variant, "1", "1", "1", "100.00%"]  # visitors, impr., clicks
            other = "attributes" if variant == "image" else "image"
            assert page.locator(f'tr[data-variant="{other}"] td').all_inner_texts()[2:4] == [
                "0",
                "0",
            ]
            assert page.locator("img[alt='CTR over time']").evaluate("i => i.naturalWidth") > 300
            page.screenshot(path=str(ARTIFACTS / "ab-report.png"), full_page=True)
            context.close()
    finally:
        app.state.lookalike.close()
