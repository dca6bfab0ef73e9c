"""A collection written by a build is indexed before it is published: milvus-lite builds a
segment's vector index only when the collection is loaded, and a collection loaded before its
rows were inserted searches them by brute force (bench/scale.py profile: ~20x slower)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.catalog.models import Product
from lookalike.recommend.milvus import MilvusShopStore, StoreSpec
from lookalike.recommend.milvus_publish import write_generation

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def test_a_written_collection_has_its_hnsw_index_built(milvus_lite: None, tmp_path: Path) -> None:
    from milvus_lite.server_manager import server_manager_instance

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((300, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    products = [Product(id=f"p{i}") for i in range(300)]
    spec = StoreSpec("milvus-lite", str(tmp_path / "shops.db"))
    record = write_generation(spec, "shop", products, vectors, {}, index_kind="hnsw")
    assert record["index_type"] == "HNSW"
    # the writing process searches the index, not a brute-force scan
    engine = server_manager_instance._servers[spec.uri][1].get_collection(record["name"])
    built = [type(s.indexes.get("vector")).__name__ for s in engine._segment_cache.values()]
    assert built == ["FaissHnswIndex"], built
    # and it is saved beside the segment, so the service's load reads it instead of building it
    assert list(Path(spec.uri).glob("**/*.hnsw.idx"))
    store = MilvusShopStore(spec, "shop", collection=record["name"])
    try:
        scores, ids = store.search(vectors[:3], 5)
        assert [row[0] for row in ids] == ["p0", "p1", "p2"]
        np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    finally:
        store.close()
        server_manager_instance.release_server(spec.uri)
