"""Build throughput on this machine: decode+preprocess, model, and the whole build; peak memory.

Each stage runs in its own Python process so its peak RSS is its own.

    .venv/bin/python bench/build.py [--images 713] [--data ../shared/datasets/clothing-small]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "clothing-small"


def photos(data: Path, n: int) -> list[Path]:
    found = sorted(data.glob("validation/*/*.jpg")) + sorted(data.glob("test/*/*.jpg"))
    found += sorted(data.glob("train/*/*.jpg"))
    return found[:n]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_decode(files: list[Path], workers: int) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    from lookalike.embed.decode import load_image
    from lookalike.embed.preprocess import preprocess

    def one(path: Path):
        return preprocess(load_image(path.read_bytes(), min_side=256))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(one, files):
            pass
    seconds = time.perf_counter() - t0
    return {"images": len(files), "seconds": seconds, "per_s": len(files) / seconds}


def stage_model(n: int, batch: int) -> dict:
    import numpy as np

    from lookalike.embed.registry import get_embedder

    embedder = get_embedder("lite0", device="cpu")
    x = np.random.default_rng(0).uniform(-1, 1, (batch, 3, 224, 224)).astype(np.float32)
    embedder.embed(x)  # warm-up
    done, t0 = 0, time.perf_counter()
    while done < n:
        embedder.embed(x)
        done += batch
    seconds = time.perf_counter() - t0
    return {"images": done, "seconds": seconds, "per_s": done / seconds}


def stage_build(files: list[Path], batch: int, workers: int) -> dict:
    from lookalike.pipeline import BuildOptions, build_workspace

    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "catalog.csv"
        with catalog.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "image", "category"])
            for path in files:
                writer.writerow([path.stem, str(path), path.parent.name])
        options = BuildOptions(progress=False, batch_size=batch, workers=workers)
        from lookalike.embed.registry import get_embedder

        get_embedder("lite0")  # model load/export is not part of the throughput figure
        t0 = time.perf_counter()
        report = build_workspace(Path(tmp) / "ws", catalog, options)
        seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        again = build_workspace(Path(tmp) / "ws", catalog, options)
        rebuild = time.perf_counter() - t1
    return {
        "images": report.images["ok"],
        "seconds": seconds,
        "per_s": report.images["ok"] / seconds,
        "stages": report.seconds,
        "rebuild_seconds": rebuild,
        "rebuild_embedded": again.images["embedded"],
    }


def run_stage(args: argparse.Namespace, stage: str) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--stage",
        stage,
        "--images",
        str(args.images),
        "--data",
        str(args.data),
        "--batch",
        str(args.batch),
        "--workers",
        str(args.workers),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=713)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stage", choices=["decode", "model", "build"])
    args = parser.parse_args()
    if args.stage:
        files = photos(args.data, args.images)
        result = {
            "decode": lambda: stage_decode(files, args.workers),
            "model": lambda: stage_model(len(files), args.batch),
            "build": lambda: stage_build(files, args.batch, args.workers),
        }[args.stage]()
        result["peak_rss_mb"] = peak_mb()
        print(json.dumps(result))
        return
    if not args.data.is_dir():
        sys.exit(f"no photos at {args.data}: pass --data")
    print(
        f"{os.cpu_count()} CPUs, {args.images} photos from {args.data}, batch {args.batch}, "
        f"{args.workers} decode threads"
    )
    print(f"{'stage':28} {'images/s':>9} {'seconds':>8} {'peak RSS MB':>12}")
    for stage, label in (
        ("decode", "decode + preprocess"),
        ("model", "model (onnxruntime lite0)"),
        ("build", "end to end (lookalike build)"),
    ):
        r = run_stage(args, stage)
        print(f"{label:28} {r['per_s']:9.1f} {r['seconds']:8.2f} {r['peak_rss_mb']:12.0f}")
        if stage == "build":
            print(f"  stage seconds: {r['stages']}")
            print(
                f"  rebuild with nothing changed: {r['rebuild_seconds']:.2f} s, "
                f"{r['rebuild_embedded']} images embedded"
            )


if __name__ == "__main__":
    main()
