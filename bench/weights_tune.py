"""``train --method weights`` on grocery: the image/title share tuned on the iconic catalog.

    .venv/bin/python bench/weights_tune.py [--work DIR]

The catalog is the 81 iconic images with the first sentence of each product's description as
its title and the coarse class as its category (43 categories). Prints the grid (tuning
products' P@10), the held-out check and the decision, and the tuning seconds.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lookalike.pipeline import BuildOptions, build_workspace  # noqa: E402
from lookalike.train.weights import WeightsOptions, tune_weights  # noqa: E402
from lookalike.workspace import Workspace  # noqa: E402
from photo_train import grocery_work, write_sets  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="Folder for the shop (temp).")
    args = parser.parse_args()
    grocery, work = grocery_work(args.work, "weights-tune-")
    catalog, _, _ = write_sets(grocery, work, titles="description")
    ws = Workspace(work / "shop")
    shutil.rmtree(ws.weights_dir, ignore_errors=True)
    build_workspace(ws, catalog, BuildOptions(progress=False, allow_local_paths=grocery))
    started = time.perf_counter()
    report = tune_weights(ws, WeightsOptions())
    seconds = time.perf_counter() - started
    print(f"grocery iconic catalog ({work}): tuning {seconds:.1f} s wall")
    print("| title share | " + " | ".join(f"{r['title_share']:.1f}" for r in report.grid) + " |")
    print("|---" * (len(report.grid) + 1) + "|")
    print("| tuning P@10 | " + " | ".join(f"{r['P@10']:.3f}" for r in report.grid) + " |")
    for name, result in report.evaluation.items():
        n, before, after = result["before"]["n"], result["before"]["P@10"], result["after"]["P@10"]
        print(f"{name} ({n} products): P@10 image only {before:.3f} -> chosen {after:.3f}")
    verdict = "adopted" if report.adopted else "kept off"
    print(f"chosen {report.chosen} {verdict}: {report.decision['reason']}")


if __name__ == "__main__":
    main()
