"""Triplet mining from the catalog itself, without category labels.

Positives of an anchor: other images of the same product, products of the same item group,
products with near-identical titles (MiniLM cosine above a threshold), and its mutual nearest
neighbour in the current embedding. Negatives are *semi-hard*: among the anchor's nearest
neighbours, those with ``s(a,p) - band <= s(a,n) < s(a,p)`` that share neither its product nor
its group and are not one of its positives. Mined again every epoch with the current head.
Only top-``candidates`` neighbour lists are used, never the N x N similarity matrix.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from lookalike.index.exact import knn_exact

__all__ = [
    "Triplets",
    "identity_positives",
    "title_positives",
    "mutual_nearest_neighbours",
    "merge_positives",
    "mine_triplets",
]


@dataclass
class Triplets:
    """Row indices of (anchor, positive, negative), and how many anchors found no negative."""

    anchor: np.ndarray
    positive: np.ndarray
    negative: np.ndarray
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.anchor)


def _members(labels: np.ndarray) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        if label:
            groups[str(label)].append(i)
    return groups


def identity_positives(product: np.ndarray, group: np.ndarray) -> list[set[int]]:
    """Per row: the other rows of the same product or the same (non-empty) item group."""
    positives: list[set[int]] = [set() for _ in range(len(product))]
    for labels in (product, group):
        for rows in _members(labels).values():
            if len(rows) > 1:
                for i in rows:
                    positives[i].update(r for r in rows if r != i)
    return positives


def title_positives(
    title_vectors: np.ndarray, product: np.ndarray, threshold: float, candidates: int = 20
) -> list[set[int]]:
    """Per row: rows of *other* products whose title embedding has cosine >= ``threshold``.

    Rows whose title vector is all zeros (no usable title) get none."""
    n = len(title_vectors)
    positives: list[set[int]] = [set() for _ in range(n)]
    if n < 2:
        return positives
    has_title = np.linalg.norm(title_vectors, axis=1) > 0
    scores, idx = knn_exact(title_vectors, title_vectors, min(candidates, n - 1), exclude_self=True)
    for i in np.flatnonzero(has_title):
        for s, j in zip(scores[i], idx[i], strict=True):
            if j >= 0 and s >= threshold and has_title[j] and product[j] != product[i]:
                positives[i].add(int(j))
                positives[int(j)].add(int(i))
    return positives


def mutual_nearest_neighbours(vectors: np.ndarray) -> np.ndarray:
    """``partner[i] = j`` when i and j are each other's nearest neighbour, else -1."""
    n = len(vectors)
    if n < 2:
        return np.full(n, -1, dtype=np.int64)
    _, idx = knn_exact(vectors, vectors, 1, exclude_self=True)
    nn = idx[:, 0]
    rows = np.arange(n)
    mutual = (nn >= 0) & (nn[np.maximum(nn, 0)] == rows)
    return np.where(mutual, nn, -1)


def merge_positives(*sets: list[set[int]]) -> list[set[int]]:
    """Row-wise union of positive sets."""
    return [set().union(*row) for row in zip(*sets, strict=True)]


def mine_triplets(
    vectors: np.ndarray,
    positives: list[set[int]],
    product: np.ndarray,
    group: np.ndarray,
    *,
    band: float,
    candidates: int,
    rng: np.random.Generator,
    category: np.ndarray | None = None,
) -> Triplets:
    """One semi-hard triplet per anchor that has a positive and a negative in the band.

    ``vectors`` are the current (L2-normalised) embeddings of the rows. ``category``: when
    given, an anchor without an identity/title/neighbour positive takes a seeded random row of
    its own (non-empty) category, and no negative shares the anchor's category: triplets from
    categories alone, for catalogs without product identities.
    """
    members = _members(category) if category is not None else {}
    n = len(vectors)
    empty = np.zeros(0, dtype=np.int64)
    if n < 3:
        return Triplets(empty, empty, empty, dropped=sum(1 for p in positives if p))
    scores, idx = knn_exact(vectors, vectors, min(candidates, n - 1), exclude_self=True)
    anchors, pos, neg = [], [], []
    dropped = 0
    for a in range(n):
        same = members.get(str(category[a]), []) if category is not None and category[a] else []
        if positives[a]:
            choices = sorted(positives[a])
        elif len(same) > 1:
            choices = [r for r in same if r != a]
        else:
            continue
        p = choices[int(rng.integers(len(choices)))]
        s_ap = float(vectors[a] @ vectors[p])
        row_idx, row_s = idx[a], scores[a]
        ok = (row_idx >= 0) & (row_s < s_ap) & (row_s >= s_ap - band)
        ok &= product[np.maximum(row_idx, 0)] != product[a]
        if group[a]:
            ok &= group[np.maximum(row_idx, 0)] != group[a]
        if same and category is not None:
            ok &= category[np.maximum(row_idx, 0)] != category[a]
        cands = [int(j) for j in row_idx[ok] if int(j) not in positives[a]]
        if not cands:
            dropped += 1
            continue
        anchors.append(a)
        pos.append(p)
        neg.append(cands[int(rng.integers(len(cands)))])
    as_array = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    return Triplets(as_array(anchors), as_array(pos), as_array(neg), dropped)
