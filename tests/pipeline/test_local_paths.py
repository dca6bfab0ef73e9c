"""Local image paths stay inside the catalog's folder; the image route serves only the cache."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from PIL import Image

from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.serve.app import create_app
from lookalike.serve.settings import ServeSettings
from lookalike.workspace import Workspace
from tests.pipeline.conftest import Cdn, colour_jpeg, tiny, write_csv
from tests.serve.conftest import LiveServer

OPTIONS = BuildOptions(k=2, titles=False, near_duplicate=None)


def png(i: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (10 * i, 200, 30)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture()
def shop(tmp_path: Path) -> tuple[Workspace, Path, Path]:
    feed, outside = tmp_path / "feed", tmp_path / "outside"
    (feed / "img").mkdir(parents=True)
    outside.mkdir()
    for i in range(3):
        (feed / "img" / f"p{i}.jpg").write_bytes(colour_jpeg(i))
    (feed / "img" / "p3.png").write_bytes(png(3))
    (outside / "secret.jpg").write_bytes(colour_jpeg(7))
    rows = [
        {"id": "p0", "image": "img/p0.jpg"},
        {"id": "p1", "image": str(feed / "img" / "p1.jpg")},  # absolute, inside: fine
        {"id": "p2", "image": "img/p2.jpg"},
        {"id": "p3", "image": "img/p3.png"},
        {"id": "etc", "image": "/etc/hostname"},
        {"id": "dotdot", "image": "../outside/secret.jpg"},
        {"id": "fileurl", "image": f"file://{feed / 'img' / 'p0.jpg'}"},
        {"id": "events", "image": str(tmp_path / "events.sqlite")},
    ]
    (tmp_path / "events.sqlite").write_bytes(b"SQLite format 3\x00")
    catalog = write_csv(feed / "catalog.csv", [{"title": r["id"], **r} for r in rows])
    return Workspace(tmp_path / "shop"), catalog, outside


def test_a_symlink_loop_is_a_refused_image_not_a_traceback(tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "loop-a.jpg").symlink_to("loop-b.jpg")
    (feed / "loop-b.jpg").symlink_to("loop-a.jpg")
    for i in range(2):
        (feed / f"p{i}.jpg").write_bytes(colour_jpeg(i))
    rows = [{"id": "loop", "image": "loop-a.jpg"}, {"id": "p0", "image": "p0.jpg"}]
    catalog = write_csv(feed / "catalog.csv", [*rows, {"id": "p1", "image": "p1.jpg"}])
    report = build_workspace(tmp_path / "shop", catalog, OPTIONS, embedder_factory=tiny)
    assert report.vectors == 2
    [failure] = report.failures
    assert failure["products"] == ["loop"] and failure["reason"] == "local_path_refused"
    assert "loop" in failure["error"].lower()


def test_symlink_loops_given_as_folders_are_one_line_errors(tmp_path: Path) -> None:
    from lookalike.errors import ConfigError
    from lookalike.workspace import resolve_workspace

    (tmp_path / "loop-a").symlink_to("loop-b")
    (tmp_path / "loop-b").symlink_to("loop-a")
    (tmp_path / "p0.jpg").write_bytes(colour_jpeg(0))
    catalog = write_csv(tmp_path / "catalog.csv", [{"id": "p0", "image": "p0.jpg"}])
    with pytest.raises(ConfigError, match="cannot follow the path"):
        resolve_workspace(tmp_path / "loop-a")
    looped = replace(OPTIONS, allow_local_paths=tmp_path / "loop-a")
    with pytest.raises(ConfigError, match="cannot follow the path"):
        build_workspace(tmp_path / "shop", catalog, looped, embedder_factory=tiny)


def test_paths_outside_the_catalog_folder_are_refused(shop: tuple[Workspace, Path, Path]) -> None:
    ws, catalog, outside = shop
    report = build_workspace(ws, catalog, OPTIONS, embedder_factory=tiny)
    refused = {f["products"][0]: f["error"] for f in report.failures}
    assert set(refused) == {"etc", "dotdot", "fileurl", "events"}
    assert {f["reason"] for f in report.failures} == {"local_path_refused"}
    assert "outside the catalog's folder" in refused["etc"] and "file:" in refused["fileurl"]
    assert report.vectors == 4
    # --allow-local-paths DIR lets one more folder in
    again = build_workspace(
        ws, catalog, replace(OPTIONS, allow_local_paths=outside), embedder_factory=tiny
    )
    assert {f["products"][0] for f in again.failures} == {"etc", "fileurl", "events"}


def test_a_catalog_fetched_by_url_may_reference_only_http(tmp_path: Path, cdn: Cdn) -> None:
    (tmp_path / "p.jpg").write_bytes(colour_jpeg(1))
    cdn.files["a.jpg"], cdn.files["b.jpg"] = colour_jpeg(2), colour_jpeg(3)
    rows = [
        {"id": "a", "title": "a", "image": cdn.url("a.jpg")},
        {"id": "b", "title": "b", "image": cdn.url("b.jpg")},
        {"id": "local", "title": "l", "image": str(tmp_path / "p.jpg")},
        {"id": "rel", "title": "r", "image": "p.jpg"},
        {"id": "fileurl", "title": "f", "image": f"file://{tmp_path / 'p.jpg'}"},
    ]
    cdn.files["catalog.csv"] = write_csv(tmp_path / "c.csv", rows).read_bytes()
    options = replace(OPTIONS, allow_private=True)
    feed = cdn.url("catalog.csv")
    report = build_workspace(tmp_path / "shop", feed, options, embedder_factory=tiny)
    assert report.vectors == 2
    failed = {f["products"][0]: f for f in report.failures}
    assert set(failed) == {"local", "rel", "fileurl"}
    # paths resolve against the feed's URL (asked of its server, never read from this disk)
    for pid in ("local", "rel"):
        assert failed[pid]["source"].startswith(cdn.base) and failed[pid]["reason"] == "http_404"
    assert failed["fileurl"]["reason"] == "local_path_refused"


def test_the_image_route_serves_only_decoded_cached_images(
    shop: tuple[Workspace, Path, Path], tmp_path: Path
) -> None:
    ws, catalog, _ = shop
    build_workspace(ws, catalog, OPTIONS, embedder_factory=tiny)
    (catalog.parent / "img" / "p0.jpg").write_bytes(b"changed after the build")
    app = create_app([ws.root], settings=ServeSettings(events_db=tmp_path / "ev.sqlite"))
    try:
        with LiveServer(app) as live, httpx.Client(base_url=live.url) as client:
            base = "/v1/shops/shop/products"
            ok = client.get(f"{base}/p0/image")
            assert ok.status_code == 200 and ok.headers["content-type"] == "image/jpeg"
            assert ok.content == colour_jpeg(0)  # the decoded copy, not today's file
            assert client.get(f"{base}/p3/image").headers["content-type"] == "image/png"
            for pid in ("etc", "dotdot", "fileurl", "events"):
                response = client.get(f"{base}/{pid}/image")
                assert response.status_code == 404, (pid, response.text)
                assert b"SQLite" not in response.content
    finally:
        app.state.lookalike.close()
