"""What a shopper is shown: the served lists, and the serving exclusions for other settings.

``lookalike evaluate`` measures the served lists by default (``--raw``: the raw search):

- the workspace's own setting (its model and head, exact cosine, no compression) is measured
  on the lists the :class:`~lookalike.recommend.similar.Recommender` serves, taken from it
  (the top-K table, or its deeper search when K is above the table's): self, other variants
  of the group and near-duplicates above the generation's threshold left out, exactly as
  served;
- any other compared setting gets the same exclusions (:class:`ServedRule`) applied to its
  own ranking, walked deeper until ``k`` pass: group ids from the catalog, near-duplicates
  judged on the *served* vectors with the generation's threshold, so every setting hides the
  same pairs.

The raw search is measured instead (``raw_reason`` says why, the report repeats it) with
``--raw``; for photo queries (``--queries-from``: bare images, for which the service excludes
nothing, the catalog's copy of a photo being the answer); and under identity truth (same
product / group): the relevant items are then the query's own variants and copies, which the
served lists leave out by design.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lookalike.catalog.models import Product
from lookalike.evaluate.compare import Setting, search_setting
from lookalike.evaluate.hybrid import HybridRanking
from lookalike.recommend.exclusions import Exclusions
from lookalike.recommend.results import table_filters
from lookalike.workspace import Workspace

__all__ = [
    "ServedContext",
    "ServedRule",
    "served_lists",
    "exclude_served",
    "lists_note",
    "raw_reason",
]

# the first search over-fetches this many times k (like the table); short rows go deeper
OVERFETCH = 3
# (query rows, depth) -> (scores, rows) of a raw search, the query itself still in
Search = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ServedRule:
    """The generation's exclusions over the evaluation's rows."""

    exclusions: Exclusions
    groups: np.ndarray  # group id by row ("" = none), object
    vectors: np.ndarray  # the served product vectors by row, for near-duplicate cosines

    @classmethod
    def of(cls, ws: Workspace, ids: Sequence[str], groups: Sequence[str]) -> ServedRule:
        """The rule ``ws`` serves with, over rows ``ids`` (their ``groups``)."""
        vectors = ws.product_vectors.load(mmap=False).take(list(ids)).vectors
        return cls(
            table_filters(ws.manifest()).exclusions,
            np.asarray(list(groups), dtype=object),
            np.asarray(vectors, dtype=np.float32),
        )

    def keep(self, row: int, candidates: np.ndarray) -> np.ndarray:
        """Which ``candidates`` (rows, -1 = none) the service would show for ``row``."""
        cosines = self.vectors[np.maximum(candidates, 0)] @ self.vectors[row]
        return self.exclusions.keep_row(row, candidates, cosines, self.groups)


def served_lists(
    ws: Workspace, ids: Sequence[str], query_rows: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, scores)`` ``(len(query_rows), k)`` of what the Recommender serves for each
    query row (a product of ``ids``); -1 / -inf pad a shorter list."""
    from lookalike.recommend.similar import Recommender

    row_of = {pid: i for i, pid in enumerate(ids)}
    rows = np.full((len(query_rows), k), -1, dtype=np.int64)
    scores = np.full((len(query_rows), k), -np.inf, dtype=np.float32)
    with Recommender(ws) as rec:
        for i, q in enumerate(query_rows):
            served = [r for r in rec.similar(ids[int(q)], k) if r.product.id in row_of]
            rows[i, : len(served)] = [row_of[r.product.id] for r in served]
            scores[i, : len(served)] = [r.score for r in served]
    return rows, scores


def exclude_served(
    rule: ServedRule, query_rows: np.ndarray, k: int, search: Search, total: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, scores)`` of ``search``'s ranking with the served exclusions applied: the
    first ``k`` kept per query, searched ``OVERFETCH * k`` deep, then the whole catalog
    (``total`` rows) for the queries that came up short."""
    rows = np.full((len(query_rows), k), -1, dtype=np.int64)
    scores = np.full((len(query_rows), k), -np.inf, dtype=np.float32)
    todo = np.arange(len(query_rows))
    depth = min(total, OVERFETCH * k + 1)
    while len(todo):
        found_scores, found_rows = search(np.asarray(query_rows)[todo], depth)
        short = []
        for j, i in enumerate(todo):
            cands = found_rows[j]
            kept = np.flatnonzero(rule.keep(int(query_rows[i]), cands))[:k]
            rows[i, : len(kept)] = cands[kept]
            scores[i, : len(kept)] = found_scores[j][kept]
            if len(kept) < k and depth < total and (cands >= 0).all():
                short.append(i)
        todo, depth = np.asarray(short, dtype=np.int64), total
    return rows, scores


@dataclass(frozen=True)
class ServedContext:
    """What ``run_evaluation`` needs to measure served lists for any setting."""

    ws: Workspace
    ids: list[str]
    rule: ServedRule
    seed: int = 0  # of compressed settings' codecs, as for their raw search

    @classmethod
    def of(
        cls, ws: Workspace, ids: list[str], products: dict[str, Product], seed: int = 0
    ) -> ServedContext:
        """The context of ``ws`` over the evaluated rows ``ids``."""
        groups = [products[i].group_id for i in ids]
        return cls(ws, ids, ServedRule.of(ws, ids, groups), seed)

    @property
    def description(self) -> dict[str, Any]:
        """What the served lists leave out, for the report."""
        rule = self.rule.exclusions
        return {"exclude_group": rule.exclude_group, "near_duplicate": rule.near_duplicate}

    def lists(
        self,
        setting: Setting,
        query_rows: np.ndarray,
        k: int,
        vectors: np.ndarray,
        hybrid: HybridRanking | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, scores)``: the Recommender's own lists for the workspace's setting, the
        setting's ranking with the served exclusions for any other."""
        if setting == Setting():
            return served_lists(self.ws, self.ids, query_rows, k)

        def search(rows: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
            if hybrid is not None:
                scores, found, _ = hybrid.search(rows, depth - 1)
            else:
                scores, found, *_ = search_setting(
                    vectors, rows, depth - 1, setting, seed=self.seed
                )
            return scores, found

        return exclude_served(self.rule, query_rows, k, search, len(self.ids))


def raw_reason(raw: bool, photos: bool, truth: str) -> str:
    """Why the raw search is measured ("" = the served lists are), see the module doc."""
    if raw:
        return "--raw"
    if photos:
        return "photo queries: the service excludes nothing for a photo"
    if truth.startswith("same product"):
        return "identity truth: the relevant items are the variants the served lists leave out"
    return ""


def lists_note(extra: dict[str, Any]) -> str:
    """One phrase for the report: which lists were measured (``Evaluation.extra``)."""
    if extra.get("lists") != "served":
        why = extra.get("raw_reason")
        return "raw search lists (only the query left out" + (f"; {why})" if why else ")")
    rule = extra.get("exclusions") or {}
    left_out = ["the query"] + (["its group's variants"] if rule.get("exclude_group") else [])
    if rule.get("near_duplicate") is not None:
        left_out.append(f"near-duplicates (cosine > {rule['near_duplicate']:.4g})")
    return f"served lists ({', '.join(left_out)} left out)"
