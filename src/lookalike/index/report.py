"""Build, save and measure the index of a workspace in one call (used by ``build``).

The measurements answer what a shop needs to decide: how much recall an ANN index or a
compression costs against exact search on the uncompressed vectors, and how many bytes it saves.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from lookalike.index.base import VectorIndex
from lookalike.index.factory import index_bytes, make_index, recall_at_k
from lookalike.index.vectors import VectorSet
from lookalike.progress import Progress

__all__ = ["IndexBuild", "build_saved_index", "RECALL_SAMPLE"]

RECALL_SAMPLE = 1000  # queries the recall@10 is measured on, at most (seeded)


@dataclass
class IndexBuild:
    """The index built for a workspace and what was measured about it."""

    index: VectorIndex
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def approximate(self) -> bool:
        """Whether results can differ from exact search on the uncompressed vectors."""
        return self.info["recall_at_10"] is not None


def build_saved_index(
    vectors: VectorSet,
    folder: Path,
    *,
    kind: str = "auto",
    pca: int | None = None,
    quantize: str | None = None,
    progress: Progress | None = None,
    **params: Any,
) -> IndexBuild:
    """Build the index over ``vectors``, save it in ``folder`` and measure it.

    ``info`` holds ``kind``, ``params``, ``recall_at_10`` (against exact uncompressed search on
    at most ``RECALL_SAMPLE`` seeded queries; ``None`` for plain exact search, which is exact),
    ``float32_bytes`` / ``stored_vector_bytes`` / ``bytes_saved`` of the vectors, and the
    ``index_bytes`` on disk.
    """
    t0 = time.perf_counter()
    # a plain exact index searches the vectors the build saves beside it: no second copy
    index = make_index(
        kind, vectors, pca=pca, quantize=quantize, progress=progress, shared=True, **params
    )
    index.save(folder)
    seconds = time.perf_counter() - t0
    compressed = pca is not None or quantize is not None
    recall = None
    if index.kind != "exact" or compressed:
        recall = round(recall_at_k(index, vectors, 10, sample=RECALL_SAMPLE), 4)
    float32_bytes = len(vectors) * vectors.dim * 4
    codec = getattr(index, "codec", None)
    backend_params = getattr(index, "params", None)
    stored = len(vectors) * codec.bytes_per_vector if codec is not None else float32_bytes
    info: dict[str, Any] = {
        "kind": index.kind,
        "backend": index.backend,
        "params": asdict(backend_params)
        if is_dataclass(backend_params) and not isinstance(backend_params, type)
        else {},
        "pca": pca,
        "quantize": quantize,
        "count": len(index),
        "recall_at_10": recall,
        "recall_sample": min(RECALL_SAMPLE, len(vectors)) if recall is not None else 0,
        "float32_bytes": float32_bytes,
        "stored_vector_bytes": stored,
        "bytes_saved": float32_bytes - stored,
        "index_bytes": index_bytes(folder),
        "seconds": round(seconds, 3),
    }
    return IndexBuild(index, info)
