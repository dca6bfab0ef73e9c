"""Scale-out benchmarks: milvus-lite vs the local index, and Ray vs local embedding.

    .venv/bin/python bench/scale.py store --sizes 20000,50000 --max-rss-gb 9   # insert, memory,
    .venv/bin/python bench/scale.py store --sizes 1000000 --stores local-flat   #   q/s, recall
    .venv/bin/python bench/scale.py profile --n 20000       # where a milvus-lite search spends
    .venv/bin/python bench/scale.py embed --photos 800      # Ray vs local img/s

store: the clustered synthetic 1280-d vectors of ``bench/index.py`` (seeded; the queries are
drawn from the base's clusters), written to a memory-mapped file so a million of them (5.1 GB)
do not sit in RAM twice. Stores: the local indexes (``make_index``: hnsw, flat, ivfpq) and a
milvus-lite collection written by the build's own ``write_generation`` (HNSW M=16,
efConstruction=200, ef=128; or FLAT), then opened by ``MilvusShopStore`` in a *fresh* process,
as the service opens it. Every worker is its own niced subprocess (its peak RSS is its own;
milvus-lite runs inside the process) with a watchdog that stops it, reporting "stopped", when
its anonymous RSS passes ``--max-rss-gb``: the machine is shared and has no swap. Recall@10 is
against exact search; q/s are single queries one after another (as the API sends them), and
"q/s x10" sends 10 queries per call. profile: the milliseconds of one milvus-lite search, split
into the project's call, the plain client call, the engine without gRPC and its faiss search.
embed: the first N clothing photos of ../shared/datasets, embedded by ``embed_images`` (the
local engine) and by ``ray_embed`` on a local 2-CPU Ray instance (start-up timed apart).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from index import DIM, synthetic  # noqa: E402  (bench/index.py)

QUERIES, K, BATCH = 300, 10, 10
STORES = ("local-hnsw", "milvus-hnsw", "milvus-flat")
SHOP = "bench"


def anon_rss() -> int:
    """Anonymous resident memory (the file-backed pages of the memory map are not counted:
    the kernel can drop them)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


ROWS_WRITTEN = [0]  # rows a milvus insert worker has handed to the client so far


def watchdog(cap_gb: float, label: dict[str, Any]) -> None:
    """Stop this process (reporting it) once its anonymous RSS passes ``cap_gb``."""
    started = time.perf_counter()

    def watch() -> None:
        while True:
            rss = anon_rss()
            if rss > cap_gb * 2**30:
                rows, seconds = ROWS_WRITTEN[0], time.perf_counter() - started
                where = f" after {rows:,} rows, {seconds:.0f} s" if rows else ""
                print(json.dumps({**label, "stopped": f"anon RSS {rss / 2**30:.1f} GB{where}"}))
                sys.stdout.flush()
                os._exit(0)
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True).start()


def vectors_file(folder: Path, n: int) -> np.ndarray:
    """The ``n`` base vectors in ``folder/base.npy`` (made once, memory-mapped)."""
    path = folder / "base.npy"
    if not path.exists():
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, DIM))
        synthetic(n, seed=1, out=out)
        out.flush()
        del out
    return np.load(path, mmap_mode="r")


def truth_file(folder: Path, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The queries and their exact top-``K`` rows (computed once, saved beside the base)."""
    from lookalike.index import knn_exact

    queries = synthetic(QUERIES, seed=2, like=len(base))
    path = folder / "truth.npy"
    if not path.exists():
        np.save(path, knn_exact(queries, base, K, block=128)[1])
    return queries, np.load(path)


def recall(truth: np.ndarray, found: list[list[str]]) -> float:
    return float(
        np.mean([len({f"p{i}" for i in t} & set(f)) / K for t, f in zip(truth, found, strict=True)])
    )


def timed_queries(search: Any, queries: np.ndarray) -> tuple[float, float, list[list[str]]]:
    """Single-query q/s, q/s in calls of ``BATCH``, and the single queries' ids."""
    search(queries[:2], K)  # warm-up
    t0 = time.perf_counter()
    found = [search(q[None, :], K)[1][0] for q in queries]
    single = len(queries) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for start in range(0, len(queries), BATCH):
        search(queries[start : start + BATCH], K)
    batched = len(queries) / (time.perf_counter() - t0)
    return single, batched, found


def local_worker(n: int, kind: str, folder: Path) -> dict[str, Any]:
    from lookalike.index import VectorSet, make_index

    base = vectors_file(folder, n)
    queries, truth = truth_file(folder, base)
    before = anon_rss()
    t0 = time.perf_counter()
    index = make_index(kind.removeprefix("local-"), VectorSet([f"p{i}" for i in range(n)], base))
    insert_s = time.perf_counter() - t0
    single, batched, found = timed_queries(index.search, queries)
    return {
        "insert_s": insert_s,
        "load_s": 0.0,
        "store_rss": anon_rss() - before,
        "qps": single,
        "qps_batch": batched,
        "recall": recall(truth, found),
    }


def milvus_insert(n: int, kind: str, folder: Path) -> dict[str, Any]:
    """Write the collection as a build does (``write_generation``: insert, flush, index)."""
    from lookalike.catalog.models import Product
    from lookalike.recommend import milvus_publish
    from lookalike.recommend.milvus import StoreSpec
    from lookalike.recommend.milvus_publish import write_generation

    batches = milvus_publish.row_batches

    def counted(*args: Any, **kwargs: Any) -> Any:  # how far it got, if the watchdog stops it
        for rows in batches(*args, **kwargs):
            yield rows
            ROWS_WRITTEN[0] += len(rows)

    milvus_publish.row_batches = counted

    base = vectors_file(folder, n)
    truth_file(folder, base)
    before = anon_rss()
    spec = StoreSpec("milvus-lite", str(folder / "bench.db"))
    products = [Product(id=f"p{i}") for i in range(n)]
    t0 = time.perf_counter()
    record = write_generation(spec, SHOP, products, base, {}, index_kind=kind.split("-")[1])
    insert_s = time.perf_counter() - t0
    (folder / "collection.txt").write_text(record["name"])
    return {"insert_s": insert_s, "insert_rss": anon_rss() - before}


def milvus_serve(n: int, kind: str, folder: Path) -> dict[str, Any]:
    """Open the collection in a fresh process, as the service does, and query it."""
    from lookalike.recommend.milvus import MilvusShopStore, StoreSpec

    queries, truth = truth_file(folder, vectors_file(folder, n))
    before = anon_rss()
    t0 = time.perf_counter()
    spec = StoreSpec("milvus-lite", str(folder / "bench.db"))
    store = MilvusShopStore(spec, SHOP, collection=(folder / "collection.txt").read_text())
    load_s = time.perf_counter() - t0
    single, batched, found = timed_queries(store.search, queries)
    return {
        "load_s": load_s,
        "store_rss": anon_rss() - before,
        "qps": single,
        "qps_batch": batched,
        "recall": recall(truth, found),
        "index_type": store.index_type,
    }


def profile_worker(n: int, folder: Path) -> dict[str, Any]:
    """Milliseconds per single-query search, layer by layer (milvus-lite internals: bench
    only)."""
    from milvus_lite.server_manager import server_manager_instance

    from lookalike.recommend.milvus import MilvusShopStore, StoreSpec

    queries, _ = truth_file(folder, vectors_file(folder, n))
    spec = StoreSpec("milvus-lite", str(folder / "bench.db"))
    store = MilvusShopStore(spec, SHOP, collection=(folder / "collection.txt").read_text())
    name, params = store.collection, {"metric_type": "IP", "params": {"ef": 128}}
    engine = server_manager_instance._servers[spec.uri][1].get_collection(name)
    segments = [s for s in engine._segment_cache.values() if s.num_rows]
    layers = {
        "store.search (ours: output vector)": lambda q: store.search(q, K),
        "client.search, no output fields": lambda q: store.client.search(
            name, data=q.tolist(), limit=K, search_params=params
        ),
        "engine Collection.search (no gRPC)": lambda q: engine.search(
            q.tolist(), top_k=K, metric_type="IP", output_fields=[], search_params={"ef": 128}
        ),
        "faiss index search of the segments": lambda q: [
            s.indexes["vector"].search(q, K, params={"ef": 128}) for s in segments
        ],
        # what /similar from the stored top-K costs: the row's table, then its ids' presence
        "query 1 id (store.neighbors)": lambda q: store.neighbors("p7"),
        "query 10 ids (store.fetch)": lambda q: store.fetch([f"p{i}" for i in range(10)], ("id",)),
    }
    out: dict[str, Any] = {
        "n": n,
        "segments": len(segments),
        "index": type(segments[0].indexes.get("vector")).__name__,
    }
    for label, call in layers.items():
        call(queries[:1])
        t0 = time.perf_counter()
        for q in queries[:30]:
            call(q[None, :])
        out[label] = (time.perf_counter() - t0) / 30 * 1000
    return out


def embed_worker(photos: int) -> dict:
    """Local engine vs Ray engine on the same photos (a fresh process)."""
    from lookalike.embed.pipeline import embed_images, input_geometry
    from lookalike.embed.registry import get_embedder
    from lookalike.pipeline.images import file_loader
    from lookalike.pipeline.ray_engine import RaySettings, ray_embed, ray_session

    datasets = ROOT.parent / "shared" / "datasets"
    files = sorted((datasets / "clothing-small").rglob("*.jpg"))[:photos]
    if not files:
        raise SystemExit(f"no photos under {datasets / 'clothing-small'}")
    todo = {str(f.relative_to(datasets)): f for f in files}
    embedder = get_embedder("lite0")
    t0 = time.perf_counter()
    local = embed_images([file_loader(f) for f in files], embedder)
    local_s = time.perf_counter() - t0
    resize, crop = input_geometry(embedder)
    out: dict = {"photos": len(files), "local_s": local_s, "ray": []}
    for actors in (1, 2):
        t0 = time.perf_counter()
        settings = RaySettings(actors=actors, local_cpus=2)
        with ray_session(settings):
            start_s = time.perf_counter() - t0
            with tempfile.TemporaryDirectory() as shards:
                t1 = time.perf_counter()
                vectors, errors = ray_embed(
                    todo,
                    "lite0",
                    resize=resize,
                    crop=crop,
                    dim=embedder.dim,
                    out_dir=Path(shards),
                    settings=settings,
                )
                run_s = time.perf_counter() - t1
        keys = list(todo)
        cos = min(
            float(vectors.get(keys[i]) @ v) for i, v in zip(local.ok, local.vectors, strict=True)
        )
        out["ray"].append(
            {
                "actors": actors,
                "start_s": start_s,
                "run_s": run_s,
                "min_cosine": cos,
                "errors": len(errors),
            }
        )
    return out


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GB"


def print_store(rows: list[dict]) -> None:
    print(
        f"{'N':>9}  {'store':<12} {'insert':>8} {'load':>6} {'peak RSS':>9} {'store RSS':>9} "
        f"{'q/s':>6} {'q/s x10':>7} {'recall@10':>9}"
    )
    for r in rows:
        if "stopped" in r:
            print(f"{r['n']:>9,}  {r['store']:<12} stopped: {r['stopped']} (--max-rss-gb)")
            continue
        print(
            f"{r['n']:>9,}  {r['store']:<12} {r['insert_s']:>7.1f}s {r['load_s']:>5.1f}s "
            f"{gib(r['peak_rss']):>9} {gib(r['store_rss']):>9} {r['qps']:>6.1f} "
            f"{r['qps_batch']:>7.1f} {r['recall']:>9.3f}"
        )
    print(
        f"\n{DIM}-d clustered synthetic vectors; {QUERIES} queries, top-{K}. insert: build the "
        "index / write + flush + index the collection; load: open it in a fresh process; "
        "peak RSS: the largest of the store's processes (with the memory-mapped base); store "
        "RSS: anonymous memory the index or collection holds while serving. 2 shared cores."
    )


def print_embed(r: dict) -> None:
    print(f"{r['photos']} photos, lite0, 2 shared cores")
    print(f"  local engine (embed_images):  {r['photos'] / r['local_s']:6.1f} img/s")
    for ray in r["ray"]:
        print(
            f"  ray engine, {ray['actors']} actor(s):      {r['photos'] / ray['run_s']:6.1f} img/s"
            f"  (+{ray['start_s']:.1f} s Ray start; min cosine vs local {ray['min_cosine']:.6f})"
        )


def run(args: list[str]) -> dict:
    done = subprocess.run(
        ["nice", "-n", "10", sys.executable, __file__, *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker(args: argparse.Namespace) -> dict[str, Any]:
    label = {"n": args.n, "store": args.kind}
    watchdog(args.max_rss_gb, label)
    folder = Path(args.folder)
    if args.part == "profile-worker":
        return profile_worker(args.n, folder)
    if args.kind.startswith("local-"):
        result = local_worker(args.n, args.kind, folder)
    elif args.phase == "insert":
        result = milvus_insert(args.n, args.kind, folder)
    else:
        result = milvus_serve(args.n, args.kind, folder)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {**label, **result, "peak_rss": peak}


def store_rows(n: int, kind: str, folder: Path, cap: float) -> dict[str, Any]:
    common = ["--n", str(n), "--kind", kind, "--folder", str(folder), "--max-rss-gb", str(cap)]
    if kind.startswith("local-"):
        return run(["store-worker", *common])
    inserted = run(["store-worker", *common, "--phase", "insert"])
    if "stopped" in inserted:
        return inserted
    served = run(["store-worker", *common, "--phase", "serve"])
    if "stopped" in served:
        return served
    return {**served, **inserted, "peak_rss": max(inserted["peak_rss"], served["peak_rss"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parts = ("store", "embed", "profile", "store-worker", "embed-worker", "profile-worker")
    parser.add_argument("part", choices=parts)
    parser.add_argument("--sizes", default="20000", help="comma-separated N (store)")
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--photos", type=int, default=800)
    parser.add_argument("--max-rss-gb", type=float, default=9.0)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--kind", default="milvus-hnsw", help=argparse.SUPPRESS)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    if args.part.endswith("-worker"):
        work = embed_worker(args.photos) if args.part == "embed-worker" else worker(args)
        print(json.dumps(work))
        return
    result: Any
    if args.part == "embed":
        result = run(["embed-worker", "--photos", str(args.photos)])
        print_embed(result)
    elif args.part == "profile":
        with tempfile.TemporaryDirectory() as tmp:
            row = store_rows(args.n, "milvus-hnsw", Path(tmp), args.max_rss_gb)
            common = ["--n", str(args.n), "--folder", tmp, "--max-rss-gb", str(args.max_rss_gb)]
            result = run(["profile-worker", *common])
        print_store([row])
        print("\nms per single-query call, layer by layer:")
        print(json.dumps(result, indent=1))
    else:
        result = []
        for n in [int(s) for s in args.sizes.split(",")]:
            with tempfile.TemporaryDirectory() as tmp:  # one base file per size
                for kind in args.stores.split(","):
                    print(f"... N={n:,} {kind}", file=sys.stderr, flush=True)
                    result.append(store_rows(n, kind, Path(tmp), args.max_rss_gb))
                    print(json.dumps(result[-1]), file=sys.stderr, flush=True)  # kept if killed
                    shutil.rmtree(Path(tmp) / "bench.db", ignore_errors=True)
        print_store(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
