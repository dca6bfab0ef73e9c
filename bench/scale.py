"""Scale-out benchmarks: milvus-lite vs the local index, and Ray vs local embedding.

    .venv/bin/python bench/scale.py store --sizes 100000           # insert, memory, q/s, recall
    .venv/bin/python bench/scale.py embed --photos 200             # Ray vs local img/s

store: the clustered synthetic 1280-d vectors of ``bench/index.py`` (seeded); for each size,
the local HNSW index (faiss, ``make_index``) and a milvus-lite collection with the same HNSW
parameters (M=16, efConstruction=200, ef=128) and FLAT. Each run is its own subprocess so
its peak RSS is its own (milvus-lite runs inside the process). Recall@10 is against exact
search over the same vectors; queries/s are single queries one after another, as the API sends
them. embed: the first N clothing photos of ../shared/datasets, embedded by ``embed_images``
(the local engine) and by ``ray_embed`` on a local 2-CPU Ray instance (start-up timed apart).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from index import rss_bytes, synthetic  # noqa: E402  (bench/index.py)

QUERIES, K = 300, 10
STORES = ("local-hnsw", "milvus-hnsw", "milvus-flat")


def _recall(truth: np.ndarray, found: list[list[str]]) -> float:
    return float(
        np.mean([len({f"p{i}" for i in t} & set(f)) / K for t, f in zip(truth, found, strict=True)])
    )


def store_worker(n: int, kind: str) -> dict:
    """Insert ``n`` vectors into one store, then time single queries (a fresh process)."""
    from lookalike.index import VectorSet, knn_exact, make_index

    base = synthetic(n, seed=1)
    queries = synthetic(QUERIES, seed=2)
    _, truth = knn_exact(queries, base, K, block=128)
    data_rss = rss_bytes()
    ids = [f"p{i}" for i in range(n)]
    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        if kind == "local-hnsw":
            index = make_index("hnsw", VectorSet(ids, base))
            search = index.search
        else:
            search = _milvus(Path(folder) / "bench.db", ids, base, kind.split("-")[1].upper())
        insert_s = time.perf_counter() - t0
        search(queries[:5], K)  # warm-up
        t0 = time.perf_counter()
        found = [search(q[None, :], K)[1][0] for q in queries]
        qps = QUERIES / (time.perf_counter() - t0)
        held_rss = rss_bytes()
    return {
        "n": n,
        "store": kind,
        "insert_s": insert_s,
        "data_rss": data_rss,
        "held_rss": held_rss,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "qps": qps,
        "recall": _recall(truth, found),
    }


def _milvus(path: Path, ids: list[str], base: np.ndarray, index_type: str):
    """A milvus-lite collection of ``base`` (the project's store class); its search function."""
    from lookalike.catalog.models import Product
    from lookalike.recommend.milvus import MILVUS_INDEXES, MilvusShopStore, StoreSpec
    from lookalike.recommend.milvus_publish import publish_shop

    kind = "hnsw" if index_type == "HNSW" else "flat"
    assert MILVUS_INDEXES[kind][0] == index_type
    spec = StoreSpec("milvus-lite", str(path))
    chunk = 50_000  # publish in slices would need a new generation each: build it in one go
    products = [Product(id=i) for i in ids]
    record = publish_shop(spec, "bench", products[:chunk], base[:chunk], {}, index_kind=kind)
    store = MilvusShopStore(spec, "bench", collection=record["name"])
    for start in range(chunk, len(ids), chunk):
        store.upsert(products[start : start + chunk], base[start : start + chunk])
    store.client.flush(store.collection)
    return store.search


def embed_worker(photos: int) -> dict:
    """Local engine vs Ray engine on the same photos (a fresh process)."""
    from lookalike.embed.pipeline import embed_images, input_geometry
    from lookalike.embed.registry import get_embedder
    from lookalike.pipeline.images import file_loader
    from lookalike.pipeline.ray_engine import RaySettings, ray_embed, ray_session

    folder = ROOT.parent / "shared" / "datasets" / "clothing-small" / "train"
    files = sorted(folder.rglob("*.jpg"))[:photos]
    if not files:
        raise SystemExit(f"no photos under {folder}")
    todo = {f"{f.parent.name}/{f.stem}": f for f in files}
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
        f"{'N':>9}  {'store':<12} {'insert':>8} {'peak RSS':>9} {'held RSS':>9} {'(data)':>8} "
        f"{'q/s':>6} {'recall@10':>9}  {'store memory / 1M':>17}"
    )
    for r in rows:
        per_million = (r["held_rss"] - r["data_rss"]) / r["n"] * 1e6
        print(
            f"{r['n']:>9,}  {r['store']:<12} {r['insert_s']:>7.1f}s {gib(r['peak_rss']):>9} "
            f"{gib(r['held_rss']):>9} {gib(r['data_rss']):>8} {r['qps']:>6.0f} "
            f"{r['recall']:>9.3f}  {gib(per_million):>17}"
        )
    print(
        f"\n1280-d clustered synthetic vectors; {QUERIES} single queries, top-{K}; (data) = RSS "
        "with the benchmark's own vectors and ground truth; held = RSS after inserting and "
        "querying; store memory / 1M = (held - data) per million vectors. 2 shared cores."
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
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("store", "embed", "store-worker", "embed-worker"))
    parser.add_argument("--sizes", default="100000", help="comma-separated N (store)")
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    if args.part == "store-worker":
        print(json.dumps(store_worker(args.n, args.kind)))
        return
    if args.part == "embed-worker":
        print(json.dumps(embed_worker(args.photos)))
        return
    if args.part == "embed":
        result = run(["embed-worker", "--photos", str(args.photos)])
        print_embed(result)
    else:
        result = []
        for n in [int(s) for s in args.sizes.split(",")]:
            for kind in args.stores.split(","):
                print(f"... N={n:,} {kind}", file=sys.stderr, flush=True)
                result.append(run(["store-worker", "--n", str(n), "--kind", kind]))
        print_store(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
