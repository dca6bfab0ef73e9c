"""faiss backends: flat inner product, HNSW and IVF-PQ with exact re-ranking.

String ids, tombstones, compaction and saving are shared (``faiss_base.FaissIndex``); each
backend only says how to create its faiss index and how deep to search.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from lookalike.errors import VectorIndexError
from lookalike.index.base import SearchResult
from lookalike.index.faiss_base import FaissIndex, import_faiss, sq_type

__all__ = ["FlatIndex", "HnswIndex", "IvfPqIndex", "HnswParams", "IvfPqParams", "import_faiss"]

_MIN_CANDIDATES = 100  # IVF-PQ candidates re-ranked exactly, at least


class FlatIndex(FaissIndex):
    """faiss brute-force inner product (IndexFlatIP, or ScalarQuantizer storage); on a GPU
    when faiss-gpu is installed and nothing has been removed."""

    kind = "flat"
    backend = "faiss_flat"

    def __init__(self, dim: int, *, use_gpu: bool = True, **kwargs: Any):
        super().__init__(dim, **kwargs)
        self.use_gpu = use_gpu
        self._gpu: Any = None
        self._gpu_ntotal = -1

    def _config(self) -> dict[str, Any]:
        return {"use_gpu": self.use_gpu}

    def _create(self, x: np.ndarray) -> Any:
        faiss = self._faiss
        if self.quantize is None:
            return faiss.IndexFlatIP(self.stored_dim)
        index = faiss.IndexScalarQuantizer(
            self.stored_dim, sq_type(faiss, self.quantize), faiss.METRIC_INNER_PRODUCT
        )
        index.train(x)
        return index

    def _params(self, sel: Any, k: int, effort: int) -> tuple[Any, bool, tuple[Any, ...]]:
        params = self._faiss.SearchParameters()
        if sel is not None:
            params.sel = sel
        return params, True, ()  # brute force: always complete

    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        gpu = self._gpu_index()
        if gpu is None:
            return super().search(queries, k)
        d, labels = gpu.search(self._project(queries), k)
        ids = [[(self._ids[p] or "") if p >= 0 else "" for p in row] for row in labels]
        return d, ids

    def _gpu_index(self) -> Any:
        """A GPU copy for plain searches (selectors are CPU-only); None without faiss-gpu."""
        faiss = self._faiss
        if not (self.use_gpu and hasattr(faiss, "StandardGpuResources")):
            return None
        if self._index is None or self.tombstones:
            return None
        if self._gpu is None or self._gpu_ntotal != self._index.ntotal:
            self._gpu = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, self._index)
            self._gpu_ntotal = self._index.ntotal
        return self._gpu


@dataclass(frozen=True, kw_only=True)
class HnswParams:
    """HNSW graph settings: links per node, build and search beam widths."""

    m: int = 32
    ef_construction: int = 128
    ef_search: int = 128

    def __post_init__(self) -> None:
        if not 4 <= self.m <= 256:
            raise VectorIndexError(f"HNSW m must be between 4 and 256, got {self.m}")
        if self.ef_construction < 1 or self.ef_search < 1:
            raise VectorIndexError("HNSW ef_construction and ef_search must be positive")


class HnswIndex(FaissIndex):
    """faiss IndexHNSWFlat (or IndexHNSWSQ when quantised), inner product."""

    kind = "hnsw"
    backend = "faiss_hnsw"

    def __init__(
        self,
        dim: int,
        *,
        m: int = HnswParams.m,
        ef_construction: int = HnswParams.ef_construction,
        ef_search: int = HnswParams.ef_search,
        **kwargs: Any,
    ):
        super().__init__(dim, **kwargs)
        self.params = HnswParams(m=m, ef_construction=ef_construction, ef_search=ef_search)

    def _config(self) -> dict[str, Any]:
        return asdict(self.params)

    def _create(self, x: np.ndarray) -> Any:
        faiss, p = self._faiss, self.params
        if self.quantize is None:
            index = faiss.IndexHNSWFlat(self.stored_dim, p.m, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexHNSWSQ(
                self.stored_dim, sq_type(faiss, self.quantize), p.m, faiss.METRIC_INNER_PRODUCT
            )
            index.train(x)
        index.hnsw.efConstruction = p.ef_construction
        index.hnsw.efSearch = p.ef_search
        return index

    def _params(self, sel: Any, k: int, effort: int) -> tuple[Any, bool, tuple[Any, ...]]:
        params = self._faiss.SearchParametersHNSW()
        ef = min(max(self.params.ef_search, k) * effort, len(self._ids))
        params.efSearch = max(ef, k)
        if sel is not None:
            params.sel = sel
        return params, ef >= len(self._ids), ()


@dataclass(frozen=True, kw_only=True)
class IvfPqParams:
    """IVF-PQ settings; ``None`` = chosen from the number and dimension of the vectors."""

    nlist: int | None = None
    m: int | None = None
    nbits: int | None = None
    nprobe: int | None = None
    k_factor: int = 100  # candidates re-ranked exactly = k * k_factor (PQ ranks coarsely)
    train_size: int = 30_000  # k-means sample: IVF-PQ training dominates build time
    niter: int = 10  # k-means iterations (coarse and PQ); faiss' default 25 buys little here

    def __post_init__(self) -> None:
        for name in ("nlist", "m", "nbits", "nprobe"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise VectorIndexError(f"IVF-PQ {name} must be positive, got {value}")
        if self.nbits is not None and self.nbits > 16:
            raise VectorIndexError(f"IVF-PQ nbits must be at most 16, got {self.nbits}")
        if self.k_factor < 1 or self.train_size < 1 or self.niter < 1:
            raise VectorIndexError("IVF-PQ k_factor, train_size and niter must be positive")

    def resolved(self, n: int, dim: int) -> IvfPqParams:
        """Concrete values for ``n`` training vectors of ``dim`` dimensions."""
        n = max(n, 1)
        # ~2 sqrt(N) lists, each with >= 39 training points (faiss' k-means minimum).
        nlist = self.nlist or max(1, min(int(2 * math.sqrt(n)), n // 39))
        m = self.m or _pq_subquantizers(dim)
        if dim % m:
            raise VectorIndexError(f"IVF-PQ m={m} must divide the dimension {dim}")
        # 256 centroids per sub-quantiser when there are >= 39 x 256 points, fewer below.
        nbits = self.nbits or min(8, max(1, int(math.log2(max(n / 39, 2)))))
        nprobe = min(self.nprobe or max(1, nlist // 16, min(nlist, 8)), nlist)
        return replace(self, nlist=nlist, m=m, nbits=nbits, nprobe=nprobe)


def _pq_subquantizers(dim: int) -> int:
    """At most 64 sub-quantisers of >= 8 dims, preferring widths that are a multiple of 4
    (faiss' SIMD paths: 1280 dims as 128 x 10 trained 7x slower than as 64 x 20)."""
    divisors = [m for m in range(1, min(64, max(1, dim // 8)) + 1) if dim % m == 0]
    aligned = [m for m in divisors if (dim // m) % 4 == 0]
    return max(aligned or divisors)


class IvfPqIndex(FaissIndex):
    """faiss IndexIVFPQ whose candidates are re-ranked exactly (IndexRefine over the stored
    vectors: float32, or ScalarQuantizer codes when quantised)."""

    kind = "ivfpq"
    backend = "faiss_ivfpq"

    def __init__(self, dim: int, **kwargs: Any):
        fields = {f: kwargs.pop(f) for f in list(kwargs) if f in IvfPqParams.__dataclass_fields__}
        super().__init__(dim, **kwargs)
        self.params = IvfPqParams(**fields)

    def _config(self) -> dict[str, Any]:
        return asdict(self.params)

    def _create(self, x: np.ndarray) -> Any:
        faiss = self._faiss
        p = self.params.resolved(len(x), self.stored_dim)
        self.params = p  # fixed from now on: saved, and reused by compaction
        assert p.nlist and p.m and p.nbits
        quantizer = faiss.IndexFlatIP(self.stored_dim)
        ivf = faiss.IndexIVFPQ(
            quantizer, self.stored_dim, p.nlist, p.m, p.nbits, faiss.METRIC_INNER_PRODUCT
        )
        ivf.cp.niter = p.niter
        ivf.pq.cp.niter = p.niter
        if self.quantize is None:
            refine = faiss.IndexFlatIP(self.stored_dim)
        else:
            refine = faiss.IndexScalarQuantizer(
                self.stored_dim, sq_type(faiss, self.quantize), faiss.METRIC_INNER_PRODUCT
            )
        index = faiss.IndexRefine(ivf, refine)
        rng = np.random.default_rng(0)
        train = x
        if len(x) > p.train_size:
            train = x[np.sort(rng.choice(len(x), p.train_size, replace=False))]
        need = max(2**p.nbits, p.nlist)
        if len(train) < need:
            # A tiny catalog cannot feed k-means: train on jittered copies (search re-ranks
            # exactly, so the codes only have to exist, not to be good).
            reps = -(-need // len(train))
            train = np.tile(train, (reps, 1))
            train = train + 1e-3 * rng.standard_normal(train.shape).astype(np.float32)
        index.train(np.ascontiguousarray(train, dtype=np.float32))
        return index

    def _params(self, sel: Any, k: int, effort: int) -> tuple[Any, bool, tuple[Any, ...]]:
        faiss, p = self._faiss, self.params
        assert p.nlist and p.nprobe
        base = faiss.SearchParametersIVF()
        base.nprobe = min(p.nprobe * effort, p.nlist)
        if sel is not None:
            base.sel = sel
        params = faiss.IndexRefineSearchParameters()
        # At least _MIN_CANDIDATES re-ranked, so small k does not hinge on coarse PQ codes.
        params.k_factor = float(max(p.k_factor, math.ceil(_MIN_CANDIDATES / max(k, 1))) * effort)
        params.base_index_params = base
        return params, base.nprobe >= p.nlist, (base,)
