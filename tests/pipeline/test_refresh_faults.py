"""Refresh faults over real HTTP on 127.0.0.1: a 403 or 404 wave, a drip server, a dead host."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from lookalike.catalog.http import FetchSettings
from lookalike.errors import PublishError
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.similar import Recommender
from lookalike.workspace import Workspace
from tests.pipeline.conftest import Cdn, colour_jpeg, tiny, write_csv

FAST = FetchSettings(retries=0, backoff=0.0, allow_private=True, timeout=5.0)
OPTIONS = BuildOptions(k=4, titles=False, near_duplicate=None, allow_private=True, fetch=FAST)


def answers(ws: Workspace) -> dict[str, list[str]]:
    with Recommender(ws) as rec:
        return {pid: [r.product.id for r in rec.similar(pid, 4)] for pid in rec.vectors.ids}


def url_catalog(path: Path, cdn: Cdn, n: int, host: str = "") -> Path:
    rows = []
    for i in range(n):
        cdn.files[f"p{i}.jpg"] = colour_jpeg(i)
        url = cdn.url(f"p{i}.jpg").replace("127.0.0.1", host) if host else cdn.url(f"p{i}.jpg")
        rows.append({"id": f"p{i}", "title": f"T{i}", "image": url})
    return write_csv(path, rows)


@pytest.mark.parametrize("wave", ["403", "404"])
def test_an_error_wave_keeps_the_shop_within_the_grace(tmp_path: Path, cdn: Cdn, wave: str) -> None:
    ws = Workspace(tmp_path / "shop")
    catalog = url_catalog(tmp_path / "catalog.csv", cdn, 8)
    build_workspace(ws, catalog, OPTIONS, embedder_factory=tiny)
    before, cached = answers(ws), sorted(ws.images_dir.glob("*/*.bin"))
    cdn.mode = wave
    report = build_workspace(ws, catalog, OPTIONS, embedder_factory=tiny)
    assert report.vectors == 8 and report.downloads["stale"] == 8
    assert {s["reason"].split(":")[0] for s in report.stale} == {f"http_{wave}"}
    assert answers(ws) == before and sorted(ws.images_dir.glob("*/*.bin")) == cached
    # past the grace the images are dropped: no vectors, so nothing is published
    generation = ws.current_id()
    with pytest.raises(PublishError, match=r"no product got a vector \(0 of 8\)"):
        build_workspace(ws, catalog, replace(OPTIONS, stale_grace_days=0), embedder_factory=tiny)
    assert ws.current_id() == generation and answers(ws) == before
    assert sorted(ws.images_dir.glob("*/*.bin")) == cached  # the cache is not emptied


def test_a_drip_server_is_bounded_by_the_deadline(tmp_path: Path, cdn: Cdn) -> None:
    ws = Workspace(tmp_path / "shop")
    catalog = url_catalog(tmp_path / "catalog.csv", cdn, 3)
    cdn.mode, cdn.drip_every = "drip", 0.2
    fetch = replace(FAST, deadline=1.0, retries=3)
    with pytest.raises(PublishError):
        build_workspace(ws, catalog, replace(OPTIONS, fetch=fetch), embedder_factory=tiny)
    report = (ws.report_path).read_text()
    assert "1 s deadline" in report and '"timeout"' in report
    # one attempt per image, never the 4 x (bytes x 0.2 s) the drip would take
    assert all(cdn.hits[f"p{i}.jpg"] == 1 for i in range(3))


def test_a_failing_host_is_skipped_for_the_run(tmp_path: Path, cdn: Cdn) -> None:
    ws = Workspace(tmp_path / "shop")
    good = url_catalog(tmp_path / "good.csv", cdn, 4, host="localhost")
    rows = [line.split(",") for line in good.read_text().splitlines()[1:]]
    bad = [{"id": f"x{i}", "title": "gone", "image": cdn.url(f"gone{i}.jpg")} for i in range(30)]
    good_rows = [{"id": r[0], "title": r[1], "image": r[2]} for r in rows]
    catalog = write_csv(tmp_path / "catalog.csv", good_rows + bad)
    fetch = replace(FAST, concurrency=1, per_host=1, host_failures=5)
    report = build_workspace(ws, catalog, replace(OPTIONS, fetch=fetch), embedder_factory=tiny)
    assert report.vectors == 4
    # 5 failures in a row, then the rest is skipped (a few were already in flight)
    entry = report.hosts["127.0.0.1"]
    tried = sum(cdn.hits[f"gone{i}.jpg"] for i in range(30))
    assert list(report.hosts) == ["127.0.0.1"] and entry["failed_in_a_row"] >= 5
    assert 5 <= tried <= 9 and tried + entry["skipped"] == 30
    reasons = {f["reason"] for f in report.failures}
    assert reasons == {"http_404", "host_skipped"}
