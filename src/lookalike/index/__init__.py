"""Vector storage and nearest-neighbour search."""

from lookalike.index.base import ExactIndex, SearchResult, VectorIndex
from lookalike.index.exact import iter_knn_exact, knn_exact, topk_rows
from lookalike.index.vectors import VectorSet

__all__ = [
    "ExactIndex",
    "SearchResult",
    "VectorIndex",
    "VectorSet",
    "iter_knn_exact",
    "knn_exact",
    "topk_rows",
]
