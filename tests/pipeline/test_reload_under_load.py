"""Concurrent loopback clients while the shop is rebuilt (growing, changing, shrinking) and
reloaded: every request answers 200 with exactly k results from one generation."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.serve.app import create_app
from lookalike.serve.settings import ServeSettings
from lookalike.workspace import Workspace
from tests.pipeline.conftest import colour_jpeg, tiny, write_csv
from tests.serve.conftest import ADMIN_KEY, LiveServer

OPTIONS = BuildOptions(k=10, titles=False, near_duplicate=None, allow_shrink=True)
CLIENTS = 4
STABLE = [f"p{i}" for i in range(12)]  # in every version of the catalog


def catalog(folder: Path, ids: list[int]) -> Path:
    (folder / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in ids:
        (folder / "img" / f"p{i}.jpg").write_bytes(colour_jpeg(i, n=50))
        rows.append({"id": f"p{i}", "title": f"T{i}", "image": f"img/p{i}.jpg"})
    return write_csv(folder / "catalog.csv", rows)


def test_rebuilds_and_reloads_under_load(tmp_path: Path) -> None:
    versions = [
        catalog(tmp_path / "v0", list(range(40))),
        catalog(tmp_path / "v1", [*range(30), *range(60, 70)]),  # changed
        catalog(tmp_path / "v2", list(range(15))),  # shrunk: 40 -> 15
        catalog(tmp_path / "v3", [*range(12), *range(80, 120)]),  # grown
    ]
    ws = Workspace(tmp_path / "shop")
    build_workspace(ws, versions[0], OPTIONS, embedder_factory=tiny)
    settings = ServeSettings(events_db=tmp_path / "ev.sqlite", admin_key=ADMIN_KEY)
    app = create_app([ws.root], settings=settings)
    outcomes: Counter[str] = Counter()
    problems: list[str] = []
    stop = threading.Event()

    def client(worker: int) -> None:
        deadline = time.monotonic() + 120  # bounded even if the main thread stalls
        with httpx.Client(base_url=live.url, timeout=30) as http:
            i = 0
            while not stop.is_set() and time.monotonic() < deadline and i < 3000:
                i += 1
                k = 8 if i % 2 else 12  # the stored table, and a search past it
                pid = STABLE[(worker + i) % len(STABLE)]
                try:
                    response = http.get(f"/v1/shops/shop/products/{pid}/similar?k={k}")
                except httpx.HTTPError as exc:
                    problems.append(f"{pid}: {exc!r}")
                    continue
                outcomes["requests"] += 1
                if response.status_code != 200:
                    problems.append(f"{pid}: {response.status_code} {response.text[:200]}")
                elif len(response.json()["results"]) != k:
                    outcomes["short"] += 1
                    problems.append(f"{pid} k={k}: {len(response.json()['results'])} results")

    try:
        with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=60) as admin:
            threads = [threading.Thread(target=client, args=(w,)) for w in range(CLIENTS)]
            for thread in threads:
                thread.start()
            for feed in (versions[1:] + versions[:1]) * 2:
                build_workspace(ws, feed, OPTIONS, embedder_factory=tiny)
                outcomes["rebuilds"] += 1
                time.sleep(0.1)  # served from the old generation, not yet reloaded
                reload = admin.post("/v1/shops/shop/reload", headers={"X-API-Key": ADMIN_KEY})
                assert reload.status_code == 200, reload.text
                outcomes["reloads"] += 1
            stop.set()
            for thread in threads:
                thread.join()
    finally:
        stop.set()
        app.state.lookalike.close()
    print(f"\nreload under load: {dict(outcomes)}")
    assert problems == [] and outcomes["short"] == 0
    assert outcomes["requests"] >= 50 and outcomes["reloads"] == 8
