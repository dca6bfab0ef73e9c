"""A set of vectors with the ids they belong to, stored as ``<name>.npy`` + ``<name>.ids.json``.

Ids always travel with their vectors (row position alone is never trusted): loading checks that
both files agree. Vectors are memory-mapped on load, so a large catalog costs page cache, not RAM.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.atomic import save_npy_atomic, write_json_atomic
from lookalike.errors import VectorIndexError

__all__ = ["VectorSet"]


@dataclass
class VectorSet:
    """Row ``i`` of ``vectors`` belongs to ``ids[i]``."""

    ids: list[str]
    vectors: np.ndarray

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2:
            raise VectorIndexError(f"vectors must be 2-D, got shape {self.vectors.shape}")
        if len(self.ids) != len(self.vectors):
            raise VectorIndexError(
                f"{len(self.ids)} ids for {len(self.vectors)} vectors: the vector store is "
                "inconsistent; rebuild the workspace"
            )
        self._row: dict[str, int] | None = None

    @classmethod
    def empty(cls, dim: int, dtype: type = np.float32) -> VectorSet:
        """No vectors of dimension ``dim``."""
        return cls([], np.zeros((0, dim), dtype=dtype))

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.ids)

    def row_of(self) -> dict[str, int]:
        """Map id -> row (built once)."""
        if self._row is None:
            self._row = {key: i for i, key in enumerate(self.ids)}
        return self._row

    def __contains__(self, key: object) -> bool:
        return key in self.row_of()

    def get(self, key: str) -> np.ndarray | None:
        """The vector of ``key`` or ``None``."""
        row = self.row_of().get(key)
        return None if row is None else np.asarray(self.vectors[row])

    def lookup(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """``{key: vector}`` for the keys present (others left out), in the order given."""
        row_of = self.row_of()
        return {k: np.asarray(self.vectors[row_of[k]]) for k in keys if k in row_of}

    def take(self, keys: Sequence[str]) -> VectorSet:
        """A new set with the rows of ``keys`` (all must be present), in that order."""
        rows = [self.row_of()[k] for k in keys]
        return VectorSet(list(keys), np.asarray(self.vectors[rows]))

    def merged(self, other: VectorSet, keep: Iterable[str] | None = None) -> VectorSet:
        """This set updated with ``other`` (other wins), restricted to ``keep`` when given."""
        if len(self) and len(other) and self.dim != other.dim:
            raise VectorIndexError(f"cannot merge {self.dim}-d and {other.dim}-d vectors")
        rows: dict[str, tuple[VectorSet, int]] = {k: (self, i) for i, k in enumerate(self.ids)}
        rows.update({k: (other, i) for i, k in enumerate(other.ids)})
        keys = list(rows) if keep is None else [k for k in dict.fromkeys(keep) if k in rows]
        dim = other.dim if len(other) else self.dim
        out = np.zeros((len(keys), dim), dtype=np.float32)
        for j, key in enumerate(keys):
            source, i = rows[key]
            out[j] = source.vectors[i]
        return VectorSet(keys, out)

    def save(self, folder: Path, name: str) -> None:
        """Write ``name.npy`` and ``name.ids.json`` atomically (vectors first, then ids).

        Readers check the counts agree, so a crash between the two renames is detected on load
        rather than silently pairing vectors with the wrong ids.
        """
        save_npy_atomic(folder / f"{name}.npy", self.vectors)
        write_json_atomic(folder / f"{name}.ids.json", self.ids)

    @classmethod
    def load(cls, folder: Path, name: str, *, mmap: bool = True) -> VectorSet:
        """Load a set saved with ``save``; ``VectorIndexError`` when missing or inconsistent."""
        npy, ids_path = folder / f"{name}.npy", folder / f"{name}.ids.json"
        if not npy.exists() or not ids_path.exists():
            raise VectorIndexError(f"no vectors named {name!r} in {folder}")
        try:
            vectors = np.load(npy, mmap_mode="r" if mmap else None, allow_pickle=False)
            ids = json.loads(ids_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise VectorIndexError(f"cannot read vectors {npy}: {exc}") from exc
        return cls([str(i) for i in ids], vectors)

    @staticmethod
    def exists(folder: Path, name: str) -> bool:
        """Whether a set named ``name`` was saved in ``folder``."""
        return (folder / f"{name}.npy").exists() and (folder / f"{name}.ids.json").exists()
