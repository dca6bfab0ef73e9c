"""The widget in a real browser (headless chromium) on a shop page of another origin: sold-out
products hidden by default, nothing on a page that is not a product page, prices with the
currency, the headline and a placeholder for a broken image."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lookalike.serve.app import create_app
from tests.serve.conftest import (
    BROWSER_UA,
    LiveServer,
    Shops,
    StaticServer,
    free_port,
    make_settings,
)
from tests.serve.test_browser import wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def page(api: str, title: str, attrs: str) -> bytes:
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>Example Shop</h1><p>{title}</p>
<script src="{api}/widget.js" data-shop="alpha" {attrs} async></script>
<footer>end</footer></body></html>""".encode()


def test_widget_hides_sold_out_shows_currency_and_stays_empty_off_product_pages(
    browser: Browser, shops: Shops, tmp_path: Path
) -> None:
    port = free_port()
    settings = make_settings(tmp_path, cors_origins={"alpha": [f"http://127.0.0.1:{port}"]})
    app = create_app([shops.alpha], settings=settings)
    try:
        with LiveServer(app) as api:
            look = 'data-currency="EUR" data-headline="You may also like" data-accent="#ff0000"'
            by_id = f'data-product-id="a-dress-2" data-k="12" {look}'
            routes = {
                "/product.html": (200, "text/html", page(api.url, "Dress", by_id)),
                "/contact.html": (200, "text/html", page(api.url, "Contact us | Shop", look)),
                "/by-title.html": (
                    200,
                    "text/html",
                    page(api.url, "Alpha hat number 2 | Example Shop", look),
                ),
            }
            with StaticServer(routes, port) as site:
                context = browser.new_context(user_agent=BROWSER_UA)
                tab = context.new_page()
                tab.goto(f"{site.url}/product.html")
                frame = tab.frame_locator("iframe[title='Similar products']")
                cards = frame.locator("a.card")
                cards.first.wait_for()
                shown = cards.evaluate_all("cs => cs.map(c => c.dataset.id)")
                # 15 products, 3 of them number 4 (sold out): 12 asked, the 11 others in stock come
                assert len(shown) == 11 and not any(pid.endswith("-4") for pid in shown)
                prices = frame.locator(".card .p").all_inner_texts()
                assert prices and all(p.startswith("€") for p in prices)
                assert frame.locator("h2").inner_text() == "You may also like"
                colour = frame.locator(".card .p").first.evaluate("e => getComputedStyle(e).color")
                assert colour == "rgb(255, 0, 0)"
                # a broken image becomes a placeholder
                frame.locator("img").first.evaluate("i => { i.src = '/no-such-image.jpg'; }")
                assert wait_for(lambda: frame.locator(".ph").count() >= 1)

                # a page whose title names no product closely enough shows nothing
                tab.goto(f"{site.url}/contact.html")
                tab.wait_for_timeout(1500)
                assert tab.frame_locator("iframe").locator("a.card").count() == 0
                assert tab.locator("iframe").bounding_box()["height"] == 0
                # a product page without an id still finds its product by title
                tab.goto(f"{site.url}/by-title.html")
                tab.frame_locator("iframe").locator("a.card").first.wait_for()
                context.close()
    finally:
        app.state.lookalike.close()
