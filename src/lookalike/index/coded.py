"""Exact search over compressed vectors: PCA-reduced and/or float16 / int8 codes.

The codes stay compressed in memory; search decodes one block of the base at a time, so the
float32 copy never exceeds ``block x dim``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lookalike.atomic import save_npy_atomic, write_json_atomic
from lookalike.errors import VectorIndexError
from lookalike.index.base import SearchResult, VectorIndex
from lookalike.index.compress import VectorCodec
from lookalike.index.exact import topk_rows
from lookalike.index.persist import read_generation, write_generation

__all__ = ["CompressedExactIndex"]

_BASE_BLOCK = 16_384


class CompressedExactIndex(VectorIndex):
    """Brute-force inner product over codes made by a fitted ``VectorCodec``."""

    kind = "exact"
    backend = "compressed_exact"

    def __init__(self, codec: VectorCodec):
        if not codec.is_fitted:
            raise VectorIndexError("CompressedExactIndex needs a fitted codec")
        self.codec = codec
        self._ids: list[str] = []
        self._codes = np.zeros((0, codec.output_dim), dtype=codec.code_dtype)

    @property
    def dim(self) -> int:
        """Dimension of the vectors it accepts (before PCA)."""
        assert self.codec.input_dim is not None
        return self.codec.input_dim

    @property
    def ids(self) -> list[str]:
        """Indexed ids in row order."""
        return list(self._ids)

    @property
    def nbytes(self) -> int:
        """Bytes of the stored codes."""
        return int(self._codes.nbytes)

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        if len(ids) != len(vectors):
            raise VectorIndexError(f"{len(ids)} ids for {len(vectors)} vectors")
        latest = {key: i for i, key in enumerate(ids)}  # a repeated id: the last row wins
        self.remove(list(latest))
        rows = list(latest.values())
        self._codes = np.concatenate([self._codes, self.codec.encode(vectors[rows])])
        self._ids.extend(latest)

    def remove(self, ids: Sequence[str]) -> None:
        gone = set(ids)
        keep = [i for i, key in enumerate(self._ids) if key not in gone]
        if len(keep) != len(self._ids):
            self._ids = [self._ids[i] for i in keep]
            self._codes = self._codes[keep]

    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        q = self.codec.project(queries)
        nq = len(q)
        best_d = np.full((nq, 0), -np.inf, dtype=np.float32)
        best_i = np.zeros((nq, 0), dtype=np.int64)
        for start in range(0, len(self._ids), _BASE_BLOCK):
            block = self.codec.decode(self._codes[start : start + _BASE_BLOCK])
            d, i = topk_rows(q @ block.T, k)
            # Keep the running best k: earlier blocks first, so ties keep the lower row.
            d_all = np.concatenate([best_d, d], axis=1)
            i_all = np.concatenate([best_i, i + start], axis=1)
            d_top, cols = topk_rows(d_all, k)
            best_d, best_i = d_top, np.take_along_axis(i_all, cols, axis=1)
        scores = np.full((nq, k), -np.inf, dtype=np.float32)
        scores[:, : best_d.shape[1]] = best_d
        ids = [[self._ids[r] for r in row] + [""] * (k - len(row)) for row in best_i]
        return scores, ids

    def save(self, folder: Path) -> None:
        def write(gen: Path) -> None:
            save_npy_atomic(gen / "codes.npy", self._codes)
            write_json_atomic(gen / "ids.json", self._ids)
            self.codec.save(gen)

        meta = {"kind": self.kind, "backend": self.backend, "dim": self.dim, "count": len(self)}
        write_generation(folder, meta, write)

    @classmethod
    def load(cls, folder: Path) -> CompressedExactIndex:
        meta, gen = read_generation(folder)
        if meta.get("backend") != cls.backend:
            raise VectorIndexError(f"{folder} holds a {meta.get('backend')!r} index")
        index = cls(VectorCodec.load(gen))
        try:
            codes = np.load(gen / "codes.npy", allow_pickle=False)
            ids = json.loads((gen / "ids.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise VectorIndexError(f"cannot read the index in {gen}: {exc}") from exc
        if len(ids) != len(codes):
            raise VectorIndexError(f"{gen}: {len(ids)} ids for {len(codes)} codes; rebuild")
        index._ids, index._codes = [str(i) for i in ids], codes
        return index
