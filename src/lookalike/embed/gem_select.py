"""GeM's exponent p chosen on the shop's own catalog (``lite0+gem`` without P, at build time).

Each p of a small grid (1 = plain mean pooling) pools the same feature maps of a deterministic
sample of the catalog's images (one forward pass per view for the whole grid), and is scored:

- ``category`` (when the sample has categories: at least half its products, two categories
  of two or more): leave-one-out category P@10 of the sample against itself. Labels the shop
  already has, no training.
- ``stability`` (otherwise; label-free): neighbourhood stability under a view change. Each
  image is also embedded as a second view (an off-centre 75% crop, mirrored); the score is
  the mean overlap of an image's 10 nearest catalog images and its second view's (itself
  left out). Pooling that keeps neighbourhoods when the framing changes describes the product
  rather than the photo.

The highest score wins; ties go to the smaller p (earlier in the grid). Deterministic: no
randomness, fixed sample order (by image content hash).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from lookalike.embed.features import FeatureEmbedder, FeatureSpec, resize_batch
from lookalike.embed.pipeline import ImageSource, embed_images
from lookalike.errors import EmbedError
from lookalike.index.exact import knn_exact

__all__ = ["GEM_GRID", "SAMPLE_SIZE", "GemChoice", "choose_gem", "score_grid"]

GEM_GRID = (1.0, 2.0, 3.0, 4.0, 6.0)
SAMPLE_SIZE = 300
NEIGHBOURS = 10
_MIN_CATEGORY_SHARE = 0.5


@dataclass(frozen=True)
class GemChoice:
    """The chosen p, the criterion and every p's score (what the manifest records)."""

    p: float
    criterion: str
    scores: dict[str, float]
    sample: int

    def record(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def second_view(batch: np.ndarray) -> np.ndarray:
    """The stability criterion's other view: an off-centre 75% crop, resized back, mirrored."""
    side = batch.shape[-1]
    top, left, size = round(0.10 * side), round(0.15 * side), round(0.75 * side)
    crop = np.ascontiguousarray(batch[:, :, top : top + size, left : left + size])
    return np.ascontiguousarray(resize_batch(crop, side)[..., ::-1])


class _GridEmbedder:
    """Every p of the grid (and the second view) from one forward pass per view."""

    name = "gem-grid"

    def __init__(self, variants: list[FeatureEmbedder], views: bool) -> None:
        self.variants, self.views = variants, views
        self.memo: dict[tuple[str, str], list[np.ndarray]] = {}
        for variant in variants:
            variant.memo = self.memo
        self.input_size = variants[0].input_size
        self.resize_size = variants[0].resize_size
        self.dim = variants[0].dim * len(variants) * (2 if views else 1)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        outs: list[np.ndarray] = []
        for view in [batch, second_view(batch)] if self.views else [batch]:
            self.memo.clear()  # the maps are those of this view only
            outs += [variant.embed(view) for variant in self.variants]
        self.memo.clear()
        return np.concatenate(outs, axis=1)


def _category_precision(x: np.ndarray, labels: np.ndarray) -> float:
    counts = {label: int((labels == label).sum()) for label in set(labels.tolist())}
    queries = np.array([bool(lab) and counts[lab] > 1 for lab in labels])
    k = min(NEIGHBOURS, len(x) - 1)
    _, found = knn_exact(x[queries], x, k + 1)
    own = np.flatnonzero(queries)
    hits = [
        (labels[row[row != q][:k]] == labels[q]).mean() for row, q in zip(found, own, strict=True)
    ]
    return float(np.mean(hits))


def _stability(x: np.ndarray, views: np.ndarray) -> float:
    k = min(NEIGHBOURS, len(x) - 1)
    _, near = knn_exact(x, x, k + 1)
    _, near_view = knn_exact(views, x, k + 1)
    overlaps = []
    for i in range(len(x)):
        a = set(near[i][near[i] != i][:k].tolist())
        b = set(near_view[i][near_view[i] != i][:k].tolist())
        overlaps.append(len(a & b) / k)
    return float(np.mean(overlaps))


def use_categories(categories: Sequence[str] | None) -> bool:
    """Whether the sample's categories are enough for the ``category`` criterion."""
    if not categories:
        return False
    labels = [c for c in categories if c]
    repeated = [c for c in set(labels) if labels.count(c) > 1]
    return len(labels) >= _MIN_CATEGORY_SHARE * len(categories) and len(repeated) >= 2


def score_grid(
    spec: FeatureSpec,
    base: FeatureEmbedder,
    images: Sequence[ImageSource],
    categories: Sequence[str] | None = None,
    grid: Sequence[float] = GEM_GRID,
) -> GemChoice:
    """Score every p of ``grid`` on ``images`` (``base``: a loaded embedder of ``spec``'s
    backbones) and return the best; ``categories`` parallel to ``images`` ("" = none)."""
    criterion = "category" if use_categories(categories) else "stability"
    variants = [base.with_spec(replace(spec, gem=float(p), gem_auto=False)) for p in grid]
    grid_embedder = _GridEmbedder(variants, views=criterion == "stability")
    result = embed_images(list(images), grid_embedder, batch_size=16, workers=None)
    if len(result.ok) < 3:
        raise EmbedError("choosing GeM's p needs at least 3 usable images")
    dim, n_p = variants[0].dim, len(variants)
    out = result.vectors
    scores: dict[str, float] = {}
    for j, p in enumerate(grid):
        x = out[:, j * dim : (j + 1) * dim]
        if criterion == "category":
            assert categories is not None
            labels = np.array([categories[i] for i in result.ok], dtype=object)
            scores[f"{p:g}"] = round(_category_precision(x, labels), 6)
        else:
            views = out[:, (n_p + j) * dim : (n_p + j + 1) * dim]
            scores[f"{p:g}"] = round(_stability(x, views), 6)
    best = max(range(len(grid)), key=lambda j: (scores[f"{grid[j]:g}"], -j))
    return GemChoice(float(grid[best]), criterion, scores, len(result.ok))


def choose_gem(
    spec: FeatureSpec,
    images: Sequence[ImageSource],
    categories: Sequence[str] | None = None,
    grid: Sequence[float] = GEM_GRID,
) -> GemChoice:
    """:func:`score_grid` with the spec's backbones loaded from the registry."""
    from lookalike.embed.registry import get_embedder

    base = get_embedder(replace(spec, gem=float(grid[-1]), gem_auto=False).key())
    assert isinstance(base, FeatureEmbedder)
    return score_grid(spec, base, images, categories, grid)
