"""The event endpoint, the widget's iframe page and loader, and the browse pages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from lookalike.ab.events import EventLog
from tests.serve.conftest import ALPHA_ORIGIN, BROWSER_UA, Shops


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    client = TestClient(app, headers={"User-Agent": BROWSER_UA})
    yield client
    client.close()


@pytest.fixture
def events(app: FastAPI) -> EventLog:
    return app.state.lookalike.events


def stored(events: EventLog, event_id: str) -> dict:
    found = [e for e in events.iter_events() if e.event_id == event_id]
    assert len(found) == 1
    return EventLog.as_dict(found[0])


def test_click_is_recorded_with_ab_fields(client: TestClient, events: EventLog) -> None:
    body = {
        "type": "click",
        "event_id": "click-1",
        "product_id": "a-dress-1",
        "target_id": "a-dress-3",
        "position": 2,
        "visitor": "v-123",
        "experiment": "exp-1",
        "variant": "B",
    }
    response = client.post("/v1/shops/alpha/events", json=body)
    assert response.status_code == 202
    assert response.json() == {"recorded": True, "event_id": "click-1"}
    event = stored(events, "click-1")
    assert event["shop"] == "alpha"
    # No experiment "exp-1" runs for this shop: the server drops the claimed attribution
    # (tests/serve/test_ab_service.py covers events of a running experiment).
    assert (event["experiment"], event["variant"], event["visitor"]) == ("", "", "v-123")
    assert (event["target_id"], event["position"]) == ("a-dress-3", 2)
    assert event["user_agent"] == BROWSER_UA
    # A retry of the same event is acknowledged but not stored twice.
    again = client.post("/v1/shops/alpha/events", json=body)
    assert again.json() == {"recorded": False, "event_id": "click-1"}
    assert events.dropped()["duplicate"] >= 1


def test_widget_style_text_plain_impression_from_a_sandbox(
    client: TestClient, events: EventLog
) -> None:
    body = {"type": "impression", "event_id": "imp-1", "shown": ["b-shoes-1", "b-shoes-2"]}
    response = client.post(
        "/v1/shops/beta/events?visitor=v-q",
        content=json.dumps(body),
        headers={"Content-Type": "text/plain", "Origin": "null"},
    )
    assert response.status_code == 202 and response.json()["recorded"] is True
    event = stored(events, "imp-1")
    assert event["shown"] == ["b-shoes-1", "b-shoes-2"]
    assert event["visitor"] == "v-q"  # from the query parameter when the body has none
    assert event["shop"] == "beta"


def test_bots_are_acknowledged_but_not_stored(client: TestClient, events: EventLog) -> None:
    response = client.post(
        "/v1/shops/alpha/events",
        json={"type": "click", "event_id": "bot-1", "target_id": "a-hat-1", "position": 1},
        headers={"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"},
    )
    assert response.json() == {"recorded": False, "event_id": "bot-1"}
    assert not [e for e in events.iter_events() if e.event_id == "bot-1"]


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {"type": "view"}}, 422),
        ({"json": {"type": "click", "position": 0}}, 422),
        ({"content": b"{", "headers": {"content-type": "text/plain"}}, 422),
        ({"json": {"type": "click", "shown": ["x" * 10] * 2000}}, 413),
        ({"json": {"type": "click"}, "headers": {"Origin": "http://evil.test"}}, 403),
    ],
)
def test_bad_events(client: TestClient, kwargs: dict, status: int) -> None:
    assert client.post("/v1/shops/alpha/events", **kwargs).status_code == status


def test_events_from_configured_origins_and_unknown_shops(client: TestClient) -> None:
    ok = client.post(
        "/v1/shops/alpha/events", json={"type": "click"}, headers={"Origin": ALPHA_ORIGIN}
    )
    assert ok.status_code == 202
    assert client.post("/v1/shops/gamma/events", json={"type": "click"}).status_code == 404


def test_widget_page_renders_k_cards_and_a_visitor_cookie(client: TestClient) -> None:
    # A client cannot pick its variant (variant=B is ignored): the server assigns it.
    response = client.get("/v1/shops/alpha/widget?product_id=a-hat-1&k=4&widget=w1&variant=B")
    assert response.status_code == 200
    html = response.text
    assert html.count('class="card"') == 4
    assert html.count('target="_blank"') == 4
    ids = re.findall(r'data-id="([^"]+)"', html)
    # the widget hides out-of-stock products by default: the API with in_stock=true agrees
    direct = client.get("/v1/shops/alpha/products/a-hat-1/similar?k=4&in_stock=true")
    assert ids == [r["id"] for r in direct.json()["results"]]
    assert 'href="https://alpha.example/p/' in html  # the catalog's product pages
    config = json.loads(re.search(r'id="lk-config"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert config["events_url"] == "http://testserver/v1/shops/alpha/events"
    assert config["variant"] == "" and config["widget"] == "w1"  # no experiment running
    assert config["visitor"] == response.cookies["lk_visitor"]
    # Only the shop's own pages may frame its widget.
    assert response.headers["content-security-policy"] == f"frame-ancestors {ALPHA_ORIGIN}"


def test_widget_by_page_title_and_unknown_product(client: TestClient) -> None:
    by_title = client.get("/v1/shops/beta/widget", params={"title": "Beta shorts number 2 – Beta"})
    assert by_title.status_code == 200 and by_title.text.count('class="card"') == 8
    assert "content-security-policy" not in by_title.headers  # beta configured no origins
    missing = client.get("/v1/shops/beta/widget", params={"product_id": "nope"})
    assert missing.status_code == 404 and 'class="card"' not in missing.text
    assert client.get("/v1/shops/beta/widget").status_code == 422


def test_widget_script_is_served(client: TestClient) -> None:
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "allow-scripts allow-popups allow-popups-to-escape-sandbox" in response.text
    assert "allow-same-origin" not in response.text


def test_browse_pages(client: TestClient, shops: Shops) -> None:
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 200 and home.text.count('class="card"') == 15
    assert client.head("/").status_code == 200
    assert client.head("/browse/alpha").status_code == 200
    listing = client.get("/browse/alpha")
    assert listing.status_code == 200 and listing.text.count('class="card"') == 15
    rand = client.get("/browse/beta/random", follow_redirects=False)
    assert rand.status_code == 303 and rand.headers["location"].startswith("/browse/beta?id=b-")
    page = client.get("/browse/alpha?id=a-pants-3&k=5")
    assert page.status_code == 200
    assert page.text.count('class="card"') == 5
    assert "Top 5 by distance metric" in page.text
    for metric in ("cosine", "euclidean", "manhattan"):
        assert f"<h3>{metric} <span" in page.text
    snippet = 'src="http://testserver/widget.js" data-shop="alpha" data-product-id="a-pants-3"'
    assert snippet in page.text.replace("&lt;", "<").replace("&gt;", ">").replace("&#34;", '"')
    # Search: an exact id or title jumps to the product, a substring lists matches.
    by_id = client.get("/browse/alpha?q=a-hat-2", follow_redirects=False)
    assert by_id.headers["location"] == "/browse/alpha?id=a-hat-2"
    by_title = client.get("/browse/alpha?q=alpha hat number 4", follow_redirects=False)
    assert by_title.headers["location"] == "/browse/alpha?id=a-hat-4"
    assert client.get("/browse/alpha?q=pants").text.count('class="card"') == 5
    missing = client.get("/browse/alpha?id=nope")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "unknown product" in missing.text
    # Upload form: a plain multipart POST, no JavaScript.
    photo = Path(shops.products["alpha"][4].images[0]).read_bytes()
    upload = client.post("/browse/alpha/search-image", files={"image": ("p.jpg", photo)})
    assert upload.status_code == 200
    assert "data:image/jpeg;base64," in upload.text
    assert upload.text.count('class="card"') == 12
    assert f'?id={shops.products["alpha"][4].id}"' in upload.text
    bad = client.post("/browse/alpha/search-image", files={"image": ("p.jpg", b"nope")})
    assert bad.status_code == 415 and bad.headers["content-type"].startswith("text/html")


def test_browse_escapes_catalog_text(client: TestClient) -> None:
    page = client.get("/browse/alpha", params={"q": "<script>alert(1)</script>"})
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text


def test_catalog_links_must_be_http(shops: Shops, tmp_path: Path) -> None:
    from lookalike.catalog.models import Product
    from lookalike.pipeline import build_workspace
    from lookalike.serve.app import create_app
    from tests.serve.conftest import QUIET, make_settings

    source = shops.products["alpha"][:3]
    products = [
        Product(id=p.id, title=p.title, images=p.images, url="javascript:alert(1)") for p in source
    ]
    build_workspace(tmp_path / "sneaky", products, QUIET)
    app = create_app([tmp_path / "sneaky"], settings=make_settings(tmp_path))
    try:
        with TestClient(app) as client:
            page = client.get(f"/browse/sneaky?id={source[0].id}").text
            widget = client.get(f"/v1/shops/sneaky/widget?product_id={source[0].id}").text
    finally:
        app.state.lookalike.close()
    assert "javascript:" not in page and "javascript:" not in widget
    assert widget.count("/browse/sneaky?id=") == 2  # links fall back to the browse page
