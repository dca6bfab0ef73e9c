"""Against a real uvicorn server on 127.0.0.1: image search by URL (fetched from another local
server) and reloads under load with zero failed requests."""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from lookalike.pipeline import build_workspace
from lookalike.serve.app import create_app
from tests.serve.conftest import ADMIN_KEY, QUIET, LiveServer, Shops, StaticServer, make_settings


@pytest.fixture(scope="module")
def image_server(shops: Shops) -> StaticServer:
    photo = Path(shops.products["alpha"][2].images[0]).read_bytes()
    routes = {
        "/dress.jpg": (200, "image/jpeg", photo),
        "/page.html": (200, "text/html", b"<html>not an image</html>"),
        "/huge.jpg": (200, "image/jpeg", b"\xff" * (3 * 2**20)),
        "/broken.jpg": (500, "text/plain", b"oops"),
    }
    with StaticServer(routes) as server:
        yield server


def test_search_by_image_url(shops: Shops, image_server: StaticServer, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, allow_private=True, fetch_timeout=5.0)
    app = create_app([shops.alpha, shops.beta], settings=settings)
    try:
        with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=30) as client:
            url = f"{image_server.url}/dress.jpg"
            by_json = client.post("/v1/shops/alpha/search?k=3", json={"url": url})
            assert by_json.status_code == 200, by_json.text
            assert by_json.json()["results"][0]["id"] == shops.products["alpha"][2].id
            by_form = client.post("/v1/shops/alpha/search?k=3", data={"url": url})
            assert [r["id"] for r in by_form.json()["results"]] == [
                r["id"] for r in by_json.json()["results"]
            ]
            expected = {
                "/page.html": 415,
                "/huge.jpg": 413,
                "/missing.jpg": 502,
                "/broken.jpg": 502,
            }
            for path, status in expected.items():
                response = client.post(
                    "/v1/shops/alpha/search", json={"url": f"{image_server.url}{path}"}
                )
                assert response.status_code == status, (path, response.text)
    finally:
        app.state.lookalike.close()


def test_private_addresses_are_refused_by_default(
    shops: Shops, image_server: StaticServer, tmp_path: Path
) -> None:
    app = create_app([shops.alpha], settings=make_settings(tmp_path))
    try:
        with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=30) as client:
            response = client.post(
                "/v1/shops/alpha/search", json={"url": f"{image_server.url}/dress.jpg"}
            )
            assert response.status_code == 422
            assert response.json()["reason"] == "refused_address"
    finally:
        app.state.lookalike.close()


@pytest.mark.slow
def test_reload_under_load_fails_no_request(shops: Shops, tmp_path: Path) -> None:
    """Clients hammer the shop while it is rebuilt and reloaded three times."""
    products = list(shops.products["alpha"])
    stable = [p.id for p in products[:10]]  # present in every version of the catalog
    workspace = tmp_path / "gamma"
    build_workspace(workspace, products[:12], QUIET)
    app = create_app([workspace], settings=make_settings(tmp_path))
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    stop = threading.Event()

    def client_loop(worker: int) -> None:
        with httpx.Client(base_url=live.url, timeout=30) as client:
            i = 0
            deadline = time.monotonic() + 60  # bounded even if the main thread stalls
            while not stop.is_set() and time.monotonic() < deadline:
                pid = stable[(worker + i) % len(stable)]
                i += 1
                path = (
                    f"/v1/shops/gamma/products/{pid}/similar?k=4"
                    if i % 3
                    else f"/v1/shops/gamma/products/{pid}/similar?k=11"  # index path
                )
                try:
                    response = client.get(path)
                except httpx.HTTPError as exc:
                    failures.append(f"{path}: {exc!r}")
                    continue
                outcomes[str(response.status_code)] += 1
                if response.status_code != 200 or not response.json()["results"]:
                    failures.append(f"{path}: {response.status_code} {response.text[:200]}")

    try:
        with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=60) as admin:
            workers = [threading.Thread(target=client_loop, args=(w,)) for w in range(3)]
            for worker in workers:
                worker.start()
            for version in range(3):
                # Each version drops and adds products, so the index really changes.
                catalog = products[:10] + products[10 + version : 13 + version]
                build_workspace(workspace, catalog, QUIET)
                response = admin.post("/v1/shops/gamma/reload", headers={"X-API-Key": ADMIN_KEY})
                assert response.status_code == 200, response.text
                assert response.json()["vectors"] == 13
                time.sleep(0.2)
            stop.set()
            for worker in workers:
                worker.join()
            final = admin.get("/v1/shops/gamma/products?page_size=100").json()["items"]
            assert {p["id"] for p in final} == {p.id for p in products[:10] + products[12:15]}
            last = admin.get(f"/v1/shops/gamma/products/{stable[0]}/similar?k=12").json()
            assert {r["id"] for r in last["results"]} <= {p["id"] for p in final}
    finally:
        stop.set()
        app.state.lookalike.close()
    assert failures == []
    assert outcomes["200"] > 30, outcomes
    shutil.rmtree(workspace)
