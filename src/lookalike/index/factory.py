"""Pick, build, load and check an index: ``make_index``, ``load_index``, ``recall_at_k``.

Also the all-products top-K through any index (``index_neighbors``), which is what lets a
million-product catalog skip the N x N work of the exact table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lookalike.errors import ConfigError, VectorIndexError
from lookalike.index.base import ExactIndex, VectorIndex
from lookalike.index.coded import CompressedExactIndex
from lookalike.index.compress import VectorCodec
from lookalike.index.exact import knn_exact
from lookalike.index.persist import read_generation
from lookalike.index.vectors import VectorSet
from lookalike.progress import Progress
from lookalike.progress import task as progress_task

__all__ = [
    "ANN_THRESHOLD",
    "INDEX_KINDS",
    "choose_index_kind",
    "make_index",
    "load_index",
    "index_bytes",
    "recall_at_k",
    "index_neighbors",
]

INDEX_KINDS = ("auto", "exact", "flat", "hnsw", "ivfpq")
ANN_THRESHOLD = 50_000  # products from which "auto" picks HNSW over exact search
_ADD_CHUNK = 20_000


def choose_index_kind(n: int) -> str:
    """``exact`` below ``ANN_THRESHOLD`` products, else ``hnsw``."""
    return "exact" if n < ANN_THRESHOLD else "hnsw"


def _faiss_classes() -> dict[str, Any]:
    from lookalike.index.faiss_backends import FlatIndex, HnswIndex, IvfPqIndex

    return {"flat": FlatIndex, "hnsw": HnswIndex, "ivfpq": IvfPqIndex}


def make_index(
    kind: str,
    vectors: VectorSet,
    *,
    pca: int | None = None,
    quantize: str | None = None,
    progress: Progress | None = None,
    shared: bool = False,
    **params: Any,
) -> VectorIndex:
    """An index of ``kind`` (``auto``/``exact``/``flat``/``hnsw``/``ivfpq``) holding ``vectors``.

    ``pca``/``quantize`` fit a ``VectorCodec`` on the vectors and store them compressed;
    ``params`` go to the backend (``m``, ``ef_search``, ``nlist``, ``nprobe``...). With
    ``shared`` a plain exact index searches ``vectors`` in place and saves no copy of them
    (they are saved elsewhere: pass them back to ``load_index``).
    """
    if kind not in INDEX_KINDS:
        raise ConfigError(f"unknown index {kind!r}: choose one of {', '.join(INDEX_KINDS)}")
    if kind == "auto":
        kind = choose_index_kind(len(vectors))
    codec = None
    if pca is not None or quantize is not None:
        if not len(vectors):
            raise VectorIndexError("PCA and quantisation need vectors to be fitted on")
        codec = VectorCodec(pca, quantize).fit(vectors.vectors)
    if kind == "exact" and params:
        raise ConfigError(f"the exact index takes no parameters, got {sorted(params)}")
    index: VectorIndex
    if kind == "exact" and codec is None and shared:
        return ExactIndex(vectors, shared=True)
    if kind == "exact" and codec is None:
        return ExactIndex(VectorSet(list(vectors.ids), np.array(vectors.vectors, np.float32)))
    if kind == "exact":
        assert codec is not None
        index = CompressedExactIndex(codec)
    else:
        try:
            index = _faiss_classes()[kind](vectors.dim, codec=codec, **params)
        except TypeError as exc:
            raise ConfigError(f"bad parameters for the {kind} index: {exc}") from exc
    _add_all(index, vectors, progress)
    return index


def _add_all(index: VectorIndex, vectors: VectorSet, progress: Progress | None) -> None:
    if len(vectors) and getattr(index, "kind", "") == "ivfpq":
        # IVF-PQ trains on its first batch: give it everything at once.
        index.add(vectors.ids, np.asarray(vectors.vectors, np.float32))
        return
    advance = progress_task(progress, f"building the {index.kind} index", len(vectors))
    for start in range(0, len(vectors), _ADD_CHUNK):
        end = start + _ADD_CHUNK
        index.add(vectors.ids[start:end], np.asarray(vectors.vectors[start:end], np.float32))
        advance(min(_ADD_CHUNK, len(vectors) - start))


def load_index(folder: Path, vectors: VectorSet | None = None) -> VectorIndex:
    """Load whichever index ``save`` wrote in ``folder`` (``VectorIndexError`` if none).

    ``vectors``: the vectors a shared exact index was built over (other backends keep their own).
    """
    meta, _ = read_generation(Path(folder))
    if meta.get("backend") == ExactIndex.backend:
        return ExactIndex.load(Path(folder), vectors)
    backend = meta.get("backend")
    classes: dict[str, Any] = {
        ExactIndex.backend: ExactIndex,
        CompressedExactIndex.backend: CompressedExactIndex,
    }
    if backend not in classes:
        classes.update({cls.backend: cls for cls in _faiss_classes().values()})
    if backend not in classes:
        raise VectorIndexError(f"{folder} holds an unknown index backend {backend!r}")
    return classes[backend].load(Path(folder))


def index_bytes(folder: Path) -> int:
    """Bytes on disk of the saved index (its current generation)."""
    _, gen = read_generation(Path(folder))
    return sum(p.stat().st_size for p in gen.iterdir() if p.is_file())


def recall_at_k(
    index: VectorIndex,
    vectors: VectorSet,
    k: int = 10,
    *,
    sample: int = 1000,
    seed: int = 0,
) -> float:
    """Mean recall@k of ``index`` against exact search over ``vectors`` (self excluded),
    on a seeded sample of at most ``sample`` of the vectors used as queries."""
    n = len(vectors)
    k = min(k, n - 1)
    if k < 1:
        return 1.0
    rows = np.sort(np.random.default_rng(seed).choice(n, min(sample, n), replace=False))
    base = np.asarray(vectors.vectors, np.float32)
    queries = base[rows]
    _, truth = knn_exact(queries, base, k + 1)
    _, found = index.search(queries, k + 1)
    hits = 0
    for r, row in enumerate(rows):
        own = vectors.ids[row]
        expected = {vectors.ids[i] for i in [i for i in truth[r] if i >= 0 and i != row][:k]}
        got = [pid for pid in found[r] if pid and pid != own][:k]
        hits += len(expected & set(got))
    return hits / (len(rows) * k)


def index_neighbors(
    index: VectorIndex,
    vectors: VectorSet,
    k: int,
    *,
    batch: int = 1024,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` of every vector through ``index``, itself excluded: ``(rows int32, scores)``.

    Rows index into ``vectors.ids`` (-1 where fewer than ``k`` exist or the hit is unknown).
    """
    n = len(vectors)
    rows = np.full((n, k), -1, dtype=np.int32)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    row_of = vectors.row_of()
    starts = range(0, n, batch)

    def run(start: int) -> None:
        end = min(start + batch, n)
        d, ids = index.search(np.asarray(vectors.vectors[start:end], np.float32), k + 1)
        for r in range(end - start):
            own = vectors.ids[start + r]
            hits = [(row_of.get(pid, -1), s) for pid, s in zip(ids[r], d[r], strict=True)]
            hits = [(i, s) for i, s in hits if i >= 0 and vectors.ids[i] != own][:k]
            for j, (i, s) in enumerate(hits):
                rows[start + r, j], scores[start + r, j] = i, s

    advance = progress_task(progress, f"top-K for every product ({index.kind})", n)
    for start in starts:
        run(start)
        advance(min(batch, n - start))
    return rows, scores
