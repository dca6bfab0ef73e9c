"""Vectors for the index tests: clustered synthetic ones and real embeddings of clothing photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.index import VectorSet


def clustered(
    n: int, dim: int, *, clusters: int = 200, spread: float = 1.0, seed: int = 0
) -> np.ndarray:
    """``n`` unit vectors around ``clusters`` gaussian centres (overlapping when spread ~ 1)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)]
    x += spread * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def as_set(x: np.ndarray, prefix: str = "p") -> VectorSet:
    """Vectors with ids ``p0, p1, ...``."""
    return VectorSet([f"{prefix}{i}" for i in range(len(x))], x)


@pytest.fixture(scope="session")
def clothing_vectors(clothing_dir: Path) -> VectorSet:
    """Real EfficientNet-Lite0 embeddings of 150 clothing photos (15 of each category)."""
    from lookalike.embed.pipeline import embed_images
    from lookalike.embed.registry import get_embedder

    paths = [
        path
        for category in sorted(p for p in (clothing_dir / "train").iterdir() if p.is_dir())
        for path in sorted(category.glob("*.jpg"))[:15]
    ]
    result = embed_images(
        [p.read_bytes() for p in paths], get_embedder("lite0"), batch_size=32, progress=False
    )
    assert not result.errors, result.errors
    return VectorSet([paths[i].stem for i in result.ok], result.vectors)
