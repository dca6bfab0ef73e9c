"""The default exclusion rule, in one place: what is never recommended for a query product.

A candidate is excluded when it is

- the query product itself (or an id the caller leaves out),
- another variant of the query's group (same ``group_id``; sizes and colours of one item),
- a near-duplicate: its image cosine to the query is above ``near_duplicate`` (the same photo
  under another SKU).

The build applies it to the top-K table (``topk.py``), the search path to every candidate it
walks (``search.py``); both call ``Exclusions.keep`` on arrays of candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lookalike.errors import ConfigError

__all__ = ["DEFAULT_NEAR_DUPLICATE", "Exclusions"]

DEFAULT_NEAR_DUPLICATE = 0.97


@dataclass(frozen=True)
class Exclusions:
    """Group and near-duplicate exclusion (``near_duplicate=None`` keeps near-duplicates)."""

    exclude_group: bool = True
    near_duplicate: float | None = DEFAULT_NEAR_DUPLICATE

    def __post_init__(self) -> None:
        if self.near_duplicate is not None and not -1.0 <= self.near_duplicate <= 1.0:
            raise ConfigError(f"near_duplicate must be in [-1, 1], got {self.near_duplicate}")

    def keep(
        self,
        *,
        query_group: str,
        groups: np.ndarray,
        cosines: np.ndarray,
        is_self: np.ndarray,
    ) -> np.ndarray:
        """Boolean mask of the candidates that stay.

        ``groups`` are the candidates' group ids (``""`` = none), ``cosines`` their image
        cosine to the query, ``is_self`` marks the query itself (and ids left out by the caller).
        """
        keep = ~np.asarray(is_self, dtype=bool)
        if self.exclude_group and query_group:
            keep &= np.asarray(groups, dtype=object) != query_group
        if self.near_duplicate is not None:
            keep &= np.asarray(cosines) <= self.near_duplicate
        return keep

    def keep_row(
        self, row: int, candidates: np.ndarray, cosines: np.ndarray, group_of: np.ndarray
    ) -> np.ndarray:
        """``keep`` for one row of a top-K table: ``candidates`` are row numbers (-1: none)
        into the same ids as ``row``, ``group_of`` their group ids by row."""
        return (candidates >= 0) & self.keep(
            query_group=group_of[row],
            groups=group_of[np.maximum(candidates, 0)],
            cosines=cosines,
            is_self=candidates == row,
        )
