"""Duplicate listings: products that show the same photo, or a near-identical one (re-encoded,
resized, recompressed), under different ids. A shop uses the report to clean its catalog.

Two products are linked when one of their images has the same bytes (sha256 in the store) or
when their product vectors' cosine is at least ``threshold`` (default 0.97, the near-duplicate
threshold of recommendations). Variants of one group (same ``group_id``) are not duplicates.
Clusters are the connected components of those links (union-find), largest first. The search
is a blocked exact top-k per product, never the N x N matrix.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lookalike.index.exact import knn_exact
from lookalike.recommend.exclusions import DEFAULT_NEAR_DUPLICATE
from lookalike.recommend.similar import Recommender

__all__ = ["DuplicateCluster", "find_duplicates"]

_NEIGHBOURS = 10  # candidates per product: a cluster larger than this is still found (chains)


@dataclass
class DuplicateCluster:
    """Products that share a photo; ``pairs`` says why each link was made."""

    ids: list[str]
    pairs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"size": len(self.ids), "ids": self.ids, "pairs": self.pairs}


class _Union:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, a: str) -> str:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def join(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def find_duplicates(
    rec: Recommender, threshold: float = DEFAULT_NEAR_DUPLICATE
) -> list[DuplicateCluster]:
    """Clusters of duplicate listings in the shop's built catalog, largest first."""
    vectors = rec.all_vectors
    products = rec.products(list(rec.store.ids()))
    group = {pid: p.group_id for pid, p in products.items()}
    links: dict[tuple[str, str], dict[str, Any]] = {}

    def link(a: str, b: str, why: str, score: float) -> None:
        if a == b or a not in products or b not in products:  # deleted since the build
            return
        if group.get(a) and group.get(a) == group.get(b):
            return
        key = (min(a, b), max(a, b))
        if key not in links:
            links[key] = {"a": key[0], "b": key[1], "reason": why, "score": round(score, 4)}

    by_sha: dict[str, list[str]] = defaultdict(list)
    records = rec.store.image_records()
    for pid, product in products.items():
        for source in product.images:
            record = records.get(source)
            if record is not None and record.sha256 and record.status == "ok":
                by_sha[record.sha256].append(pid)
    for shared in by_sha.values():
        for other in dict.fromkeys(shared[1:]):
            link(shared[0], other, "same image bytes", 1.0)
    if len(vectors) > 1:
        x = np.asarray(vectors.vectors, np.float32)
        scores, rows = knn_exact(x, x, min(_NEIGHBOURS, len(x) - 1), exclude_self=True)
        for i, (row_scores, row_ids) in enumerate(zip(scores, rows, strict=True)):
            for s, j in zip(row_scores, row_ids, strict=True):
                if j >= 0 and s >= threshold:
                    link(vectors.ids[i], vectors.ids[int(j)], "near-identical photo", float(s))
    union = _Union()
    for a, b in links:
        union.join(a, b)
    members: dict[str, list[str]] = defaultdict(list)
    for pid in sorted({p for pair in links for p in pair}):
        members[union.find(pid)].append(pid)
    clusters = []
    for ids in members.values():
        inside = set(ids)
        pairs = [v for k, v in sorted(links.items()) if k[0] in inside]
        clusters.append(DuplicateCluster(ids, pairs))
    return sorted(clusters, key=lambda c: (-len(c.ids), c.ids[0]))
