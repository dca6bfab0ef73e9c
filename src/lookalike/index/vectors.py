"""A set of vectors with the ids they belong to, stored as ``<name>.npy`` + ``<name>.ids.json``.

Ids always travel with their vectors (row position alone is never trusted): loading checks that
both files agree. Vectors are memory-mapped on load, so a large catalog costs page cache, not RAM.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.atomic import save_npy_atomic, write_json_atomic
from lookalike.errors import VectorIndexError

__all__ = ["VectorFile", "VectorSet"]

log = logging.getLogger(__name__)

_FULL_HASH_ROWS = 4096  # below this, every row goes into the fingerprint


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

    def fingerprint(self) -> str:
        """A hash of the shape and of (a sample of) the rows, kept with the ids."""
        n = len(self.vectors)
        rows = np.arange(n) if n <= _FULL_HASH_ROWS else np.linspace(0, n - 1, 64).astype(int)
        digest = hashlib.sha256(f"{self.vectors.shape}".encode())
        digest.update(np.ascontiguousarray(self.vectors[rows], dtype=np.float32).tobytes())
        return digest.hexdigest()

    def save(self, folder: Path, name: str) -> None:
        """Write ``name.npy`` and ``name.ids.json`` atomically (vectors first, then ids).

        The ids file carries a fingerprint of the vectors, so a crash between the two renames
        (new vectors, old ids: the same count, other rows) is detected on load rather than
        silently pairing vectors with the wrong ids.
        """
        save_npy_atomic(folder / f"{name}.npy", self.vectors)
        write_json_atomic(
            folder / f"{name}.ids.json", {"ids": self.ids, "fingerprint": self.fingerprint()}
        )

    @classmethod
    def load(cls, folder: Path, name: str, *, mmap: bool = True) -> VectorSet:
        """Load a set saved with ``save``; ``VectorIndexError`` when missing or inconsistent."""
        npy, ids_path = folder / f"{name}.npy", folder / f"{name}.ids.json"
        if not npy.exists() or not ids_path.exists():
            raise VectorIndexError(f"no vectors named {name!r} in {folder}")
        try:
            vectors = np.load(npy, mmap_mode="r" if mmap else None, allow_pickle=False)
            saved = json.loads(ids_path.read_text(encoding="utf-8"))
        except (OSError, ValueError, EOFError) as exc:
            raise VectorIndexError(f"cannot read vectors {npy}: {exc or 'empty file'}") from exc
        # a list: written before fingerprints (only the count can be checked)
        ids = saved.get("ids") if isinstance(saved, dict) else saved
        if not isinstance(ids, list):
            raise VectorIndexError(f"{ids_path} holds no list of ids")
        loaded = cls([str(i) for i in ids], vectors)
        if isinstance(saved, dict) and saved.get("fingerprint") != loaded.fingerprint():
            raise VectorIndexError(
                f"{npy} does not match {ids_path.name} (a write was interrupted)"
            )
        return loaded

    @staticmethod
    def exists(folder: Path, name: str) -> bool:
        """Whether a set named ``name`` was saved in ``folder``."""
        return (folder / f"{name}.npy").exists() and (folder / f"{name}.ids.json").exists()


@dataclass(frozen=True)
class VectorFile:
    """Where one ``VectorSet`` of a workspace lives: ``<folder>/<name>.npy`` + ``.ids.json``."""

    folder: Path
    name: str

    @property
    def npy(self) -> Path:
        """The vectors file."""
        return self.folder / f"{self.name}.npy"

    @property
    def ids(self) -> Path:
        """The ids file."""
        return self.folder / f"{self.name}.ids.json"

    def exists(self) -> bool:
        """Whether both files are there."""
        return VectorSet.exists(self.folder, self.name)

    def load(self, *, mmap: bool = True) -> VectorSet:
        """The saved set (``VectorIndexError`` when missing or inconsistent)."""
        return VectorSet.load(self.folder, self.name, mmap=mmap)

    def load_or_empty(self, dim: int) -> VectorSet:
        """A cache: the saved set read into memory, or an empty one of dimension ``dim`` when
        there is none or it is damaged (a cache is rebuilt, never trusted when inconsistent)."""
        if not self.exists():
            return VectorSet.empty(dim)
        try:
            return self.load(mmap=False)
        except VectorIndexError as exc:
            log.warning("starting %s afresh: %s", self.npy, exc)
            return VectorSet.empty(dim)

    def save(self, vectors: VectorSet) -> None:
        """Write the set atomically (creating the folder)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        vectors.save(self.folder, self.name)
