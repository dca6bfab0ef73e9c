"""A real browser (headless Debian chromium via playwright) on a static shop page served from
another 127.0.0.1 port (another origin) with the one-line widget; plus the browse page."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lookalike.serve.app import create_app
from tests.conftest import REPO
from tests.serve.conftest import (
    BROWSER_UA,
    LiveServer,
    Shops,
    StaticServer,
    free_port,
    make_settings,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = REPO / "test-artifacts"
WIDGET_K = 6


def shop_page(api: str, shop: str, product_id: str | None, title: str) -> bytes:
    attrs = f'data-shop="{shop}" data-k="{WIDGET_K}"'
    if product_id:
        attrs += f' data-product-id="{product_id}"'
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:Georgia,serif;max-width:960px;margin:24px auto;padding:0 16px}}
.product{{display:flex;gap:24px;align-items:center}} .product div{{width:220px;height:160px;
background:#ddd;border-radius:8px}}</style></head>
<body><h1>Example Shop</h1><section class="product"><div></div><p>{title}<br>A product page
owned by the shop, on its own origin.</p></section>
<script src="{api}/widget.js" {attrs} async></script>
<footer><p>© Example Shop</p></footer></body></html>""".encode()


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_widget_on_a_shop_page(browser: Browser, shops: Shops, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shop_port = free_port()
    shop_origin = f"http://127.0.0.1:{shop_port}"
    settings = make_settings(tmp_path, cors_origins={"alpha": [shop_origin]})
    app = create_app([shops.alpha, shops.beta], settings=settings)
    events = app.state.lookalike.events
    try:
        with LiveServer(app) as api:
            routes = {
                "/by-id.html": (
                    200,
                    "text/html",
                    shop_page(api.url, "alpha", "a-dress-2", "Dress"),
                ),
                "/by-title.html": (
                    200,
                    "text/html",
                    shop_page(api.url, "alpha", None, "Alpha hat number 2 | Example Shop"),
                ),
            }
            with StaticServer(routes, shop_port) as site:
                context = browser.new_context(
                    user_agent=BROWSER_UA, viewport={"width": 1100, "height": 800}
                )
                page = context.new_page()
                page.goto(f"{site.url}/by-id.html")
                frame = page.frame_locator("iframe[title='Similar products']")
                cards = frame.locator("a.card")
                cards.first.wait_for()
                assert cards.count() == WIDGET_K
                # Every product image really loaded inside the sandboxed frame.
                frame.locator("img").last.wait_for()
                assert wait_for(
                    lambda: cards.locator("img").evaluate_all(
                        "imgs => imgs.every(i => i.complete && i.naturalWidth > 0)"
                    )
                )
                sandbox = page.locator("iframe").get_attribute("sandbox")
                assert sandbox == "allow-scripts allow-popups allow-popups-to-escape-sandbox"
                # The iframe grew to its content through postMessage.
                assert wait_for(lambda: page.locator("iframe").bounding_box()["height"] > 150)
                # The impression (all shown ids in order) arrived.
                assert wait_for(lambda: events.count("impression") >= 1)
                impression = next(events.iter_events(type="impression"))
                shown = cards.evaluate_all("cs => cs.map(c => c.dataset.id)")
                assert impression.shown == shown and impression.product_id == "a-dress-2"
                assert impression.visitor
                page.screenshot(path=str(ARTIFACTS / "widget-shop-page.png"), full_page=True)

                with context.expect_page() as popup:
                    cards.nth(2).click()
                popup.value.close()
                assert wait_for(lambda: events.count("click") >= 1)
                click = next(events.iter_events(type="click"))
                assert (click.target_id, click.position) == (shown[2], 3)
                assert click.shop == "alpha" and click.visitor == impression.visitor

                # No product id: the page title finds the product.
                page.goto(f"{site.url}/by-title.html")
                cards = page.frame_locator("iframe").locator("a.card")
                cards.first.wait_for()
                assert cards.count() == WIDGET_K
                assert wait_for(lambda: events.count("impression") >= 2)
                latest = list(events.iter_events(type="impression"))[-1]
                assert latest.product_id == "a-hat-2"
                assert latest.visitor == impression.visitor  # same browser, same visitor
                context.close()

            # The browse page, in the same browser.
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(f"{api.url}/browse/alpha?id=a-dress-2")
            page.locator(".grid .card img").last.wait_for()
            assert page.locator(".grid .card").count() == 12
            assert wait_for(
                lambda: page.locator(".grid img").evaluate_all(
                    "imgs => imgs.every(i => i.complete && i.naturalWidth > 0)"
                )
            )
            page.screenshot(path=str(ARTIFACTS / "browse-product.png"), full_page=True)
            # Upload a photo with the plain form.
            page.set_input_files("input[type=file]", shops.products["alpha"][11].images[0])
            page.click("form.upload button")
            page.wait_for_url("**/search-image")
            assert page.locator(".grid .card").count() == 12
            first = page.locator(".grid .card").first.get_attribute("href")
            assert first.endswith(f"id={shops.products['alpha'][11].id}")
            page.screenshot(path=str(ARTIFACTS / "browse-upload.png"), full_page=True)
            context.close()
    finally:
        app.state.lookalike.close()
