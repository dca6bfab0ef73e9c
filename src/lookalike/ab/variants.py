"""What each experiment variant serves, and the per-shop runtime the routes call.

Kinds (``experiments.VARIANT_KINDS``):

- ``image``: visual similarity, ``Recommender.similar`` (the precomputed top-K);
- ``attributes``: same category, nearest price, shared attributes (``AttributeRecommender``);
- ``hybrid``: ``Recommender.similar`` with image + title + attribute ``Weights`` (params);
- ``popular``: the most-clicked products of the query's category over the last ``days``
  (param, default 30) from the event log; products without clicks follow in attribute order, so
  a shop with no clicks yet gets the ``attributes`` list.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.ab.events import EventLog
from lookalike.ab.experiments import (
    HOLDOUT,
    HYBRID_DEFAULT_WEIGHTS,
    Assignment,
)
from lookalike.ab.store import ExperimentStore
from lookalike.errors import ConfigError
from lookalike.recommend.attributes import AttributeRecommender
from lookalike.recommend.filters import Weights
from lookalike.recommend.similar import Recommendation, Recommender

__all__ = ["ShopExperiments", "VariantRecommenders", "Served"]

POPULAR_TTL_S = 60.0  # click counts are re-read at most once a minute


class VariantRecommenders:
    """The recommenders behind the variant kinds, for one shop.

    Methods take the shop's current ``Recommender`` (the service swaps it on reload); the
    attribute snapshot is kept per recommender, so a reload rebuilds it from the new catalog.
    """

    def __init__(self, shop: str, events: EventLog):
        self.shop = shop
        self.events = events
        self._lock = threading.Lock()
        self._popular: dict[float, tuple[float, dict[str, int]]] = {}
        self._attributes: weakref.WeakKeyDictionary[Recommender, AttributeRecommender] = (
            weakref.WeakKeyDictionary()
        )

    def attributes(self, rec: Recommender) -> AttributeRecommender:
        """The attribute recommender over ``rec``'s catalog (built on first use)."""
        with self._lock:
            found = self._attributes.get(rec)
            if found is None:
                found = self._attributes[rec] = AttributeRecommender(rec.store)
            return found

    def similar(
        self,
        rec: Recommender,
        kind: str,
        product_id: str,
        k: int,
        params: Mapping[str, Any] | None = None,
    ) -> list[Recommendation]:
        """The ``k`` recommendations of ``kind`` for ``product_id``."""
        params = params or {}
        if kind == "image":
            return rec.similar(product_id, k)
        if kind == "attributes":
            rec.product(product_id)  # NotFoundError for an unknown id
            return self.attributes(rec).similar(product_id, k)
        if kind == "hybrid":
            weights = Weights.parse(dict(params) or HYBRID_DEFAULT_WEIGHTS)
            return rec.similar(product_id, k, weights=weights)
        if kind == "popular":
            return self.popular(rec, product_id, k, days=float(params.get("days", 30)))
        raise ConfigError(f"unknown variant kind {kind!r}")

    def clear_cache(self) -> None:
        """Forget the cached click counts (they are re-read at most once a minute)."""
        with self._lock:
            self._popular.clear()

    def _click_counts(self, days: float) -> dict[str, int]:
        now = time.monotonic()
        with self._lock:
            cached = self._popular.get(days)
            if cached is None or now - cached[0] > POPULAR_TTL_S:
                since = time.time() - days * 86400.0
                cached = (now, self.events.click_counts(self.shop, since=since))
                self._popular[days] = cached
            return cached[1]

    def popular(
        self, rec: Recommender, product_id: str, k: int, *, days: float = 30.0
    ) -> list[Recommendation]:
        """Most-clicked in ``product_id``'s category, then attribute order; score = the
        product's share of the category's clicks."""
        rec.product(product_id)
        attrs = self.attributes(rec)
        counts = self._click_counts(days)
        score = attrs.scores(product_id)
        same = attrs.same_category(product_id)
        clicks = np.array([counts.get(pid, 0) for pid in attrs.ids], dtype=np.float64) * same
        clicks[score < 0] = 0.0  # the query itself
        total = clicks.sum()
        order = np.lexsort((-score, -clicks))  # primary key last: clicks, then attribute score
        out: list[Recommendation] = []
        for row in order.tolist():
            if len(out) == k:
                break
            if score[row] < 0:
                continue
            share = float(clicks[row] / total) if total else 0.0
            out.append(Recommendation(len(out) + 1, attrs.product_at(row), share))
        return out


@dataclass(frozen=True)
class Served:
    """A response: the recommendations and the experiment/variant they are attributed to."""

    recommendations: list[Recommendation]
    experiment: str = ""
    variant: str = ""


class ShopExperiments:
    """Per-shop runtime: picks the visitor's variant, serves it, checks event attribution.

    The experiments file (``<workspace>/experiments.json``) is re-read whenever it changes, so
    ``lookalike ab pause`` from another process takes effect on the next request.
    """

    def __init__(self, root: str | os.PathLike[str], shop: str, events: EventLog):
        self.shop = shop
        self.store = ExperimentStore(Path(root))
        self.variants = VariantRecommenders(shop, events)

    def assign(self, visitor: str) -> Assignment | None:
        """The visitor's assignment, or None when no experiment is running or paused."""
        return self.store.assign(visitor)

    def similar(self, rec: Recommender, product_id: str, visitor: str, k: int = 10) -> Served:
        """Recommendations for ``product_id`` as ``visitor``'s variant shows them.

        No active experiment: image similarity, unattributed. Holdout: an empty list,
        attributed to ``holdout``. Paused: the control's list, unattributed.
        """
        assignment = self.assign(visitor)
        if assignment is None:
            return Served(rec.similar(product_id, k))
        if assignment.variant == HOLDOUT:
            rec.product(product_id)  # still NotFoundError for an unknown id
            return Served([], assignment.experiment, HOLDOUT)
        recs = self.variants.similar(rec, assignment.kind, product_id, k, assignment.params)
        return Served(recs, assignment.experiment, assignment.variant)

    def attribute(self, experiment: str, variant: str, visitor: str) -> tuple[str, str]:
        """The ``(experiment, variant)`` an incoming event may carry: what the client says only
        when it is what this visitor is assigned now, else ``("", "")``. A client cannot
        credit a variant it was not shown, and nothing is attributed while paused."""
        if not experiment:
            return "", ""
        assignment = self.assign(visitor)
        if (
            assignment is None
            or assignment.experiment != experiment
            or assignment.variant != variant
        ):
            return "", ""
        return experiment, variant
