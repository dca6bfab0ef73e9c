"""Build throughput on this machine, and the ratio to the tutorials' pipeline.

``--baseline`` runs, back to back on the same photos, the seed-style loop every tutorial shows
(PIL load, resize to 224, the same Lite0 weights in torch with batch 1, the full N x N
similarity matrix, argsort) and ``lookalike build`` on a CSV catalog of those photos (no real
titles: the title stage is skipped), each in a fresh process so peak RSS is its own and the
model load counts for both. Prints seconds, the ratio, peak memory and each stage's share.
Beyond 3,781 photos the extra ones are light deterministic variants (bench/photoset.py).

    .venv/bin/python bench/build.py --baseline --sizes 2000 [--precision int8]
    .venv/bin/python bench/build.py --stage baseline --images 10000 > base10k.json  # ~40 min
    .venv/bin/python bench/build.py --baseline --sizes 10000 --baseline-result base10k.json
    .venv/bin/python bench/build.py [--images 713]      # decode / model / build stages alone
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
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from photoset import photo_files  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "clothing-small"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "lookalike-bench-photos"
K = 20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU of this process (all threads): robust to other load, unlike wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def stage_baseline(files: list[Path], threads: int) -> dict:
    """The tutorials' pipeline: one image at a time, then all pairs."""
    import numpy as np
    import torch
    from PIL import Image

    from lookalike.embed.torch_model import load_torch_model

    # torch's default (a thread per core) spin-waits; on the shared machine batch-1 inference
    # then ran 0.2 img/s instead of 4.7 with one thread, so the baseline gets its best setting.
    torch.set_num_threads(threads)
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    model = load_torch_model("lite0")
    seconds = {"model": time.perf_counter() - t0}
    t0 = time.perf_counter()
    rows = []
    with torch.no_grad():
        for path in files:
            image = Image.open(path).convert("RGB").resize((224, 224))
            x = (np.asarray(image, dtype=np.float32) - 127.0) / 128.0
            rows.append(model(torch.from_numpy(x.transpose(2, 0, 1).copy())[None])[0].numpy())
    seconds["embed"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    x = np.stack(rows)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    similarity = x @ x.T
    seconds["similarity"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    top = np.argsort(-similarity, axis=1)[:, 1 : K + 1]
    seconds["argsort"] = time.perf_counter() - t0
    assert top.shape == (len(files), min(K, len(files) - 1))
    total = sum(seconds.values())
    return {"images": len(files), "seconds": seconds, "total": total, "cpu_s": cpu_seconds() - cpu0}


def write_catalog(files: list[Path], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "image", "category"])
        for i, photo in enumerate(files):
            writer.writerow([f"{photo.stem}-{i}", str(photo), photo.parent.name])


def stage_build(files: list[Path], args: argparse.Namespace) -> dict:
    """``lookalike build`` into a fresh workspace, then again with nothing changed."""
    from lookalike.pipeline import BuildOptions, build_workspace

    # local image paths must stay inside the catalog's folder: the catalog sits in the
    # variants' folder, and the dataset's folder is allowed besides
    options = BuildOptions(
        model="lite0",  # the baseline's weights: the same model on both sides
        batch_size=args.batch,
        workers=args.workers,
        precision=args.precision,
        k=K,
        allow_local_paths=args.data,
    )
    args.cache.mkdir(parents=True, exist_ok=True)
    catalog = args.cache / f"catalog-{os.getpid()}.csv"
    with tempfile.TemporaryDirectory() as tmp:
        write_catalog(files, catalog)
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        report = build_workspace(Path(tmp) / "ws", catalog, options)
        total, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        t1 = time.perf_counter()
        again = build_workspace(Path(tmp) / "ws", catalog, options)
        rebuild = time.perf_counter() - t1
    catalog.unlink()
    seconds = {k: v for k, v in report.seconds.items() if k != "total"}
    return {
        "images": report.images["ok"],
        "seconds": seconds,
        "total": total,
        "cpu_s": cpu,
        "titles": report.titles,
        "rebuild_seconds": rebuild,
        "rebuild_embedded": again.images["embedded"],
    }


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
    return {"images": len(files), "total": time.perf_counter() - t0}


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
    return {"images": done, "total": time.perf_counter() - t0}


def run_stage(args: argparse.Namespace, stage: str, images: int, precision: str = "fp32") -> dict:
    cmd = [sys.executable, __file__, "--stage", stage, "--images", str(images)]
    cmd += ["--data", str(args.data), "--cache", str(args.cache), "--precision", precision]
    cmd += ["--baseline-threads", str(args.baseline_threads)]
    cmd += ["--batch", str(args.batch)] if args.batch else []
    cmd += ["--workers", str(args.workers)] if args.workers else []
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def shares(result: dict) -> str:
    total = result["total"]
    return ", ".join(
        f"{name} {sec:.1f} s ({100 * sec / total:.0f}%)" for name, sec in result["seconds"].items()
    )


def compare(args: argparse.Namespace) -> None:
    print(
        f"{os.cpu_count()} CPUs, shared (load average {os.getloadavg()[0]:.1f}): wall figures "
        "are noisy; runs are paired back to back"
    )
    saved = {}  # a baseline measured earlier (``--stage baseline`` prints it): not re-run
    for path in args.baseline_result:
        result = json.loads(Path(path).read_text().strip().splitlines()[-1])
        saved[int(result["images"])] = result
        print(f"baseline of {result['images']} photos read from {path} (measured earlier)")
    rows = []
    for n in args.sizes:
        photo_files(args.data, n, args.cache)  # make any variants before timing anything
        base = saved.get(n) or run_stage(args, "baseline", n)
        print(f"\n{n} photos")
        print(
            f"  baseline       {base['total']:7.1f} s  peak {base['peak_rss_mb']:6.0f} MB, "
            f"CPU {base['cpu_s']:.1f} s: {shares(base)}",
            flush=True,
        )
        for precision in args.precision.split(","):
            ours = run_stage(args, "build", n, precision)
            rows.append((n, precision, base, ours))
            print(
                f"  lookalike {precision} {ours['total']:7.1f} s  peak "
                f"{ours['peak_rss_mb']:6.0f} MB, CPU {ours['cpu_s']:.1f} s: {shares(ours)}"
            )
            print(
                f"    titles {ours['titles']}; rebuild {ours['rebuild_seconds']:.1f} s "
                f"({ours['rebuild_embedded']} embedded)",
                flush=True,
            )
    print(
        f"\n{'photos':>7} {'precision':>9} {'baseline s':>11} {'lookalike s':>12} {'ratio':>6} "
        f"{'CPU ratio':>9} {'base MB':>8} {'ours MB':>8}"
    )
    for n, precision, base, ours in rows:
        print(
            f"{n:7d} {precision:>9} {base['total']:11.1f} {ours['total']:12.1f} "
            f"{base['total'] / ours['total']:5.2f}x {base['cpu_s'] / ours['cpu_s']:8.2f}x "
            f"{base['peak_rss_mb']:8.0f} {ours['peak_rss_mb']:8.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=713)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[2000])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="photo variants")
    parser.add_argument("--batch", type=int, default=None, help="default: calibrated")
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    parser.add_argument("--precision", default="fp32", help="fp32, int8 or fp32,int8")
    parser.add_argument("--baseline", action="store_true", help="compare with the tutorial loop")
    parser.add_argument("--baseline-threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--baseline-result",
        action="append",
        default=[],
        help="JSON of an earlier `--stage baseline` run, used instead of running it again",
    )
    parser.add_argument("--stage", choices=["decode", "model", "build", "baseline"])
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"no photos at {args.data}: pass --data")
    if args.stage:
        files = photo_files(args.data, args.images, args.cache)
        result = {
            "decode": lambda: stage_decode(files, args.workers or 2),
            "model": lambda: stage_model(len(files), args.batch or 32),
            "build": lambda: stage_build(files, args),
            "baseline": lambda: stage_baseline(files, args.baseline_threads),
        }[args.stage]()
        result["peak_rss_mb"] = peak_mb()
        print(json.dumps(result))
        return
    if args.baseline:
        compare(args)
        return
    print(f"{os.cpu_count()} CPUs, {args.images} photos from {args.data}")
    print(f"{'stage':28} {'images/s':>9} {'seconds':>8} {'peak RSS MB':>12}")
    for stage, label in (
        ("decode", "decode + preprocess"),
        ("model", "model (onnxruntime lite0)"),
        ("build", "end to end (lookalike build)"),
    ):
        r = run_stage(args, stage, args.images, args.precision)
        print(
            f"{label:28} {r['images'] / r['total']:9.1f} {r['total']:8.2f} {r['peak_rss_mb']:12.0f}"
        )
        if stage == "build":
            print(f"  stages: {shares(r)}")
            print(
                f"  rebuild with nothing changed: {r['rebuild_seconds']:.2f} s, "
                f"{r['rebuild_embedded']} images embedded"
            )


if __name__ == "__main__":
    main()
