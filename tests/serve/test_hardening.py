"""Input limits and odd inputs: body and JSON-depth limits, quoted input cut to 200 chars,
unknown methods in metrics, ids with reserved characters in every route, the decode pool's
503, the A/B page's login form and its empty report."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image
from starlette.testclient import TestClient

from lookalike.ab.experiments import Variant
from lookalike.ab.store import ExperimentStore
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.serve.app import create_app
from lookalike.serve.decoding import BusyError, DecodePool
from lookalike.serve.settings import ServeSettings

ADMIN = "hardening-admin"
# Ids a folder reader or a feed really produces: slashes, spaces, %, ?, #, &, +, unicode.
ODD_IDS = ["shoes/red.jpg", "a b/c%2Fd", "100% cotton?#&+=", "платье/синее", "x/similar"]


@pytest.fixture(scope="module")
def odd_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("odd")
    rows = []
    for i, pid in enumerate(ODD_IDS):
        path = root / f"img{i}.png"
        Image.new("RGB", (48, 48), (40 * i, 200 - 30 * i, 90)).save(path)
        rows.append({"id": pid, "title": f"Odd {i}", "image": str(path), "category": "odd"})
    catalog = root / "catalog.csv"
    with catalog.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    ws = root / "oddshop"
    report = build_workspace(ws, catalog, BuildOptions(model="histogram", k=3, progress=False))
    assert report.status == "ok", report.failures
    return ws


@pytest.fixture(scope="module")
def client(odd_shop: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = ServeSettings(
        admin_key=ADMIN,
        events_db=tmp_path_factory.mktemp("ev") / "events.sqlite",
        max_upload_bytes=256 * 1024,
        max_body_bytes=8 * 1024,
        require_event_token=False,
    )
    app = create_app([odd_shop], settings=settings)
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize("pid", ODD_IDS)
def test_ids_with_reserved_characters_work_in_every_route(client: TestClient, pid: str) -> None:
    encoded = quote(pid, safe="")
    base = f"/v1/shops/oddshop/products/{encoded}"
    product = client.get(base)
    assert product.status_code == 200, product.text
    assert product.json()["id"] == pid
    similar = client.get(f"{base}/similar?k=2")
    assert similar.status_code == 200 and similar.json()["query"]["id"] == pid
    assert pid not in [r["id"] for r in similar.json()["results"]]
    image = client.get(base + "/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    # The image URL the API hands out round-trips to the same product.
    url = product.json()["image"]
    assert client.get(url.replace("http://testserver", "")).content == image.content
    page = client.get(f"/browse/oddshop?id={encoded}")
    assert page.status_code == 200


def test_an_id_is_not_confused_with_a_longer_route(client: TestClient) -> None:
    # "x/similar" is a product id: encoded, it is that product, not the "similar" route of "x".
    response = client.get("/v1/shops/oddshop/products/x%2Fsimilar")
    assert response.status_code == 200 and response.json()["id"] == "x/similar"
    assert client.get("/v1/shops/oddshop/products/x/similar").status_code == 404


@pytest.mark.parametrize("path", ["/v1/shops/oddshop/events", "/v1/shops/oddshop/search"])
def test_deep_json_is_a_422_not_a_500(client: TestClient, path: str) -> None:
    deep = "[" * 5000 + "]" * 5000  # 10 KB: python's json would raise RecursionError
    body = deep if path.endswith("events") else '{"url": ' + deep + "}"
    response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (413, 422), response.text
    assert response.headers["content-type"] == "application/json"
    small_deep = "[" * 40 + "]" * 40  # under the byte limit, over the depth limit
    response = client.post(
        path, content='{"url": ' + small_deep + "}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422 and "nested" in response.json()["detail"]


def test_body_limit_with_and_without_content_length(client: TestClient) -> None:
    big = b"x" * (9 * 1024)
    declared = client.post("/v1/shops/oddshop/events", content=big)
    assert declared.status_code == 413 and declared.json()["reason"] == "too_large"

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"y" * 1024

    streamed = client.post("/v1/shops/oddshop/events", content=chunks())
    assert streamed.status_code == 413
    # Uploads have their own, larger limit.
    upload = client.post(
        "/v1/shops/oddshop/search", files={"image": ("a.png", b"z" * (300 * 1024), "image/png")}
    )
    assert upload.status_code == 413


def test_errors_quote_at_most_200_characters_of_the_input(client: TestClient) -> None:
    long_url = "http://" + "a" * 5000 + ".example/x.jpg"
    response = client.post("/v1/shops/oddshop/search", json={"url": "ftp" + long_url[4:]})
    assert response.status_code == 422
    assert len(response.text) < 700 and "5000 characters" not in response.text
    response = client.get("/v1/shops/oddshop/products?page_size=" + "9" * 3000)
    assert response.status_code == 422 and len(response.text) < 1000
    response = client.get("/v1/shops/oddshop/similar?title=" + "t" * 5000)
    assert response.status_code == 422 and len(response.text) < 1000


def test_unknown_methods_share_one_metrics_label(client: TestClient) -> None:
    for method in ("FOO", "BAR", "PROPFIND", "X" * 50):
        client.request(method, "/v1/shops/oddshop/products")
    text = client.get("/metrics").text
    methods = set(re.findall(r'method="([^"]+)"', text))
    assert "OTHER" in methods and methods <= {"GET", "POST", "OTHER", "HEAD", "OPTIONS"}


def test_decode_pool_answers_busy_beyond_its_queue() -> None:
    pool = DecodePool(workers=1, queue=1, retry_after=3)
    gate = threading.Event()

    async def scenario() -> None:
        first = asyncio.ensure_future(pool.run(gate.wait, 10))
        second = asyncio.ensure_future(pool.run(lambda: 2))
        await asyncio.sleep(0.05)
        assert pool.pending == 2
        with pytest.raises(BusyError) as info:
            await pool.run(lambda: 3)
        assert info.value.retry_after == 3
        gate.set()
        assert await first is True and await second == 2
        assert pool.pending == 0
        assert await pool.run(lambda: 4) == 4  # room again

    try:
        # A thread of its own: a session-wide browser fixture may hold this thread's loop.
        with ThreadPoolExecutor(1) as runner:
            runner.submit(lambda: asyncio.run(scenario())).result(30)
    finally:
        gate.set()
        pool.close()


def test_busy_search_is_a_503_with_retry_after(odd_shop: Path, tmp_path: Path) -> None:
    settings = ServeSettings(events_db=tmp_path / "e.sqlite", decode_workers=1, decode_queue=0)
    app = create_app([odd_shop], settings=settings)
    gate = threading.Event()
    state = app.state.lookalike
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buffer, format="PNG")
    with TestClient(app) as client:
        blocker = state.decoder.submit(gate.wait, 10)  # the only slot
        try:
            response = client.post(
                "/v1/shops/oddshop/search", files={"image": ("a.png", buffer.getvalue())}
            )
        finally:
            gate.set()
            blocker.result(5)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "2"
        again = client.post(
            "/v1/shops/oddshop/search", files={"image": ("a.png", buffer.getvalue())}
        )
        assert again.status_code == 200


def test_ab_page_login_form_sets_a_session_cookie(client: TestClient, odd_shop: Path) -> None:
    ExperimentStore(odd_shop).start("exp", (Variant("image", 1), Variant("attributes", 1)))
    page = client.get("/v1/shops/oddshop/ab")
    assert page.status_code == 401 and 'type="password"' in page.text
    assert 'method="post"' in page.text and ADMIN not in page.text
    wrong = client.post("/v1/shops/oddshop/ab/login", data={"key": "nope"})
    assert wrong.status_code == 403 and "lk_ab_session" not in wrong.headers.get("set-cookie", "")
    ok = client.post("/v1/shops/oddshop/ab/login", data={"key": ADMIN}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/v1/shops/oddshop/ab"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/v1/shops/oddshop/ab" in cookie and ADMIN not in cookie
    report = client.get("/v1/shops/oddshop/ab")  # the client keeps the cookie
    assert report.status_code == 200 and 'id="variants"' in report.text
    # A running experiment with no events: a valid, empty report.
    data = client.get("/v1/shops/oddshop/ab?format=json").json()
    assert data["experiment"] == "exp"
    assert [(v["impressions"], v["clicks"]) for v in data["variants"]] == [(0, 0), (0, 0)]
    # A forged cookie is just a login form again.
    client.cookies.clear()
    client.cookies.set("lk_ab_session", "eyJ4IjoxfQ.AAAA", path="/v1/shops/oddshop/ab")
    assert client.get("/v1/shops/oddshop/ab").status_code == 401
    client.cookies.clear()
