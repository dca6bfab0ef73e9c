"""Training data: one row per (product, image) with the backbone embedding, and the splits.

Rows come from the workspace's embedding cache (``embeddings/<model_key>.npy``, keyed by the
sha256 of the image bytes), so training never re-embeds an image. Splits are by *unit*: the
product's ``group_id`` when it has one, else the product, so the photos of one product (or the
variants of one item group) never sit on both sides of a split.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from lookalike.errors import ConfigError, WorkspaceError
from lookalike.workspace import Workspace

__all__ = ["TrainData", "Splits", "held_out_rows", "load_workspace_data", "make_splits"]


@dataclass
class TrainData:
    """Image-level rows. Empty strings mean "unknown" (no category, no group)."""

    vectors: np.ndarray  # float32 (N, D), L2-normalised backbone embeddings
    product: np.ndarray  # str (N,)
    category: np.ndarray  # str (N,)
    group: np.ndarray  # str (N,)
    title: np.ndarray  # str (N,)
    path: np.ndarray | None = None  # str (N,): image file (for backbone fine-tuning)

    def __post_init__(self) -> None:
        n = len(self.vectors)
        if self.path is None:
            self.path = np.full(n, "", dtype=object)
        for name in ("product", "category", "group", "title", "path"):
            value = np.asarray(getattr(self, name), dtype=object)
            if value.shape != (n,):
                raise ConfigError(f"{name} has shape {value.shape}, expected ({n},)")
            setattr(self, name, value)
        self.vectors = np.asarray(self.vectors, dtype=np.float32)

    @classmethod
    def from_labels(
        cls,
        vectors: np.ndarray,
        *,
        product: list[str] | np.ndarray,
        category: list[str] | np.ndarray | None = None,
        group: list[str] | np.ndarray | None = None,
        title: list[str] | np.ndarray | None = None,
    ) -> TrainData:
        """Rows from arrays (benchmarks, tests); missing columns are empty strings."""
        n = len(vectors)
        blank = np.full(n, "", dtype=object)
        return cls(
            vectors,
            np.asarray(product, dtype=object),
            blank if category is None else np.asarray(category, dtype=object),
            blank.copy() if group is None else np.asarray(group, dtype=object),
            blank.copy() if title is None else np.asarray(title, dtype=object),
        )

    def __len__(self) -> int:
        return len(self.vectors)

    def subset(self, rows: np.ndarray) -> TrainData:
        """The rows ``rows`` (indices), in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return TrainData(
            self.vectors[rows],
            self.product[rows],
            self.category[rows],
            self.group[rows],
            self.title[rows],
            self.path[rows] if self.path is not None else None,
        )

    @property
    def units(self) -> np.ndarray:
        """The split unit of each row: ``g:<group_id>`` or ``p:<product id>``."""
        return np.array(
            [f"g:{g}" if g else f"p:{p}" for p, g in zip(self.product, self.group, strict=True)],
            dtype=object,
        )

    @property
    def has_identity(self) -> bool:
        """Whether some product has several images (instance retrieval is measurable)."""
        _, counts = np.unique(self.product.astype(str), return_counts=True)
        return bool((counts > 1).any())

    @property
    def categories(self) -> list[str]:
        """Distinct non-empty categories, sorted."""
        return sorted({c for c in self.category if c})


def load_workspace_data(ws: Workspace) -> tuple[TrainData, str]:
    """The rows of a built workspace and the model key of its embeddings."""
    manifest = ws.manifest()
    key = str(manifest.get("model_key") or manifest["model"])
    if not ws.embeddings(key).exists():
        raise WorkspaceError(f"no {key} embeddings in {ws.embeddings_dir}: build the workspace")
    cache = ws.embeddings(key).load(mmap=False)
    rows: list[int] = []
    product, category, group, title, paths = [], [], [], [], []
    with ws.open_store() as store:
        records = store.image_records()
        row_of = cache.row_of()
        for p in store.iter_products():
            shas = {
                str(records[s].sha256): s
                for s in reversed(p.images)
                if s in records and records[s].status == "ok" and records[s].sha256 in row_of
            }
            for sha, source in reversed(shas.items()):
                paths.append(str(ws.image_file(source)))
                rows.append(row_of[sha])
                product.append(p.id)
                category.append(p.category)
                group.append(p.group_id)
                # an invented title ("Dress <stem>") would leak the category into mining
                title.append("" if p.title_invented else p.title)
    if not rows:
        raise WorkspaceError(f"{ws.root} has no embedded images to train on")
    data = TrainData.from_labels(
        cache.vectors[np.asarray(rows)],
        product=product,
        category=category,
        group=group,
        title=title,
    )
    data.path = np.asarray(paths, dtype=object)
    return data, key


@dataclass
class Splits:
    """Row indices. ``holdout_categories`` rows belong to categories never trained on."""

    train: np.ndarray
    val: np.ndarray
    holdout_products: np.ndarray
    holdout_categories: np.ndarray

    def sizes(self) -> dict[str, int]:
        """Rows per split."""
        return {k: int(len(getattr(self, k))) for k in self.__dataclass_fields__}


def held_out_rows(splits: Splits) -> Iterator[tuple[str, np.ndarray]]:
    """The held-out sets the adoption gate judges, by report name, when they hold at least
    two rows (a leave-one-out metric needs a neighbour)."""
    for name, rows in (
        ("held_out_products", splits.holdout_products),
        ("held_out_categories", splits.holdout_categories),
    ):
        if len(rows) >= 2:
            yield name, rows


def _take_units(units: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A seeded random ``fraction`` of the distinct units (at least one when fraction > 0)."""
    distinct = np.array(sorted(set(units)), dtype=object)
    if fraction <= 0 or len(distinct) < 2:
        return np.zeros(0, dtype=object)
    count = min(len(distinct) - 1, max(1, round(fraction * len(distinct))))
    return rng.choice(distinct, size=count, replace=False)


def make_splits(
    data: TrainData,
    *,
    seed: int,
    val_fraction: float,
    holdout_fraction: float,
    holdout_categories: float = 0.0,
    held_categories: list[str] | None = None,
) -> Splits:
    """Seeded splits: whole categories held out first (needs >= 3 categories, keeps >= 2),
    then units (products / item groups) held out, then a validation share of the rest."""
    rng = np.random.default_rng(seed)
    rows = np.arange(len(data))
    held_cats: set[str] = set()
    cats = data.categories
    if held_categories:  # chosen by the caller (the hardest ones, see train.gate)
        held_cats = set(held_categories) & set(cats)
    elif holdout_categories > 0 and len(cats) >= 3:
        count = min(len(cats) - 2, max(1, round(holdout_categories * len(cats))))
        held_cats = set(rng.choice(np.array(cats, dtype=object), size=count, replace=False))
    in_held_cat = np.array([c in held_cats for c in data.category], dtype=bool)
    units = data.units
    # a unit spanning a held-out category goes with it entirely
    held_cat_units = set(units[in_held_cat])
    in_held_cat |= np.array([u in held_cat_units for u in units], dtype=bool)
    rest = rows[~in_held_cat]
    held_units = set(_take_units(units[rest], holdout_fraction, rng))
    is_held = np.array([u in held_units for u in units[rest]], dtype=bool)
    remaining = rest[~is_held]
    val_units = set(_take_units(units[remaining], val_fraction, rng))
    is_val = np.array([u in val_units for u in units[remaining]], dtype=bool)
    return Splits(
        train=remaining[~is_val],
        val=remaining[is_val],
        holdout_products=rest[is_held],
        holdout_categories=rows[in_held_cat],
    )
