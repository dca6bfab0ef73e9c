"""PCA and scalar quantisation: codec round trips, and recall@10 on real embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.errors import ConfigError, VectorIndexError
from lookalike.index import CompressedExactIndex, VectorCodec, VectorSet, load_index, make_index
from lookalike.index.factory import recall_at_k
from tests.index.conftest import as_set, clustered


def test_pca_matches_numpy_svd_and_renormalises() -> None:
    x = clustered(600, 24, clusters=6, seed=5)
    codec = VectorCodec(pca=8).fit(x)
    _, _, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    # same subspace as the top right singular vectors (signs may differ)
    overlap = np.abs(codec.components @ vt[:8].T)
    np.testing.assert_allclose(np.sort(overlap.max(axis=1)), np.ones(8), atol=1e-3)
    y = codec.project(x)
    assert y.shape == (600, 8) and y.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, rtol=1e-5)
    assert codec.bytes_per_vector == 8 * 4


@pytest.mark.parametrize(
    ("quantize", "dtype", "tolerance"), [("float16", np.float16, 1e-3), ("int8", np.int8, None)]
)
def test_quantisation_round_trip(quantize: str, dtype: type, tolerance: float | None) -> None:
    x = clustered(300, 32, seed=6)
    codec = VectorCodec(quantize=quantize).fit(x)
    codes = codec.encode(x)
    assert codes.dtype == dtype and codes.shape == x.shape
    error = np.abs(codec.decode(codes) - x)
    if quantize == "int8":
        assert codec.scale is not None
        assert (error <= codec.scale / 2 + 1e-7).all()  # at most half a step per dimension
        assert codec.bytes_per_vector == 32
    else:
        assert error.max() < tolerance
        assert codec.bytes_per_vector == 64


def test_codec_save_load_gives_identical_codes(tmp_path: Path) -> None:
    x = clustered(200, 16, seed=7)
    codec = VectorCodec(pca=6, quantize="int8").fit(x)
    codec.save(tmp_path)
    assert (tmp_path / "pca.npz").exists()
    again = VectorCodec.load(tmp_path)
    assert again.config() == codec.config()
    np.testing.assert_array_equal(again.encode(x), codec.encode(x))


def test_codec_validation() -> None:
    with pytest.raises(ConfigError):
        VectorCodec(pca=0)
    with pytest.raises(ConfigError):
        VectorCodec(quantize="int4")
    with pytest.raises(ConfigError, match="below the vector dimension"):
        VectorCodec(pca=16).fit(clustered(50, 16))
    with pytest.raises(VectorIndexError, match="not been fitted"):
        VectorCodec(pca=4).project(np.zeros((1, 8), np.float32))
    with pytest.raises(VectorIndexError, match="expected 16-d"):
        VectorCodec(quantize="int8").fit(clustered(50, 16)).encode(np.zeros((1, 8), np.float32))


# Real EfficientNet-Lite0 embeddings (150 clothing photos, 1280-d): each compression keeps
# recall@10 >= 0.9 against exact search on the uncompressed vectors.
REAL_CASES = [
    ("exact", {"pca": 256}),
    ("exact", {"pca": 64}),
    ("exact", {"quantize": "int8"}),
    ("exact", {"quantize": "float16"}),
    ("exact", {"pca": 256, "quantize": "int8"}),
    ("hnsw", {"quantize": "int8"}),
    ("hnsw", {"pca": 128, "quantize": "float16"}),
    ("ivfpq", {"pca": 256}),
]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "opts"), REAL_CASES, ids=lambda v: str(v))
def test_compression_keeps_recall_on_real_embeddings(
    clothing_vectors: VectorSet, tmp_path: Path, kind: str, opts: dict
) -> None:
    index = make_index(kind, clothing_vectors, **opts)
    recall = recall_at_k(index, clothing_vectors, 10)
    assert recall >= 0.9, (kind, opts, recall)
    index.save(tmp_path)
    again = load_index(tmp_path)
    assert recall_at_k(again, clothing_vectors, 10) == pytest.approx(recall)


def test_compressed_exact_index_saves_memory_and_updates(tmp_path: Path) -> None:
    x = clustered(500, 64, clusters=10, seed=8)
    index = make_index("exact", as_set(x), pca=32, quantize="int8")
    assert isinstance(index, CompressedExactIndex)
    assert index.nbytes == 500 * 32  # 1 byte x 32 dims, against 500 x 64 x 4 uncompressed
    index.remove(["p0", "p1"])
    index.add(["new"], x[:1])
    _, ids = index.search(x[:2], 3)
    assert ids[0][0] == "new" and "p0" not in ids[0] and "p1" not in ids[1]
    assert len(index) == 499
