"""The build writes the chosen index, its recall and its compression into report and manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lookalike.errors import ConfigError
from lookalike.index import HnswIndex, load_index
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.filters import DEFAULT_NEAR_DUPLICATE
from lookalike.recommend.topk import Neighbors, compute_neighbors
from lookalike.workspace import Workspace
from tests.test_cli import run


@pytest.fixture(scope="module")
def hnsw_shop(photo_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("ws") / "shop")
    report = build_workspace(ws, photo_folder, BuildOptions(index="hnsw", progress=False, k=10))
    assert report.status == "ok", report.failures
    return ws


@pytest.mark.slow
def test_build_with_hnsw_saves_index_and_recall(hnsw_shop: Workspace) -> None:
    report = json.loads(hnsw_shop.report_path.read_text())
    info = report["index"]
    assert info["kind"] == "hnsw" and info["count"] == 40
    assert info["params"]["m"] == 32
    assert info["recall_sample"] == 40 and 0.9 <= info["recall_at_10"] <= 1.0
    assert info["index_bytes"] > 0 and info["bytes_saved"] == 0
    manifest = hnsw_shop.manifest()
    assert manifest["index"] == "hnsw"
    assert manifest["index_recall_at_10"] == info["recall_at_10"]
    index = load_index(hnsw_shop.index_dir)
    assert isinstance(index, HnswIndex) and len(index) == 40
    vectors = hnsw_shop.product_vectors.load()
    _, ids = index.search(np.asarray(vectors.vectors[:3]), 1)
    assert [row[0] for row in ids] == vectors.ids[:3]
    # 40 products is far below the ANN threshold: the stored table stays exact
    table = Neighbors.load(hnsw_shop.neighbors_dir, vectors.ids)
    exact = compute_neighbors(vectors, 10, near_duplicate=DEFAULT_NEAR_DUPLICATE)
    np.testing.assert_array_equal(np.asarray(table.rows), exact.rows)


@pytest.mark.slow
def test_cli_rebuild_with_pca_and_int8_reports_memory_and_recall(hnsw_shop: Workspace) -> None:
    catalog = hnsw_shop.manifest()["catalog"]
    result = run(
        "build", str(hnsw_shop.root), "--catalog", catalog,
        "--index", "exact", "--pca", "32", "--quantize", "int8",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "index recall@10 vs exact" in result.stdout
    info = json.loads(hnsw_shop.report_path.read_text())["index"]
    assert info["kind"] == "exact" and info["pca"] == 32 and info["quantize"] == "int8"
    assert info["float32_bytes"] == 40 * 1280 * 4
    assert info["stored_vector_bytes"] == 40 * 32  # 160x smaller
    assert info["recall_at_10"] >= 0.7  # 32 dims from 40 products: a lossy but useful index
    assert hnsw_shop.manifest()["index_compression"] == {"pca": 32, "quantize": "int8"}
    assert len(load_index(hnsw_shop.index_dir)) == 40
    bad = run("build", str(hnsw_shop.root), "--catalog", catalog, "--index", "annoy")
    assert bad.returncode == 2 and "index must be one of" in bad.stderr  # a usage error
    assert "Traceback" not in bad.stderr


def test_build_options_validate_index_settings() -> None:
    with pytest.raises(ConfigError):
        BuildOptions(index="kdtree")
    with pytest.raises(ConfigError):
        BuildOptions(pca=0)
    with pytest.raises(ConfigError):
        BuildOptions(quantize="int4")


def test_recommender_searches_the_saved_index(photo_folder: Path, tmp_path: Path) -> None:
    """Queries that need a search (filters, k beyond the table) go through the built index."""
    from lookalike.recommend.filters import Filters
    from lookalike.recommend.similar import Recommender

    ws = tmp_path / "shop"
    build_workspace(ws, photo_folder, BuildOptions(index="hnsw", progress=False, k=5))
    with Recommender(ws) as rec:
        assert isinstance(rec.index, HnswIndex)
        pid = rec.store.ids()[0]
        table = [r.product.id for r in rec.similar(pid, 5)]
        searched = rec.similar(pid, 8, filters=Filters(category="any"))
        assert [r.product.id for r in searched][:5] == table
