"""Photo -> catalog training data: shop photos labelled by product, the catalog's images, the
splits of the adoption check and the photo -> catalog metrics.

The photos CSV is the one ``lookalike evaluate --queries-from`` reads (``image`` and
``product_id``; see :mod:`lookalike.evaluate.photos`), and the photos are embedded through the
same cache, so training and evaluation see the same vectors. A product's gallery vector is the
normalised mean of its images' vectors after the head, as the build makes product vectors.

Splits: whole products are held out first (their photos are never trained on and their
catalog images are never a positive or a negative), then a share of the other products'
photos is held out, then a validation share of the rest (early stopping). Held-out sets are
measured against the *whole* catalog, as a shopper's photo is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.embed.base import l2_normalize
from lookalike.errors import ConfigError
from lookalike.evaluate.metrics import average_precision_at_k, hit_rate_at_k
from lookalike.index.exact import knn_exact
from lookalike.progress import Progress
from lookalike.train.data import TrainData
from lookalike.workspace import Workspace

__all__ = ["PhotoData", "PhotoSplits", "load_photo_data", "photo_metrics", "split_photos"]

Transform = Callable[[np.ndarray], np.ndarray]


@dataclass
class PhotoData:
    """Photo rows (backbone vectors, the product each shows) and the catalog's image rows."""

    photos: np.ndarray  # float32 (P, D)
    photo_product: np.ndarray  # int64 (P,): index into ``products``
    catalog: np.ndarray  # float32 (C, D): every embedded catalog image
    catalog_product: np.ndarray  # int64 (C,): index into ``products``
    products: list[str]
    notes: dict[str, int]

    def gallery(self, transform: Transform | None = None) -> np.ndarray:
        """One unit vector per product (rows of ``products``): the normalised mean of its
        images' vectors after ``transform``, as the build's vectors stage makes them."""
        x = self.catalog if transform is None else transform(self.catalog)
        sums = np.zeros((len(self.products), x.shape[1]), dtype=np.float64)
        np.add.at(sums, self.catalog_product, x)
        return l2_normalize(sums.astype(np.float32))


@dataclass
class PhotoSplits:
    """Photo row indices per split; ``held_products`` are product indices never trained on."""

    train: np.ndarray
    val: np.ndarray
    held_out_photos: np.ndarray
    held_out_products: np.ndarray
    held_products: np.ndarray

    def sizes(self) -> dict[str, int]:
        """Photos per split (and the number of held-out products)."""
        out = {k: int(len(getattr(self, k))) for k in ("train", "val", "held_out_photos")}
        return out | {
            "held_out_product_photos": int(len(self.held_out_products)),
            "held_out_products": int(len(self.held_products)),
        }


def load_photo_data(
    ws: Workspace, photos_csv: Path, data: TrainData, model: str, progress: Progress | None
) -> PhotoData:
    """The photos of ``photos_csv`` (embedded with ``model``, cached) and the catalog rows of
    ``data``; photos of unknown products are skipped and counted in ``notes``."""
    from lookalike.evaluate.photos import embed_photos, read_photo_queries

    with ws.open_store() as store:
        shas = {r.sha256 for r in store.image_records().values() if r.sha256}
    photo_set = read_photo_queries(photos_csv, shas)
    if not photo_set.has_product:
        raise ConfigError(f"{photos_csv} needs a product_id column to train photo -> catalog")
    products = sorted({str(p) for p in data.product})
    index = {p: i for i, p in enumerate(products)}
    kept = [q for q in photo_set.queries if q.product_id in index]
    notes = {**photo_set.notes, "unknown_product": len(photo_set.queries) - len(kept)}
    if len(kept) < 4:
        raise ConfigError(
            f"{photos_csv}: only {len(kept)} photos of catalog products (skipped: {notes}): "
            "too few to train"
        )
    vectors, _ = embed_photos(ws, model, kept, served=False, progress=progress)
    return PhotoData(
        photos=np.asarray(vectors, np.float32),
        photo_product=np.array([index[q.product_id] for q in kept], np.int64),
        catalog=np.asarray(data.vectors, np.float32),
        catalog_product=np.array([index[str(p)] for p in data.product], np.int64),
        products=products,
        notes=notes | {"photos": len(kept)},
    )


def _share(items: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A seeded random ``fraction`` of ``items`` (at least one when fraction > 0 and there are
    two or more), never all of them."""
    if fraction <= 0 or len(items) < 2:
        return items[:0]
    count = min(len(items) - 1, max(1, round(fraction * len(items))))
    return np.sort(rng.choice(items, size=count, replace=False))


def split_photos(
    data: PhotoData, *, seed: int, holdout_products: float, holdout_photos: float, val: float
) -> PhotoSplits:
    """Seeded splits of the module doc (products first, then photos, then validation)."""
    rng = np.random.default_rng(seed)
    shown = np.unique(data.photo_product)
    held = _share(shown, holdout_products, rng)
    rows = np.arange(len(data.photos))
    in_held = np.isin(data.photo_product, held)
    rest = rows[~in_held]
    held_photos = _share(rest, holdout_photos, rng)
    remaining = np.setdiff1d(rest, held_photos)
    val_rows = _share(remaining, val, rng)
    return PhotoSplits(
        train=np.setdiff1d(remaining, val_rows),
        val=val_rows,
        held_out_photos=held_photos,
        held_out_products=rows[in_held],
        held_products=held,
    )


def photo_metrics(
    data: PhotoData,
    rows: np.ndarray,
    transform: Transform | None = None,
    *,
    k: int = 10,
    products: np.ndarray | None = None,
) -> dict[str, Any]:
    """Photo -> catalog top-1 (``Recall@1``), ``Hit@5`` and ``mAP@k`` of the photos ``rows``
    against every catalog product (or only ``products``, indices), with ``transform`` (a head)
    applied to both sides."""
    rows = np.asarray(rows, np.int64)
    out: dict[str, Any] = {"n": int(len(rows)), "Recall@1": None, "Hit@5": None, f"mAP@{k}": None}
    if not len(rows):
        return out
    shown = np.arange(len(data.products)) if products is None else np.asarray(products, np.int64)
    gallery = data.gallery(transform)[shown]
    queries = data.photos[rows] if transform is None else transform(data.photos[rows])
    kk = min(k, len(shown))
    _, idx = knn_exact(queries, gallery, kk)
    rel = (idx >= 0) & (shown[np.maximum(idx, 0)] == data.photo_product[rows][:, None])
    ones = np.ones(len(rows))
    out["Recall@1"] = float(np.mean(hit_rate_at_k(rel, ones, 1)))
    out["Hit@5"] = float(np.mean(hit_rate_at_k(rel, ones, min(5, kk))))
    out[f"mAP@{k}"] = float(np.mean(average_precision_at_k(rel, ones, kk)))
    return out
