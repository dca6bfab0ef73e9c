"""The shared datasets as lists of (path, labels), and their cached embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench._embcache import cached_embeddings, shared_datasets

__all__ = ["Split", "clothing_splits", "grocery_splits"]


@dataclass
class Split:
    """Images of one split: vectors, category label, product identity (or None)."""

    vectors: np.ndarray
    category: list[str]
    product: list[str]


def clothing_splits() -> dict[str, Split]:
    """clothing-small: train / validation / test; each photo is its own product."""
    root = shared_datasets() / "clothing-small"
    out: dict[str, Split] = {}
    for split in ("train", "validation", "test"):
        paths = sorted((root / split).glob("*/*.jpg"))
        vectors = cached_embeddings(f"clothing-{split}", paths)
        out[split] = Split(vectors, [p.parent.name for p in paths], [p.stem for p in paths])
    return out


def grocery_splits() -> dict[str, Split]:
    """grocery: train / val; product identity = fine class, category = coarse class."""
    root = shared_datasets() / "grocery"
    out: dict[str, Split] = {}
    for split in ("train", "val"):
        rows = [
            [part.strip() for part in line.split(",")]
            for line in (root / f"{split}.txt").read_text().splitlines()
            if line.strip()
        ]
        paths = [root / r[0] for r in rows]
        vectors = cached_embeddings(f"grocery-{split}", paths)
        out[split] = Split(vectors, [f"c{r[2]}" for r in rows], [f"f{r[1]}" for r in rows])
    return out


if __name__ == "__main__":
    for name, splits in (("clothing", clothing_splits()), ("grocery", grocery_splits())):
        print(name, {k: v.vectors.shape for k, v in splits.items()})
