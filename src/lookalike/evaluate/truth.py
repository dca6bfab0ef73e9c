"""Ground truth from what a catalog already has: which products are relevant to which.

Three kinds (``TruthSpec.parse`` reads the CLI form):

- ``category`` / ``category:D``: relevant = same category, or the same category-path prefix of
  depth ``D`` for paths such as ``"Clothing > Dresses > Maxi"`` (``category:2`` compares
  ``"Clothing > Dresses"``). Products with no category are never relevant and never queried.
- ``identity`` / ``identity:ATTR``: several photos of the same product. Products that share a
  non-empty ``group_id`` (or the catalog attribute/column ``ATTR``, e.g. ``identity:ean``) are
  the same item; the others of its group are the relevant results.
- ``pairs:FILE.csv``: explicit relevant pairs, a CSV with columns ``query_id,relevant_id`` (a
  header row is required; pairs are directed as written; ids not in the catalog are skipped
  and counted).

Every truth also carries a display *group* per product (its category, at the same depth for
category truth) used for the per-category breakdown and the confusion view.
A product is never relevant to itself: retrieval excludes the query.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lookalike.catalog.models import Product
from lookalike.errors import ConfigError

__all__ = [
    "TruthSpec",
    "GroundTruth",
    "category_prefix",
    "build_truth",
    "truth_from_labels",
    "sample_queries",
    "TRUTH_KINDS",
]

TRUTH_KINDS = ("category", "identity", "pairs", "auto")
PATH_SEPARATOR = ">"


@dataclass(frozen=True)
class TruthSpec:
    """What "relevant" means. ``depth`` for category paths, ``key`` for identity, ``path`` for
    pairs."""

    kind: str = "category"
    depth: int | None = None
    key: str = "group_id"
    path: Path | None = None

    def __post_init__(self) -> None:
        if self.kind not in TRUTH_KINDS:
            raise ConfigError(f"unknown truth {self.kind!r}; valid: {', '.join(TRUTH_KINDS)}")
        if self.depth is not None and self.depth < 1:
            raise ConfigError(f"category depth must be at least 1, got {self.depth}")
        if self.kind == "pairs" and self.path is None:
            raise ConfigError("pairs truth needs a CSV file: --truth pairs:relevant.csv")
        if not self.key:
            raise ConfigError("identity truth needs a column name")

    @classmethod
    def parse(cls, text: str) -> TruthSpec:
        """``category``, ``category:2``, ``identity``, ``identity:ean``, ``pairs:file.csv``."""
        kind, _, arg = text.strip().partition(":")
        if kind == "auto" and not arg:  # category; by product for photos with product ids
            return cls("auto")
        if kind == "category":
            if not arg:
                return cls("category")
            try:
                return cls("category", depth=int(arg))
            except ValueError:
                raise ConfigError(f"category depth must be a number, got {arg!r}") from None
        if kind == "identity":
            return cls("identity", key=arg or "group_id")
        if kind == "product" and not arg:  # photo queries: the photo's own product
            return cls("identity")
        if kind == "pairs":
            return cls("pairs", path=Path(arg).expanduser() if arg else None)
        raise ConfigError(
            f"unknown truth {text!r}; valid: category[:depth], identity[:column], "
            "pairs:file.csv, product (photo queries)"
        )

    def resolved(self, by_product: bool = False) -> TruthSpec:
        """``auto`` made concrete: by product when ``by_product`` (photo queries with product
        ids), else by category; other kinds unchanged."""
        if self.kind != "auto":
            return self
        return TruthSpec("identity") if by_product else TruthSpec("category")

    def describe(self) -> str:
        """One line for reports."""
        if self.kind in ("category", "auto"):
            at = f" (path prefix, depth {self.depth})" if self.depth else ""
            return f"same category{at}"
        if self.kind == "identity":
            return f"same product identity (shared {self.key})"
        return f"explicit pairs from {self.path}"


def category_prefix(category: str, depth: int | None) -> str:
    """``"Clothing > Dresses > Maxi"`` at depth 2 -> ``"Clothing > Dresses"`` (whitespace
    around ``>`` normalised); ``depth=None`` keeps the whole path."""
    parts = [p.strip() for p in category.split(PATH_SEPARATOR) if p.strip()]
    if depth is not None:
        parts = parts[:depth]
    return f" {PATH_SEPARATOR} ".join(parts)


def _codes(values: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Integer code per value (-1 for empty), and the sorted distinct names."""
    names = sorted({v for v in values if v})
    index = {name: i for i, name in enumerate(names)}
    return np.array([index.get(v, -1) for v in values], dtype=np.int64), names


@dataclass
class GroundTruth:
    """Relevance between the rows of one vector matrix (``ids[i]`` is row ``i``).

    Either ``labels`` (same non-negative label = relevant) or ``pair_codes`` (sorted
    ``query_row * n + relevant_row``) defines relevance. ``groups`` / ``group_names`` name each
    row's category for breakdowns (-1: none). ``gallery``: when set, only rows
    ``0..gallery-1`` are searchable (the catalog) and the rows after them are outside queries
    (photos, see :mod:`~lookalike.evaluate.photos`): relevant counts are over the gallery only.
    """

    ids: list[str]
    groups: np.ndarray
    group_names: list[str]
    description: str
    labels: np.ndarray | None = None
    pair_codes: np.ndarray | None = None
    notes: dict[str, int] = field(default_factory=dict)
    gallery: int | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        if (self.labels is None) == (self.pair_codes is None):
            raise ConfigError("a ground truth needs exactly one of labels or pairs")
        if len(self.groups) != n or (self.labels is not None and len(self.labels) != n):
            raise ConfigError("ground truth arrays do not match the number of ids")
        if self.labels is not None:
            g = n if self.gallery is None else self.gallery
            searchable = self.labels[:g]
            top = int(self.labels.max(initial=-1)) + 1
            counts = np.bincount(searchable[searchable >= 0], minlength=max(top, 1))
            own = (np.arange(n) < g).astype(np.int64)  # a gallery row does not count itself
            self._n_rel = np.where(self.labels >= 0, counts[np.maximum(self.labels, 0)] - own, 0)
        else:
            assert self.pair_codes is not None
            self._n_rel = np.bincount(self.pair_codes // max(n, 1), minlength=n)[:n]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def searchable(self) -> int:
        """How many rows (from 0) are the catalog that results come from."""
        return len(self.ids) if self.gallery is None else self.gallery

    def eligible(self) -> np.ndarray:
        """Rows that have at least one relevant item: the only meaningful queries (with a
        gallery: only the outside queries)."""
        rows = np.flatnonzero(self._n_rel > 0)
        return rows if self.gallery is None else rows[rows >= self.gallery]

    def n_relevant(self, queries: np.ndarray) -> np.ndarray:
        """How many catalog rows are relevant to each query row (itself excluded)."""
        return self._n_rel[np.asarray(queries, dtype=np.int64)]

    def relevance(self, queries: np.ndarray, results: np.ndarray) -> np.ndarray:
        """Boolean ``(nq, k)``: is ``results[q, j]`` (a row, -1 = none) relevant to
        ``queries[q]``? The query itself is never relevant."""
        queries = np.asarray(queries, dtype=np.int64)
        results = np.asarray(results, dtype=np.int64)
        valid = (results >= 0) & (results != queries[:, None])
        safe = np.maximum(results, 0)
        if self.labels is not None:
            q_labels = self.labels[queries][:, None]
            return valid & (q_labels >= 0) & (self.labels[safe] == q_labels)
        assert self.pair_codes is not None
        codes = queries[:, None] * len(self.ids) + safe
        return valid & np.isin(codes, self.pair_codes)


def sample_queries(truth: GroundTruth, n: int | None, seed: int) -> np.ndarray:
    """A seeded random sample of ``n`` eligible rows (all of them when ``n`` is None or
    larger), sorted so results read in catalog order."""
    eligible = truth.eligible()
    if n is None or n >= len(eligible):
        return eligible
    if n < 1:
        raise ConfigError(f"--queries must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(eligible, size=n, replace=False))


def _identity_value(product: Product, key: str) -> str:
    if key == "group_id":
        return product.group_id.strip()
    value = product.attrs.get(key, "")
    return "" if value is None else str(value).strip()


def _read_pairs(path: Path, row_of: dict[str, int], n: int) -> tuple[np.ndarray, dict[str, int]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            fields = set(reader.fieldnames or [])
            if not {"query_id", "relevant_id"} <= fields:
                raise ConfigError(
                    f"{path} needs the columns query_id,relevant_id (found {sorted(fields)})"
                )
            codes: list[int] = []
            unknown = 0
            for row in reader:
                q = row_of.get((row["query_id"] or "").strip())
                r = row_of.get((row["relevant_id"] or "").strip())
                if q is None or r is None:
                    unknown += 1
                elif q != r:
                    codes.append(q * n + r)
    except OSError as exc:
        raise ConfigError(f"cannot read pairs file {path}: {exc.strerror or exc}") from exc
    pair_codes = np.unique(np.asarray(codes, dtype=np.int64))
    return pair_codes, {"pairs": int(len(pair_codes)), "pairs_unknown_ids": unknown}


def truth_from_labels(
    ids: Sequence[str], labels: Sequence[str], description: str = "same label"
) -> GroundTruth:
    """Relevant = same non-empty label; the label is also the display group. For labeled
    datasets that are not a catalog (benchmarks, a trained head's validation set)."""
    if len(ids) != len(labels):
        raise ConfigError(f"{len(ids)} ids for {len(labels)} labels")
    codes, names = _codes([str(label) for label in labels])
    return GroundTruth(list(ids), codes, names, description, labels=codes)


def build_truth(ids: Sequence[str], products: dict[str, Product], spec: TruthSpec) -> GroundTruth:
    """The ground truth for the vector rows ``ids`` (products looked up by id)."""
    ids = list(ids)
    spec = spec.resolved()
    missing = [pid for pid in ids if pid not in products]
    if missing:
        raise ConfigError(f"{len(missing)} vector ids are not in the catalog, e.g. {missing[0]!r}")
    depth = spec.depth if spec.kind == "category" else None
    categories = [category_prefix(products[pid].category, depth) for pid in ids]
    groups, group_names = _codes(categories)
    if spec.kind == "category":
        return GroundTruth(ids, groups, group_names, spec.describe(), labels=groups)
    if spec.kind == "identity":
        labels, _ = _codes([_identity_value(products[pid], spec.key) for pid in ids])
        if not (np.bincount(labels[labels >= 0], minlength=1) > 1).any():
            raise ConfigError(
                f"no two products share a {spec.key!r} value: identity truth needs several "
                "products per item (set group_id or name another column: identity:COLUMN)"
            )
        return GroundTruth(ids, groups, group_names, spec.describe(), labels=labels)
    assert spec.path is not None
    row_of = {pid: i for i, pid in enumerate(ids)}
    pair_codes, notes = _read_pairs(spec.path, row_of, len(ids))
    if not len(pair_codes):
        raise ConfigError(f"{spec.path} has no pair of products that both have vectors")
    return GroundTruth(
        ids, groups, group_names, spec.describe(), pair_codes=pair_codes, notes=notes
    )
