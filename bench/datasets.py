"""Labeled photo sets from ../shared/datasets and their cached embeddings, for the benchmarks.

Embeddings are cached under ``~/.cache/lookalike/bench/<dataset>/<model_key>.npy`` (with the
image paths as ids and the seconds the embedding took), so a second run only does the search.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.atomic import write_json_atomic
from lookalike.index.vectors import VectorSet

__all__ = [
    "Split",
    "clothing_splits",
    "grocery_splits",
    "LabeledPhotos",
    "default_datasets",
    "load_clothing",
    "load_grocery_packages",
    "cached_embeddings",
    "bench_cache_dir",
]

CLOTHING_SPLITS_ALL = ("train", "validation", "test")


@dataclass
class LabeledPhotos:
    """Photos with one label each: ``paths[i]`` is labeled ``labels[i]``."""

    name: str
    root: Path
    paths: list[Path]
    labels: list[str]

    def subsample(self, n: int, seed: int) -> LabeledPhotos:
        """A seeded random subset of ``n`` photos (all when ``n`` >= len), in original order."""
        if n >= len(self.paths):
            return self
        keep = np.sort(np.random.default_rng(seed).choice(len(self.paths), n, replace=False))
        return LabeledPhotos(
            f"{self.name}-{n}s{seed}",
            self.root,
            [self.paths[i] for i in keep],
            [self.labels[i] for i in keep],
        )


def default_datasets() -> Path:
    """``$LOOKALIKE_SHARED_DATASETS``, else the first ``shared/datasets`` folder found beside the
    repository or one of its parents (a git worktree may sit one level deeper)."""
    env = os.environ.get("LOOKALIKE_SHARED_DATASETS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[1]
    for parent in repo.parents:
        candidate = parent / "shared" / "datasets"
        if candidate.is_dir():
            return candidate
    return repo.parent / "shared" / "datasets"


def bench_cache_dir() -> Path:
    """``$LOOKALIKE_CACHE_DIR/bench`` or ``~/.cache/lookalike/bench``."""
    env = os.environ.get("LOOKALIKE_CACHE_DIR")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "lookalike"
    return base / "bench"


def load_clothing(root: Path, splits: tuple[str, ...] = CLOTHING_SPLITS_ALL) -> LabeledPhotos:
    """clothing-small: ``<split>/<category>/<uuid>.jpg``, label = category."""
    paths: list[Path] = []
    labels: list[str] = []
    for split in splits:
        for path in sorted((root / split).glob("*/*.jpg")):
            paths.append(path)
            labels.append(path.parent.name)
    if not paths:
        raise SystemExit(f"no clothing photos under {root} (splits {splits})")
    return LabeledPhotos("clothing-" + "+".join(splits), root, paths, labels)


def load_grocery_packages(root: Path) -> LabeledPhotos:
    """grocery's packaged products (``*/Packages/*``, train + val): label = fine class id."""
    paths: list[Path] = []
    labels: list[str] = []
    for listing in ("train.txt", "val.txt"):
        for line in (root / listing).read_text(encoding="utf-8").splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) < 2 or "/Packages/" not in parts[0]:
                continue
            paths.append(root / parts[0])
            # the fine class folder name, e.g. Arla-Standard-Milk (readable in tables)
            labels.append(Path(parts[0]).parent.name)
    if not paths:
        raise SystemExit(f"no packaged-product photos listed in {root}/train.txt, val.txt")
    return LabeledPhotos("grocery-packages", root, paths, labels)


def _reader(path: Path) -> Callable[[], bytes]:
    return path.read_bytes


def cached_embeddings(
    photos: LabeledPhotos, model: str, *, progress: bool = True, batch_size: int = 32
) -> tuple[np.ndarray, float]:
    """``(vectors, seconds)`` for every photo with ``model``, cached on disk.

    ``seconds`` is the time the embedding took when it was computed (not the cache load).
    Photos that fail to decode get a zero vector (none do in these datasets).
    """
    from lookalike.embed.pipeline import embed_images
    from lookalike.embed.registry import get_embedder, model_key

    key = model_key(model)
    folder = bench_cache_dir() / photos.name
    ids = [str(p.relative_to(photos.root)) for p in photos.paths]
    meta_path = folder / f"{key}.meta.json"
    if VectorSet.exists(folder, key) and meta_path.exists():
        cached = VectorSet.load(folder, key, mmap=False)
        if cached.ids == ids:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            return np.asarray(cached.vectors, dtype=np.float32), float(meta["seconds"])
    embedder = get_embedder(model, device="cpu")
    started = time.perf_counter()
    result = embed_images(
        [_reader(p) for p in photos.paths],
        embedder,
        batch_size=batch_size,
        progress=progress,
        description=f"{photos.name} · {key}",
    )
    seconds = time.perf_counter() - started
    vectors = np.zeros((len(ids), embedder.dim), dtype=np.float32)
    vectors[result.ok] = result.vectors
    VectorSet(ids, vectors).save(folder, key)
    write_json_atomic(meta_path, {"seconds": seconds, "errors": result.errors, "count": len(ids)})
    return vectors, seconds


@dataclass
class Split:
    """Images of one split: vectors, category label, product identity."""

    vectors: np.ndarray
    category: list[str]
    product: list[str]


def clothing_splits(model: str = "lite0") -> dict[str, Split]:
    """clothing-small: train / validation / test embedded; each photo is its own product."""
    root = default_datasets() / "clothing-small"
    out: dict[str, Split] = {}
    for split in CLOTHING_SPLITS_ALL:
        photos = load_clothing(root, (split,))
        vectors, _ = cached_embeddings(photos, model)
        out[split] = Split(vectors, photos.labels, [p.stem for p in photos.paths])
    return out


def grocery_splits(model: str = "lite0") -> dict[str, Split]:
    """grocery: train / val embedded; product identity = fine class, category = coarse class."""
    root = default_datasets() / "grocery"
    out: dict[str, Split] = {}
    for split in ("train", "val"):
        rows = [
            [part.strip() for part in line.split(",")]
            for line in (root / f"{split}.txt").read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        photos = LabeledPhotos(
            f"grocery-{split}", root, [root / r[0] for r in rows], [f"c{r[2]}" for r in rows]
        )
        vectors, _ = cached_embeddings(photos, model)
        out[split] = Split(vectors, photos.labels, [f"f{r[1]}" for r in rows])
    return out


if __name__ == "__main__":  # warm the cache: python bench/datasets.py lite0 histogram ...
    import sys

    data = default_datasets()
    sets = [load_clothing(data / "clothing-small"), load_grocery_packages(data / "grocery")]
    for name in sys.argv[1:]:
        for photo_set in sets:
            _, took = cached_embeddings(photo_set, name)
            print(f"{photo_set.name} {name}: {len(photo_set.paths)} photos, {took:.1f} s")
