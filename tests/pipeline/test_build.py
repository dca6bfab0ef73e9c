"""End to end on real photos: build, query by id and by new image, bad images, rebuilds, export."""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import ConfigError, NotFoundError, WorkspaceError
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.export import export_recommendations
from lookalike.recommend.similar import Recommender
from lookalike.workspace import Workspace

QUIET = BuildOptions(progress=False, k=10)


def category_of(rec: Recommender, pid: str) -> str:
    return rec.product(pid).category


@pytest.fixture(scope="module")
def built(photo_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("ws") / "shop")
    report = build_workspace(ws, photo_folder, QUIET)
    assert report.status == "ok", report.failures
    return ws


def test_build_from_folder_of_real_photos(built: Workspace) -> None:
    manifest = built.manifest()
    assert manifest["model"] == "lite0"
    assert manifest["dim"] == 1280
    assert manifest["count"] == manifest["products"] == 40
    vectors = built.product_vectors.load()
    np.testing.assert_allclose(np.linalg.norm(vectors.vectors, axis=1), 1.0, rtol=1e-4)
    report = json.loads(built.report_path.read_text())
    assert report["images"] == {"total": 40, "ok": 40, "failed": 0, "embedded": 40, "cached": 0}


def test_similar_by_id_excludes_self_and_mostly_shares_category(built: Workspace) -> None:
    with Recommender(built) as rec:
        same = total = 0
        for pid in rec.store.ids():
            results = rec.similar(pid, 5)
            assert len(results) == 5
            assert pid not in {r.product.id for r in results}
            scores = [r.score for r in results]
            assert scores == sorted(scores, reverse=True)
            same += sum(r.product.category == category_of(rec, pid) for r in results)
            total += len(results)
        # 5 categories: random would give ~0.18; ImageNet features do far better.
        assert same / total > 0.5
        with pytest.raises(NotFoundError):
            rec.similar("no such product")
        # asking for more than the stored K falls back to a search
        assert len(rec.similar(rec.store.ids()[0], 25)) == 25


def test_near_duplicate_photo_comes_back_top1(built: Workspace, photo_folder: Path) -> None:
    original = sorted((photo_folder / "shoes").glob("*.jpg"))[3]
    image = Image.open(original).convert("RGB")
    image = image.resize((image.width * 2 // 3, image.height * 2 // 3))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=55)
    with Recommender(built) as rec:
        results = rec.similar_to_image(buffer.getvalue(), 5)
    assert results[0].product.id == original.stem
    assert results[0].score > 0.9
    assert results[1].score < results[0].score


def test_export_jsonl_and_csv(built: Workspace, tmp_path: Path) -> None:
    with Recommender(built) as rec:
        n = export_recommendations(rec, tmp_path / "top.jsonl", fmt="jsonl", k=3)
        export_recommendations(rec, tmp_path / "top.csv", fmt="csv", k=3)
        ids = rec.store.ids()
        with pytest.raises(ConfigError):
            export_recommendations(rec, tmp_path / "x", fmt="xml", k=3)
    assert n == 40
    lines = [json.loads(line) for line in (tmp_path / "top.jsonl").read_text().splitlines()]
    assert [line["id"] for line in lines] == ids
    assert all(len(line["similar"]) == 3 for line in lines)
    assert set(lines[0]["similar"][0]) == {"id", "score"}
    rows = list(csv.DictReader((tmp_path / "top.csv").open()))
    assert len(rows) == 120
    assert rows[0].keys() == {"id", "rank", "similar_id", "score"}
    assert [r["rank"] for r in rows[:3]] == ["1", "2", "3"]


def test_rebuild_is_idempotent_and_embeds_nothing(built: Workspace, photo_folder: Path) -> None:
    before = Recommender(built)
    table_before = np.array(before.neighbors.rows)
    before.close()
    report = build_workspace(built, photo_folder, QUIET)
    assert report.images["embedded"] == 0
    assert report.images["cached"] == 40
    assert report.products["unchanged"] == 40
    with Recommender(built) as after:
        np.testing.assert_array_equal(np.array(after.neighbors.rows), table_before)


def bad_images(folder: Path) -> dict[str, str]:
    """Write every kind of unusable image; returns file name -> expected failure reason."""
    folder.mkdir(parents=True, exist_ok=True)
    good = io.BytesIO()
    Image.new("RGB", (300, 300), (10, 200, 10)).save(good, "JPEG")
    (folder / "truncated.jpg").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    (folder / "html.jpg").write_bytes(b"<!doctype html><html><body>404</body></html>")
    (folder / "empty.jpg").write_bytes(b"")
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")
    (folder / "bomb.png").write_bytes(bomb.getvalue())
    return {
        "truncated.jpg": "truncated",
        "html.jpg": "not_an_image",
        "empty.jpg": "not_an_image",
        "bomb.png": "too_large",
        "missing.jpg": "missing_file",
    }


def test_bad_images_are_reported_and_products_kept(photo_folder: Path, tmp_path: Path) -> None:
    expected = bad_images(tmp_path / "bad")
    good = sorted((photo_folder / "hat").glob("*.jpg"))[:4]
    rows = [
        {"id": f"good {i} ✓", "title": f"Hat {i}", "image": str(p), "category": "hat"}
        for i, p in enumerate(good)
    ]
    rows += [
        {"id": f"bad-{name}", "title": name, "image": str(tmp_path / "bad" / name), "category": "x"}
        for name in expected
    ]
    rows.append(
        {
            "id": "mixed",
            "title": "one bad one good",
            "category": "hat",
            "image": f"{tmp_path / 'bad' / 'html.jpg'}|{good[0]}",
        }
    )
    catalog = tmp_path / "catalog.csv"
    with catalog.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "title", "image", "category"])
        writer.writeheader()
        writer.writerows(rows)
    ws = Workspace(tmp_path / "ws")
    options = replace(QUIET, allow_local_paths=photo_folder)  # the good photos live there
    report = build_workspace(ws, catalog, options)
    assert report.status == "partial"
    assert report.products["total"] == len(rows)
    reasons = {Path(f["source"]).name: f["reason"] for f in report.failures}
    assert reasons == expected
    with Recommender(ws) as rec:
        assert rec.product("bad-html.jpg").title == "html.jpg"  # kept in the catalog
        assert rec.similar("bad-html.jpg") == []  # but it has no vector
        assert len(rec.similar("mixed", 3)) == 3  # the good image still counts
        assert "good 0 ✓" in {r.product.id for r in rec.similar("good 1 ✓", 4)}
    # a second build does not try to decode the same bad bytes again
    again = build_workspace(ws, catalog, options)
    assert again.images["embedded"] == 0
    assert {Path(f["source"]).name: f["reason"] for f in again.failures} == expected


def test_catalog_changes_flow_into_recommendations(photo_folder: Path, tmp_path: Path) -> None:
    shop = tmp_path / "photos"
    shutil.copytree(photo_folder, shop)
    ws = Workspace(tmp_path / "ws")
    build_workspace(ws, shop, QUIET)
    removed = sorted((shop / "dress").glob("*.jpg"))[0]
    removed.unlink()
    report = build_workspace(ws, shop, QUIET)
    assert report.products["removed"] == 1
    assert report.images["embedded"] == 0
    with Recommender(ws) as rec:
        assert removed.stem not in rec.vectors
        for pid in rec.store.ids():
            assert removed.stem not in {r.product.id for r in rec.similar(pid, 10)}


def test_unbuilt_workspace_and_bad_options(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="run `lookalike build"):
        Recommender(tmp_path / "never-built")
    with pytest.raises(ConfigError):
        BuildOptions(k=0)
