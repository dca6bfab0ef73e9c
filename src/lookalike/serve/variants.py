"""What each experiment variant serves, and the per-shop runtime the routes call.

Kinds (``experiments.VARIANT_KINDS``):

- ``image``: visual similarity, ``Recommender.similar`` (the precomputed top-K);
- ``attributes``: same category, nearest price, shared attributes (``AttributeRecommender``);
- ``popular``: the most-clicked products of the query's category over the last ``days``
  (param, default 30) from the event log; products without clicks follow in attribute order, so
  a shop with no clicks yet gets the ``attributes`` list.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.errors import ConfigError
from lookalike.recommend.attributes import AttributeRecommender
from lookalike.recommend.similar import Recommendation, Recommender
from lookalike.serve.events import EVENTS_FILE, EventLog
from lookalike.serve.experiments import HOLDOUT, Assignment, ExperimentStore

__all__ = ["ShopExperiments", "VariantRecommenders", "Served"]

POPULAR_TTL_S = 60.0  # click counts are re-read at most once a minute


class VariantRecommenders:
    """The recommenders behind the variant kinds, for one shop."""

    def __init__(self, recommender: Recommender, events: EventLog):
        self.recommender = recommender
        self.events = events
        self._popular_lock = threading.Lock()
        self._popular: dict[float, tuple[float, dict[str, int]]] = {}

    @cached_property
    def attributes(self) -> AttributeRecommender:
        """Attribute recommender over the catalog (built on first use)."""
        return AttributeRecommender(self.recommender.store)

    def similar(
        self, kind: str, product_id: str, k: int, params: Mapping[str, Any] | None = None
    ) -> list[Recommendation]:
        """The ``k`` recommendations of ``kind`` for ``product_id``."""
        params = params or {}
        if kind == "image":
            return self.recommender.similar(product_id, k)
        if kind == "attributes":
            self.recommender.product(product_id)  # NotFoundError for an unknown id
            return self.attributes.similar(product_id, k)
        if kind == "popular":
            return self.popular(product_id, k, days=float(params.get("days", 30)))
        raise ConfigError(f"unknown variant kind {kind!r}")

    def _click_counts(self, days: float) -> dict[str, int]:
        now = time.monotonic()
        with self._popular_lock:
            cached = self._popular.get(days)
            if cached is None or now - cached[0] > POPULAR_TTL_S:
                since = time.time() - days * 86400.0
                counts = self.events.click_counts(self.recommender.workspace.shop, since=since)
                cached = (now, counts)
                self._popular[days] = cached
            return cached[1]

    def popular(self, product_id: str, k: int, *, days: float = 30.0) -> list[Recommendation]:
        """Most-clicked in ``product_id``'s category, then attribute order; score = the
        product's share of the category's clicks."""
        self.recommender.product(product_id)
        attrs = self.attributes
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
    """Per-shop runtime: picks the visitor's variant and serves its recommendations.

    The event log is ``<workspace>/events.sqlite`` unless one is given; the experiments file is
    re-read whenever it changes, so ``lookalike ab pause`` takes effect on the next request.
    """

    def __init__(self, recommender: Recommender, events: EventLog | None = None):
        root = Path(recommender.workspace.root)
        self._own_events = events is None
        self.events = events if events is not None else EventLog(root / EVENTS_FILE)
        self.store = ExperimentStore(root)
        self.variants = VariantRecommenders(recommender, self.events)

    def close(self) -> None:
        """Close the event log when this runtime opened it."""
        if self._own_events:
            self.events.close()

    def assign(self, visitor: str) -> Assignment | None:
        """The visitor's assignment, or None when no experiment is running or paused."""
        return self.store.assign(visitor)

    def similar(self, product_id: str, visitor: str, k: int = 10) -> Served:
        """Recommendations for ``product_id`` as ``visitor``'s variant would show them.

        No active experiment: image similarity, unattributed. Holdout: an empty list,
        attributed to ``holdout``. Paused: the control's list, unattributed.
        """
        assignment = self.assign(visitor)
        if assignment is None:
            return Served(self.variants.recommender.similar(product_id, k))
        if assignment.variant == HOLDOUT:
            self.variants.recommender.product(product_id)  # still 404 for an unknown id
            return Served([], assignment.experiment, HOLDOUT)
        recs = self.variants.similar(assignment.kind, product_id, k, assignment.params)
        return Served(recs, assignment.experiment, assignment.variant)
