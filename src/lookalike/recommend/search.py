"""Ranking a catalog for one query, and walking that ranking deeper until enough pass filters.

A *ranker* maps a depth to the best ``depth`` hits ``(id, score, components | None)``, best
first. ``collect`` asks for 4x more each round (up to every product) until ``need`` hits are
accepted, so a selective filter never returns fewer results than exist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from lookalike.catalog.models import Product
from lookalike.index.base import VectorIndex
from lookalike.index.exact import knn_exact
from lookalike.index.vectors import VectorSet
from lookalike.recommend.diversity import mmr
from lookalike.recommend.exclusions import Exclusions
from lookalike.recommend.filters import Filters
from lookalike.recommend.overlay import LiveVectors, Overlay

__all__ = [
    "Hit",
    "Ranker",
    "SearchQuery",
    "collect",
    "hybrid_ranker",
    "image_ranker",
    "metric_ranker",
    "overlay_ranker",
    "search_catalog",
]

Hit = tuple[str, float, "dict[str, float] | None"]
Ranker = Callable[[int], list[Hit]]
T = TypeVar("T")
GROWTH = 4


def image_ranker(index: VectorIndex, vector: np.ndarray, weight: float) -> Ranker:
    """Cosine (inner product) ranking through the index."""

    def rank(depth: int) -> list[Hit]:
        scores, ids = index.search(vector[None, :], depth)
        return [
            (pid, weight * float(s), None) for pid, s in zip(ids[0], scores[0], strict=True) if pid
        ]

    return rank


def metric_ranker(vectors: VectorSet, vector: np.ndarray, metric: str, weight: float) -> Ranker:
    """Exact ranking under ``metric`` (score = minus the distance for euclidean/manhattan)."""

    def rank(depth: int) -> list[Hit]:
        scores, rows = knn_exact(vector, vectors.vectors, depth, metric)
        ids = vectors.ids
        return [
            (ids[r], weight * float(s), None)
            for r, s in zip(rows[0], scores[0], strict=True)
            if r >= 0
        ]

    return rank


def overlay_ranker(
    ranked: Ranker, overlay: Overlay, vector: np.ndarray | None, weight: float
) -> Ranker:
    """``ranked`` over the built vectors, without the rows the overlay changed and, for an
    image (cosine) ranking given its ``vector``, with the upserted products merged in."""
    changed = overlay.changed
    extra: list[Hit] = []
    if vector is not None:
        live = overlay.vector_set()
        if len(live):
            scores, rows = knn_exact(vector, live.vectors, len(live))
            extra = [
                (live.ids[r], weight * float(s), None)
                for r, s in zip(rows[0], scores[0], strict=True)
                if r >= 0
            ]

    def rank(depth: int) -> list[Hit]:
        base = [h for h in ranked(depth + len(changed)) if h[0] not in changed]
        merged = sorted([*base[:depth], *extra], key=lambda h: -h[1])
        return merged[:depth]

    return rank


def hybrid_ranker(ids: list[str], total: np.ndarray, comps: dict[str, np.ndarray]) -> Ranker:
    """Ranking by precomputed full-catalog scores, each hit carrying its components."""
    order = np.lexsort((np.arange(len(total)), -total))

    def rank(depth: int) -> list[Hit]:
        return [
            (ids[r], float(total[r]), {n: float(c[r]) for n, c in comps.items()})
            for r in order[:depth]
        ]

    return rank


def collect(
    ranked: Ranker,
    need: int,
    *,
    depth: int,
    total: int,
    accept: Callable[[list[Hit]], list[T]],
) -> list[T]:
    """Accepted hits (at least ``need`` when that many exist), fetching ``depth``, then
    ``GROWTH`` times deeper each round, up to ``total``.

    ``accept`` gets each round's new hits (by id, not offset: a deeper ANN search may reorder
    the head of the list) and returns those that pass, in order.
    """
    depth = max(1, min(total, depth))
    kept: list[T] = []
    seen: set[str] = set()
    while True:
        hits = ranked(depth)
        fresh = [h for h in hits if h[0] not in seen]
        seen.update(h[0] for h in fresh)
        kept.extend(accept(fresh))
        if len(kept) >= need or depth >= total or len(hits) < depth:
            return kept
        depth = min(total, depth * GROWTH)


MMR_POOL = 4  # MMR picks k out of the best 4k eligible products


@dataclass(frozen=True, kw_only=True)
class SearchQuery:
    """One search: its vector, the query product (``None`` for a bare photo) and options."""

    vector: np.ndarray
    k: int
    filters: Filters
    query: Product | None = None
    exclude: frozenset[str] = frozenset()


def search_catalog(
    ranked: Ranker,
    search: SearchQuery,
    vectors: LiveVectors,
    products: Callable[[list[str]], Mapping[str, Product]],
) -> list[tuple[Hit, Product]]:
    """The best ``search.k`` eligible products of a ranking, MMR re-ranked when asked.

    Walks the ranking deeper until ``k`` pass the filters and the exclusions (self, group,
    near-duplicates: ``Exclusions``). Near-duplicates of a *product* are re-uploads to hide;
    for a bare photo or vector the same photo in the catalog is the answer, so they stay.
    """
    filters, query = search.filters, search.query
    eligible = filters.predicate(query)
    rule = filters.exclusions if query is not None else Exclusions(False, None)
    query_group = query.group_id if query is not None else ""
    unit = search.vector / max(float(np.linalg.norm(search.vector)), 1e-12)
    need = search.k if filters.diversity is None else search.k * MMR_POOL

    def accept(fresh: list[Hit]) -> list[tuple[Hit, Product]]:
        # an index saved by a newer build (before this shop is reloaded) may know ids that
        # these vectors do not: skip them rather than fail the request
        found = products([h[0] for h in fresh if h[0] in vectors])
        fresh = [h for h in fresh if h[0] in found]
        if not fresh:
            return []
        # near-duplicates are judged on the image cosine, whatever the ranking metric
        keep = rule.keep(
            query_group=query_group,
            groups=np.array([found[h[0]].group_id for h in fresh], dtype=object),
            cosines=vectors.take([h[0] for h in fresh]).vectors @ unit,
            is_self=np.array([h[0] in search.exclude for h in fresh], dtype=bool),
        )
        return [
            (hit, found[hit[0]])
            for hit, ok in zip(fresh, keep, strict=True)
            if ok and eligible(found[hit[0]])
        ]

    kept = collect(
        ranked,
        need,
        depth=MMR_POOL * (need + len(search.exclude)),
        total=len(vectors),
        accept=accept,
    )
    kept.sort(key=lambda item: -item[0][1])  # stable: keeps the ranker's tie order
    if filters.diversity is not None and len(kept) > 1:
        pool = vectors.take([h[0] for h, _ in kept]).vectors
        order = mmr(np.array([h[1] for h, _ in kept]), pool, search.k, filters.diversity)
        kept = [kept[i] for i in order]
    return kept[: search.k]
