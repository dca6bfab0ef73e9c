"""Cached backbone embeddings of the shared datasets (~/.cache/lookalike/bench)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from lookalike.atomic import save_npy_atomic, write_json_atomic
from lookalike.embed.pipeline import embed_images
from lookalike.embed.registry import get_embedder

__all__ = ["cached_embeddings", "bench_cache_dir", "shared_datasets"]


def shared_datasets() -> Path:
    """``$LOOKALIKE_SHARED_DATASETS`` or ``../shared/datasets`` beside the repository."""
    env = os.environ.get("LOOKALIKE_SHARED_DATASETS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[1]
    for base in (repo.parent, repo.parent.parent):  # ../shared, or ../../shared from a worktree
        if (base / "shared" / "datasets").is_dir():
            return base / "shared" / "datasets"
    raise SystemExit("shared datasets not found: set LOOKALIKE_SHARED_DATASETS")


def bench_cache_dir() -> Path:
    """Where benchmark embeddings are cached."""
    return Path.home() / ".cache" / "lookalike" / "bench"


def cached_embeddings(name: str, paths: list[Path], model: str = "lite0") -> np.ndarray:
    """float32 ``(len(paths), dim)`` L2-normalised embeddings, computed once and cached.

    The cache key is the model and the list of paths, so a different selection re-embeds.
    """
    if not paths:
        raise SystemExit(f"no images for {name}")
    paths = [p.resolve() for p in paths]  # the same files under another link: same key
    digest = hashlib.sha256("\n".join(map(str, paths)).encode()).hexdigest()[:12]
    target = bench_cache_dir() / f"{name}-{model}-{digest}.npy"
    if target.exists():
        return np.load(target)
    result = embed_images([p.read_bytes for p in paths], get_embedder(model), progress=True)
    if result.errors:
        raise SystemExit(f"{len(result.errors)} images failed: {list(result.errors.items())[:3]}")
    target.parent.mkdir(parents=True, exist_ok=True)
    save_npy_atomic(target, result.vectors)
    write_json_atomic(target.with_suffix(".json"), [str(p) for p in paths])
    return result.vectors
