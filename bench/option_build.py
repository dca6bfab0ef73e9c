"""What a build does with a feature option: its build seconds, and GeM's p chosen per set.

Build seconds: a paired run of the real ``lookalike build``.
Each option builds the same catalog (a seeded subsample of clothing photos as a CSV with
categories, titles on: a build as a shop runs it) into a fresh workspace, as its own
process, so model loading, the GeM choice, whitening and DBA are all counted. The options
run in turn, the order reversed every round (ABC CBA ...), so slow phases of a shared
machine fall on every option alike; the ratio to plain ``lite0`` is taken within each round
and the median over rounds reported.

GeM's p: the build's own choice (:func:`lookalike.embed.gem_select.choose_gem`) run on each
benchmark set's gallery (the "catalog"), with its categories and without (label-free).

    .venv/bin/python bench/options.py --build-cost 300 --rounds 2
"""

from __future__ import annotations

import csv
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BUILD_OPTIONS = {
    "lite0": ["--model", "lite0"],
    "lite1": ["--model", "lite1"],
    "lite0+lite1": ["--model", "lite0+lite1"],
    "lite0+gem (p chosen)": ["--model", "lite0+gem"],
    "lite0 --whiten 256 --expand dba": ["--model", "lite0", "--whiten", "256", "--expand", "dba"],
    "lite1 --whiten 256 --expand dba": ["--model", "lite1", "--whiten", "256", "--expand", "dba"],
    "lite0+lite1 --whiten 256 --expand dba": [
        "--model",
        "lite0+lite1",
        "--whiten",
        "256",
        "--expand",
        "dba",
    ],
}


def write_catalog(folder: Path, paths: list[Path], labels: list[str], root: Path) -> Path:
    """A CSV catalog of the photos (id, title, image path, category)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "catalog.csv"
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "image", "category"])
        for path, label in zip(paths, labels, strict=True):
            writer.writerow([path.stem, f"{label} {path.stem[:6]}", str(path), label])
    return target


def build_seconds(catalog: Path, allow: Path, args: list[str], work: Path) -> tuple[float, float]:
    """``(wall, cpu)`` seconds of one ``lookalike build`` into a fresh workspace (a new
    process; cpu = its user + system time, far less sensitive to a shared machine's load)."""
    ws = work / "ws"
    shutil.rmtree(ws, ignore_errors=True)
    command = [sys.executable, "-m", "lookalike", "build", str(ws), "--catalog", str(catalog)]
    command += ["--allow-local-paths", str(allow), "-q", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 3):
        raise SystemExit(f"build failed ({' '.join(args)}): {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def paired_build_costs(
    paths: list[Path], labels: list[str], root: Path, rounds: int, names: list[str]
) -> dict[str, dict[str, float]]:
    """``{option: {"seconds", "cpu_seconds": medians, "ratio", "cpu_ratio": median ratios to
    lite0 within a round, "runs": wall seconds}}``."""
    names = ["lite0", *[n for n in names if n != "lite0"]]
    with tempfile.TemporaryDirectory(prefix="lookalike-cost-") as tmp:
        work = Path(tmp)
        catalog = write_catalog(work / "catalog", paths, labels, root)
        build_seconds(catalog, root, BUILD_OPTIONS["lite0"], work)  # warm the model files
        wall: dict[str, list[float]] = {n: [] for n in names}
        cpu: dict[str, list[float]] = {n: [] for n in names}
        for r in range(rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                w, c = build_seconds(catalog, root, BUILD_OPTIONS[name], work)
                wall[name].append(w)
                cpu[name].append(c)
                print(f"  round {r + 1} {name}: {w:.1f} s wall, {c:.1f} s cpu", flush=True)
    return {
        n: {
            "seconds": float(np.median(wall[n])),
            "ratio": float(np.median(np.array(wall[n]) / np.array(wall["lite0"]))),
            "cpu_seconds": float(np.median(cpu[n])),
            "cpu_ratio": float(np.median(np.array(cpu[n]) / np.array(cpu["lite0"]))),
            "runs": [round(v, 2) for v in wall[n]],
        }
        for n in names
    }


def chosen_p(paths: list[Path], labels: list[str] | None) -> tuple[float, str, dict]:
    """GeM's p as a build of these images would choose it (``labels``: their categories)."""
    from lookalike.embed.features import FeatureSpec
    from lookalike.embed.gem_select import SAMPLE_SIZE, choose_gem

    order = sorted(range(len(paths)), key=lambda i: paths[i].name)[:SAMPLE_SIZE]
    images = [paths[i].read_bytes for i in order]
    cats = [labels[i] for i in order] if labels is not None else None
    choice = choose_gem(FeatureSpec.parse("lite0+gem"), images, cats)
    return choice.p, choice.criterion, choice.scores


if __name__ == "__main__":
    print(json.dumps(BUILD_OPTIONS, indent=1))
