"""Benchmark the index backends on synthetic 1280-d catalogs: build time, memory, queries/s,
recall@10 against exact search, and the time of the all-products top-K table.

    .venv/bin/python bench/index.py                      # N = 10k and 100k, every backend
    .venv/bin/python bench/index.py --sizes 1000000 --backends exact

Each (N, backend) runs in its own subprocess so that its peak RSS is its own. The vectors are
seeded, clustered and of low intrinsic dimension like real image embeddings: points around
N/100 gaussian centres in a 32-d latent space, mapped to 1280-d by a fixed random matrix, plus
isotropic noise, L2-normalised. Queries are 1,000 fresh points from the same distribution.
The all-products top-K is timed on a sample of rows and extrapolated to N when N > 10k
(marked ``~``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lookalike.index import (  # noqa: E402
    VectorSet,
    index_bytes,
    index_neighbors,
    knn_exact,
    make_index,
)

DIM, LATENT = int(os.environ.get("LOOKALIKE_BENCH_DIM", "1280")), 32  # --dim sets it
QUERIES, K = 1000, 10
TOPK_SAMPLE = 2000  # rows timed for the all-products top-K beyond 10k products
BACKENDS = ("exact", "hnsw", "ivfpq")


def synthetic(
    n: int, seed: int, *, like: int | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """``n`` clustered unit vectors (see the module docstring), built in chunks. Queries pass
    ``like`` = the base's size: the clusters and the map are drawn for that size, so queries
    come from the base's distribution (the number of centres shifts the map's draw). ``out``:
    write into this ``(n, DIM)`` array (a memory map, for sizes that do not fit in RAM)."""
    rng = np.random.default_rng(1234)  # the same centres and map for base and queries
    centres = rng.standard_normal((max((like or n) // 100, 10), LATENT)).astype(np.float32)
    mapping = rng.standard_normal((LATENT, DIM)).astype(np.float32) / np.sqrt(LATENT)
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32) if out is None else out
    for start in range(0, n, 10_000):  # small float32 chunks: generation stays off peak RSS
        m = min(10_000, n - start)
        latent = centres[rng.integers(0, len(centres), m)]
        latent += 0.5 * rng.standard_normal((m, LATENT), dtype=np.float32)
        x = latent @ mapping + 0.05 * rng.standard_normal((m, DIM), dtype=np.float32)
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def rss_bytes() -> int:
    """Current resident set size (Linux)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def worker(n: int, backend: str) -> dict:
    """Measure one backend at one size (runs in a fresh process)."""
    base = synthetic(n, seed=1)
    queries = synthetic(QUERIES, seed=2, like=n)
    vectors = VectorSet([f"p{i}" for i in range(n)], base)
    _, truth = knn_exact(queries, base, K, block=128)  # small blocks: keeps it off the peak RSS
    rss_data = rss_bytes()

    t0 = time.perf_counter()
    index = make_index(backend, vectors)
    build_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as folder:
        index.save(Path(folder))
        size = index_bytes(Path(folder))

    index.search(queries[:10], K)  # warm-up
    t0 = time.perf_counter()
    _, found = index.search(queries, K)
    qps = QUERIES / (time.perf_counter() - t0)
    recall = np.mean([len({f"p{i}" for i in truth[r]} & set(found[r])) / K for r in range(QUERIES)])

    sample = n if n <= 10_000 else TOPK_SAMPLE
    subset = VectorSet(vectors.ids[:sample], base[:sample])
    t0 = time.perf_counter()
    if backend == "exact":
        knn_exact(base[:sample], base, K + 1)  # the blocked table computation, self included
    else:
        index_neighbors(index, subset, K)
    topk_s = (time.perf_counter() - t0) * n / sample
    return {
        "n": n,
        "backend": backend,
        "build_s": build_s,
        "index_bytes": size,
        "data_rss": rss_data,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "qps": qps,
        "recall": float(recall),
        "topk_s": topk_s,
        "topk_extrapolated": sample < n,
        "params": asdict(index.params) if hasattr(index, "params") else {},
    }


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def fmt_seconds(s: float) -> str:
    return f"{s:.2f} s" if s < 120 else f"{s / 60:.1f} min"


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'N':>9}  {'index':<6} {'build':>9} {'index size':>10} {'peak RSS':>9} "
        f"{'(data)':>9} {'queries/s':>10} {'recall@10':>9} {'all-products top-10':>20}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        topk = ("~" if r["topk_extrapolated"] else "") + fmt_seconds(r["topk_s"])
        print(
            f"{r['n']:>9,}  {r['backend']:<6} {fmt_seconds(r['build_s']):>9} "
            f"{fmt_bytes(r['index_bytes']):>10} {fmt_bytes(r['peak_rss']):>9} "
            f"{fmt_bytes(r['data_rss']):>9} {r['qps']:>10,.0f} {r['recall']:>9.3f} {topk:>20}"
        )
    print(
        f"\n{os.environ.get('LOOKALIKE_BENCH_DIM', DIM)}-d clustered synthetic vectors; "
        f"{QUERIES:,} queries in one batch, top-{K}; "
        f"faiss threads: {os.environ.get('OMP_NUM_THREADS', 'all cores')}. (data) = RSS with "
        f"the vectors and ground truth loaded, before the index. ~ = extrapolated from "
        f"{TOPK_SAMPLE:,} rows."
    )
    for r in rows:
        if r["params"]:
            print(f"  {r['backend']} @ {r['n']:,}: {r['params']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated N")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="exact,hnsw,ivfpq")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument(
        "--dim", type=int, default=DIM, help="vector width (1M x 1280 float32 is 5 GB: use 256)"
    )
    parser.add_argument("--worker", nargs=2, metavar=("N", "BACKEND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["LOOKALIKE_BENCH_DIM"] = str(args.dim)  # the workers read it at import
    if args.worker:
        print(json.dumps(worker(int(args.worker[0]), args.worker[1])))
        return
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        for backend in args.backends.split(","):
            print(f"... N={n:,} {backend}", file=sys.stderr, flush=True)
            done = subprocess.run(
                [sys.executable, __file__, "--worker", str(n), backend],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                print(done.stderr[-2000:], file=sys.stderr)
                continue
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
