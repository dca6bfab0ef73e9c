"""Every backend against exact search: top-1, recall, add/remove/re-add, save/load, crash safety."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lookalike.errors import ConfigError, VectorIndexError
from lookalike.index import (
    ANN_THRESHOLD,
    ExactIndex,
    HnswIndex,
    IvfPqIndex,
    IvfPqParams,
    choose_index_kind,
    knn_exact,
    load_index,
    make_index,
    recall_at_k,
)
from lookalike.index.persist import INDEX_META
from tests.index.conftest import as_set, clustered

# kind, make_index options: every backend, plain and compressed
BACKENDS = [
    ("exact", {}),
    ("exact", {"quantize": "int8"}),
    ("flat", {}),
    ("flat", {"quantize": "float16"}),
    ("hnsw", {}),
    ("hnsw", {"quantize": "int8"}),
    ("ivfpq", {}),
]
IDS = [f"{kind}-{'-'.join(map(str, opts.values())) or 'plain'}" for kind, opts in BACKENDS]


@pytest.fixture(scope="module")
def small() -> np.ndarray:
    return clustered(400, 32, clusters=20, spread=0.6, seed=1)


@pytest.mark.parametrize(("kind", "opts"), BACKENDS, ids=IDS)
def test_top1_matches_exact(small: np.ndarray, kind: str, opts: dict) -> None:
    index = make_index(kind, as_set(small), **opts)
    assert len(index) == len(small)
    # self-queries find themselves
    _, ids = index.search(small, 1)
    assert [row[0] for row in ids] == [f"p{i}" for i in range(len(small))]
    # new queries near the catalog: the same top-1 as exact search
    rng = np.random.default_rng(7)
    queries = small[rng.choice(len(small), 50, replace=False)]
    queries = queries + 0.05 * rng.standard_normal(queries.shape).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    _, truth = knn_exact(queries, small, 1)
    scores, ids = index.search(queries, 1)
    assert [row[0] for row in ids] == [f"p{i}" for i in truth[:, 0]]
    assert np.all(scores[:, 0] > 0.5)


@pytest.mark.slow
def test_hnsw_recall_at_10_on_20k_clustered_vectors() -> None:
    vectors = as_set(clustered(20_000, 64, clusters=200, spread=1.0, seed=2))
    index = make_index("hnsw", vectors)
    assert isinstance(index, HnswIndex)
    assert recall_at_k(index, vectors, 10, sample=500) >= 0.95


def test_ivfpq_recall_sanity_and_parameters() -> None:
    vectors = as_set(clustered(3_000, 32, clusters=30, spread=1.0, seed=3))
    index = make_index("ivfpq", vectors)
    assert isinstance(index, IvfPqIndex)
    p = index.params
    assert p.nlist is not None and 1 <= p.nlist <= 3_000 // 39
    assert p.m is not None and 32 % p.m == 0
    assert p.nprobe is not None and p.nprobe <= p.nlist
    assert recall_at_k(index, vectors, 10, sample=300) >= 0.9


@pytest.mark.parametrize("n", [1, 5, 60])
def test_ivfpq_small_catalogs_fall_back_to_sane_parameters(n: int) -> None:
    x = clustered(n, 16, clusters=3, seed=n)
    index = make_index("ivfpq", as_set(x))
    _, ids = index.search(x, min(3, n))
    assert [row[0] for row in ids] == [f"p{i}" for i in range(n)]


@pytest.mark.parametrize(("kind", "opts"), BACKENDS, ids=IDS)
def test_add_remove_readd_survive_save_and_load(
    small: np.ndarray, tmp_path: Path, kind: str, opts: dict
) -> None:
    n = len(small)
    index = make_index(kind, as_set(small[:300]), **opts)
    removed = {f"p{i}" for i in range(0, 300, 7)}  # 43 of 300: tombstones, below compaction
    index.remove(sorted(removed) + ["never-there"])
    index.add([f"p{i}" for i in range(300, n)], small[300:])  # new products
    moved = small[5] * -1.0  # p3 re-added with another vector: the old one must go
    index.add(["p3"], moved[None, :])
    live = n - len(removed)
    assert len(index) == live

    def check(ix) -> None:
        # k = everything (and more): removed ids never appear, every live id exactly once
        scores, ids = ix.search(small[:10], n + 5)
        for row, srow in zip(ids, scores, strict=True):
            found = [pid for pid in row if pid]
            assert not removed & set(found)
            assert sorted(found) == sorted(set(found)) and len(found) == live
            assert np.isneginf(srow[live:]).all()
        # top-10: still 10 live results although removed neighbours were closer
        _, ids = ix.search(small[[0, 7, 14]], 10)
        for row in ids:
            assert len([p for p in row if p]) == 10 and not removed & set(row)
        # new products are found, and the re-added one by its new vector only
        _, ids = ix.search(np.vstack([small[350], moved]), 1)
        assert ids[0][0] == "p350" and ids[1][0] == "p3"
        _, ids = ix.search(small[3:4], 5)
        assert ids[0][0] != "p3"

    check(index)
    index.save(tmp_path / "ix")
    again = load_index(tmp_path / "ix")
    assert type(again) is type(index) and len(again) == live
    check(again)
    np.testing.assert_array_equal(index.search(small, 5)[0], again.search(small, 5)[0])
    # keep going after a reload: removing an added product and re-adding a removed one
    again.remove(["p350"])
    again.add(["p7"], small[7:8])
    _, ids = again.search(np.vstack([small[350], small[7]]), 1)
    assert ids[0][0] != "p350" and ids[1][0] == "p7"


def test_hnsw_tombstones_then_compaction() -> None:
    x = clustered(500, 16, clusters=10, seed=4)
    index = make_index("hnsw", as_set(x), max_dead_fraction=0.2)
    assert isinstance(index, HnswIndex)
    index.remove([f"p{i}" for i in range(90)])
    assert index.tombstones == 90  # 18%: kept as tombstones
    index.remove([f"p{i}" for i in range(90, 120)])
    assert index.tombstones == 0 and len(index) == 380  # 24% > 20%: rebuilt from live vectors
    _, ids = index.search(x[:120], 3)
    assert all(int(pid[1:]) >= 120 for row in ids for pid in row)
    _, ids = index.search(x[120:], 1)
    assert [row[0] for row in ids] == [f"p{i}" for i in range(120, 500)]


def test_everything_removed_and_empty_indexes(tmp_path: Path) -> None:
    x = clustered(30, 8, clusters=3)
    for kind in ("exact", "flat", "hnsw"):
        index = make_index(kind, as_set(x))
        index.remove([f"p{i}" for i in range(30)])
        scores, ids = index.search(x[:2], 4)
        assert ids == [[""] * 4, [""] * 4] and np.isneginf(scores).all()
        index.save(tmp_path / kind)
        assert len(load_index(tmp_path / kind)) == 0
    empty = HnswIndex(8)
    empty.save(tmp_path / "empty")
    reloaded = load_index(tmp_path / "empty")
    reloaded.add(["a"], x[:1])
    assert reloaded.search(x[:1], 1)[1] == [["a"]]


def test_interrupted_save_leaves_previous_index_loadable(
    small: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ix"
    first = make_index("hnsw", as_set(small))
    first.save(folder)
    expected = first.search(small[:5], 5)

    second = make_index("hnsw", as_set(small[:100], prefix="q"))
    import lookalike.index.faiss_base as faiss_base

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    # the faiss file of the new generation is written, then the ids fail: an interrupted save
    monkeypatch.setattr(faiss_base, "write_json_atomic", boom)
    with pytest.raises(OSError, match="disk full"):
        second.save(folder)
    monkeypatch.undo()
    reloaded = load_index(folder)
    assert len(reloaded) == len(small)
    assert reloaded.search(small[:5], 5)[1] == expected[1]
    # a crash that left a half-written generation behind: ignored, and cleaned by the next save
    (folder / "gdeadbeef0000").mkdir()
    (folder / "gdeadbeef0000" / "index.faiss").write_bytes(b"half")
    assert len(load_index(folder)) == len(small)
    (folder / "gallery").mkdir()  # not a generation: never deleted
    second.save(folder)
    current = json.loads((folder / INDEX_META).read_text())["generation"]
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == sorted([current, "gallery"])
    assert len(load_index(folder)) == 100


def test_choose_kind_and_bad_options(small: np.ndarray, tmp_path: Path) -> None:
    assert choose_index_kind(10) == "exact"
    assert choose_index_kind(ANN_THRESHOLD - 1) == "exact"
    assert choose_index_kind(ANN_THRESHOLD) == "hnsw"
    assert isinstance(make_index("auto", as_set(small)), ExactIndex)
    with pytest.raises(ConfigError, match="unknown index"):
        make_index("annoy", as_set(small))
    with pytest.raises(ConfigError, match="bad parameters"):
        make_index("hnsw", as_set(small), n_trees=3)
    with pytest.raises(ConfigError, match="no parameters"):
        make_index("exact", as_set(small), m=3)
    with pytest.raises(VectorIndexError):
        IvfPqParams(nbits=0)
    with pytest.raises(VectorIndexError, match="no index saved"):
        load_index(tmp_path / "nothing")
    index = make_index("hnsw", as_set(small))
    with pytest.raises(VectorIndexError, match="expected 32-d"):
        index.search(np.zeros((1, 16), np.float32), 3)
