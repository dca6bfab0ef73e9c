"""Vector storage and nearest-neighbour search: exact, faiss flat / HNSW / IVF-PQ, compression."""

from lookalike.index.base import ExactIndex, SearchResult, VectorIndex
from lookalike.index.coded import CompressedExactIndex
from lookalike.index.compress import VectorCodec
from lookalike.index.exact import iter_knn_exact, knn_exact, topk_rows
from lookalike.index.factory import (
    ANN_THRESHOLD,
    INDEX_KINDS,
    choose_index_kind,
    index_bytes,
    index_neighbors,
    load_index,
    make_index,
    recall_at_k,
)
from lookalike.index.faiss_backends import (
    FlatIndex,
    HnswIndex,
    HnswParams,
    IvfPqIndex,
    IvfPqParams,
)
from lookalike.index.vectors import VectorSet

__all__ = [
    "ANN_THRESHOLD",
    "INDEX_KINDS",
    "CompressedExactIndex",
    "ExactIndex",
    "FlatIndex",
    "HnswIndex",
    "HnswParams",
    "IvfPqIndex",
    "IvfPqParams",
    "SearchResult",
    "VectorCodec",
    "VectorIndex",
    "VectorSet",
    "choose_index_kind",
    "index_bytes",
    "index_neighbors",
    "iter_knn_exact",
    "knn_exact",
    "load_index",
    "make_index",
    "recall_at_k",
    "topk_rows",
]
