"""A/B tests through the service: the visitor's variant picks the list in the API and the widget,
events are attributed to the variant shown, the report page, and the event log across a killed
server and under concurrent HTTP clients."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from lookalike.ab.events import EventLog
from lookalike.ab.experiments import HOLDOUT, Variant
from lookalike.ab.store import ExperimentStore
from lookalike.recommend.attributes import AttributeRecommender
from lookalike.recommend.similar import Recommender
from lookalike.serve.app import create_app
from lookalike.serve.settings import ServeSettings
from tests.conftest import REPO
from tests.serve.abshop import build_ab_shop
from tests.serve.conftest import BROWSER_UA, free_port

ADMIN = "ab-admin-key"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_ab_shop(tmp_path_factory.mktemp("absvc")).root


@pytest.fixture()
def shop(built: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(built, tmp_path / "shop"))


@pytest.fixture()
def app(shop: Path, tmp_path: Path) -> Iterator[FastAPI]:
    # Events posted here are raw (no widget token): tests/serve/test_event_limits.py covers
    # tokens and rate limits.
    settings = ServeSettings(
        admin_key=ADMIN,
        events_db=tmp_path / "events.sqlite",
        require_event_token=False,
    )
    app = create_app([shop], settings=settings)
    yield app
    app.state.lookalike.close()


@pytest.fixture()
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, headers={"User-Agent": BROWSER_UA}) as client:
        yield client


def visitor_in(store: ExperimentStore, variant: str) -> str:
    for i in range(10_000):
        assignment = store.assign(f"visitor-{i}")
        if assignment is not None and assignment.variant == variant:
            return f"visitor-{i}"
    raise AssertionError(variant)


def test_api_serves_the_visitors_variant(client: TestClient, shop: Path) -> None:
    url = "/v1/shops/shop/products/shoes-0/similar"
    plain = client.get(url, params={"visitor": "anyone", "k": 4}).json()
    assert (plain["experiment"], plain["variant"], plain["source"]) == ("", "", "precomputed")
    store = ExperimentStore(shop)
    store.start("exp", (Variant("image", 1), Variant("attributes", 1)), holdout=0.2)
    with Recommender(shop) as rec:
        expected = {
            "image": [r.product.id for r in rec.similar("shoes-0", 4)],
            "attributes": [
                r.product.id for r in AttributeRecommender(rec.store).similar("shoes-0", 4)
            ],
            HOLDOUT: [],
        }
    assert expected["image"] != expected["attributes"]
    for variant, ids in expected.items():
        visitor = visitor_in(store, variant)
        body = client.get(url, params={"visitor": visitor, "k": 4}).json()
        assert (body["experiment"], body["variant"], body["source"]) == ("exp", variant, "variant")
        assert [r["id"] for r in body["results"]] == ids
        # The widget's cookie identifies the visitor as well as the parameter.
        client.cookies.set("lk_visitor", visitor)
        assert client.get(url).json()["variant"] == variant
        client.cookies.clear()
    # No visitor id: not in the experiment.
    assert client.get(url).json()["variant"] == ""
    visitor = visitor_in(store, "attributes")
    store.set_status("exp", "paused")
    paused = client.get(url, params={"visitor": visitor}).json()
    assert (paused["experiment"], paused["variant"]) == ("", "")


def test_events_keep_only_the_variant_that_was_shown(
    client: TestClient, app: FastAPI, shop: Path
) -> None:
    store = ExperimentStore(shop)
    store.start("exp", (Variant("image", 1), Variant("attributes", 1)))
    visitor = visitor_in(store, "attributes")
    events: EventLog = app.state.lookalike.events

    def post(variant: str, event_id: str) -> None:
        body = {
            "type": "click",
            "event_id": event_id,
            "target_id": "shoes-2",
            "position": 1,
            "visitor": visitor,
            "experiment": "exp",
            "variant": variant,
        }
        assert client.post("/v1/shops/shop/events", json=body).json()["recorded"]

    post("attributes", "honest")
    post("image", "forged")  # claims a variant this visitor was not shown
    stored = {e.event_id: (e.experiment, e.variant) for e in events.iter_events()}
    assert stored == {"honest": ("exp", "attributes"), "forged": ("", "")}


def test_widget_shows_variant_and_logs_holdout_exposure(
    client: TestClient, app: FastAPI, shop: Path
) -> None:
    store = ExperimentStore(shop)
    store.start("exp", (Variant("image", 1), Variant("attributes", 1)), holdout=0.3)
    for variant in ("image", "attributes"):
        visitor = visitor_in(store, variant)
        page = client.get(f"/v1/shops/shop/widget?product_id=hats-1&visitor={visitor}").text
        assert f'data-variant="{variant}"' in page
        config = json.loads(re.search(r'id="lk-config"[^>]*>(.*?)</script>', page).group(1))
        assert (config["experiment"], config["variant"]) == ("exp", variant)
    held = visitor_in(store, HOLDOUT)
    page = client.get(f"/v1/shops/shop/widget?product_id=hats-1&visitor={held}&widget=w1")
    assert page.status_code == 200 and 'class="card"' not in page.text
    events: EventLog = app.state.lookalike.events
    (exposure,) = events.iter_events()
    assert (exposure.variant, exposure.shown, exposure.visitor) == (HOLDOUT, [], held)
    client.get(f"/v1/shops/shop/widget?product_id=hats-1&visitor={held}&widget=w1")
    assert events.count() == 1  # the same render reported twice is one exposure


def test_report_page_needs_a_key_and_counts_attributed_events(
    client: TestClient, shop: Path
) -> None:
    assert client.get("/v1/shops/shop/ab").status_code == 401
    assert client.get("/v1/shops/shop/ab", headers={"X-API-Key": "wrong"}).status_code == 403
    store = ExperimentStore(shop)
    store.start("exp", (Variant("image", 1), Variant("attributes", 1)))
    for variant, (impressions, clicks) in {"image": (3, 2), "attributes": (2, 0)}.items():
        visitor = visitor_in(store, variant)
        for i in range(impressions):
            common = {"visitor": visitor, "experiment": "exp", "variant": variant}
            client.post(
                "/v1/shops/shop/events",
                json={
                    "type": "impression",
                    "event_id": f"{variant}-i{i}",
                    "shown": ["a", "b"],
                    **common,
                },
            )
            if i < clicks:
                client.post(
                    "/v1/shops/shop/events",
                    json={
                        "type": "click",
                        "event_id": f"{variant}-c{i}",
                        "target_id": "a",
                        "position": 1,
                        **common,
                    },
                )
    key = {"X-API-Key": ADMIN}
    data = client.get("/v1/shops/shop/ab?format=json", headers=key).json()
    counts = {v["name"]: (v["impressions"], v["clicks"]) for v in data["variants"]}
    assert counts == {"image": (3, 2), "attributes": (2, 0)}
    page = client.get("/v1/shops/shop/ab", headers=key)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'data-variant="attributes"' in page.text and "data:image/png;base64," in page.text
    assert client.get("/v1/shops/shop/ab?experiment=nope", headers=key).status_code == 404


# --- a real server process: restart durability and concurrent HTTP clients -----------------


def _serve(shop: Path, port: int, events_db: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "LOOKALIKE_EVENTS_DB": str(events_db),
        "LOOKALIKE_ADMIN_KEY": ADMIN,
        "LOOKALIKE_REQUIRE_EVENT_TOKEN": "false",
        "LOOKALIKE_EVENTS_PER_VISITOR_PER_MINUTE": "100000",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "lookalike", "serve", str(shop), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the server did not start")


def _post_clicks(base: str, worker: int, n: int, visitors: list[tuple[str, str]]) -> int:
    """Post ``n`` clicks, cycling through ``(visitor, variant)``; how many were recorded."""
    ok = 0
    with httpx.Client(base_url=base, headers={"User-Agent": BROWSER_UA}) as http:
        for i in range(n):
            visitor, variant = visitors[i % len(visitors)]
            body = {
                "type": "click",
                "event_id": f"w{worker}-{i}",
                "target_id": "bags-1",
                "position": 1,
                "visitor": visitor,
                "experiment": "exp",
                "variant": variant,
            }
            ok += http.post("/v1/shops/shop/events", json=body).json()["recorded"]
    return ok


@pytest.mark.slow
def test_events_survive_a_killed_server_and_concurrent_clients(shop: Path, tmp_path: Path) -> None:
    events_db = tmp_path / "events.sqlite"
    store = ExperimentStore(shop)
    store.start("exp", (Variant("image", 1), Variant("popular", 1)))
    visitors = [(visitor_in(store, v), v) for v in ("image", "popular")]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(shop, port, events_db)
    try:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(4) as pool:
            recorded = pool.starmap(_post_clicks, [(base, w, 40, visitors) for w in range(4)])
        assert recorded == [40] * 4
        assert _post_clicks(base, 0, 5, visitors) == 0  # retries: de-duplicated by event_id
    finally:
        server.send_signal(signal.SIGKILL)  # no shutdown hook runs: only what was committed
        server.wait(30)
    server = _serve(shop, port, events_db)
    try:
        data = httpx.get(
            f"{base}/v1/shops/shop/ab?format=json", headers={"X-API-Key": ADMIN}
        ).json()
        clicks = {v["name"]: v["clicks"] for v in data["variants"]}
        assert clicks == {"image": 80, "popular": 80}  # every acknowledged click, attributed
        assert data["dropped"] == {"duplicate": 5}
        assert _post_clicks(base, 9, 3, visitors) == 3  # and it takes new events
    finally:
        server.terminate()
        server.wait(30)
    with EventLog(events_db) as log:
        assert log.count("click") == 163
