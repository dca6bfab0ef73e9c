"""Photo -> catalog training on grocery: train photos -> their iconic image, val photos measured.

    .venv/bin/python bench/photo_train.py [--work DIR] [--epochs 30]

Builds a shop whose catalog is the 81 iconic images (title = class name, category = coarse
class), writes ``train_photos.csv`` / ``val_photos.csv`` in the format of ``lookalike evaluate
--queries-from``, measures the val photos (top-1 / top-5 / mAP@10 with 95% bootstrap CIs),
trains ``lookalike train --photos train_photos.csv`` (the held-out check runs on train photos
only), rebuilds to apply the head, and measures the val photos again. Prints one table.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import default_datasets  # noqa: E402
from lookalike.evaluate.runner import EvaluateOptions, run_evaluation  # noqa: E402
from lookalike.pipeline import BuildOptions, build_workspace  # noqa: E402
from lookalike.train.photo_api import train_photo_workspace  # noqa: E402
from lookalike.train.photo_fit import PhotoTrainOptions  # noqa: E402
from lookalike.workspace import Workspace  # noqa: E402


def first_sentence(grocery: Path, description: str) -> str:
    """The first sentence of a class's product description (a real product text)."""
    text = (grocery / description.lstrip("/")).read_text(encoding="utf-8", errors="replace")
    return text.strip().split(". ")[0].strip().rstrip(".")


def write_sets(grocery: Path, out: Path, titles: str = "name") -> tuple[Path, Path, Path]:
    """``catalog.csv`` (iconic images; title: the class name, or the first sentence of its
    description with ``titles="description"``), ``train_photos.csv`` and ``val_photos.csv``."""
    lines = (grocery / "classes.csv").read_text(encoding="utf-8").splitlines()[1:]
    classes = [line.split(",") for line in lines if line.strip()]
    name_of = {c[1]: c[0] for c in classes}
    catalog = out / "catalog.csv"
    with catalog.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "image", "category"])
        for c in classes:
            image = grocery / c[4].lstrip("/")
            title = c[0].replace("-", " ")
            if titles == "description":
                title = first_sentence(grocery, c[5]) or title
            writer.writerow([c[0], title, str(image), c[2]])
    paths = []
    for split in ("train", "val"):
        path = out / f"{split}_photos.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image", "product_id"])
            for line in (grocery / f"{split}.txt").read_text(encoding="utf-8").splitlines():
                parts = [p.strip() for p in line.split(",")]
                if len(parts) >= 2:
                    writer.writerow([str(grocery / parts[0]), name_of[parts[1]]])
        paths.append(path)
    return catalog, paths[0], paths[1]


def grocery_work(work: Path | None, prefix: str) -> tuple[Path, Path]:
    """The grocery dataset (or exit with why) and a work folder (``work`` or a new temp)."""
    grocery = default_datasets() / "grocery"
    if not (grocery / "classes.csv").is_file():
        raise SystemExit(f"grocery dataset not found under {grocery}")
    folder = work or Path(tempfile.mkdtemp(prefix=prefix))
    folder.mkdir(parents=True, exist_ok=True)
    return grocery, folder


def measure(ws: Workspace, photos: Path) -> dict[str, list[float]]:
    """Val photo -> catalog top-1, top-5 and mAP@10 of the served vectors, with 95% CIs."""
    options = EvaluateOptions(k=10, queries=0, queries_from=photos, n_boot=1000)
    result = run_evaluation(ws, options).results[0]
    return {
        m: [result.overall[m].mean, result.overall[m].low, result.overall[m].high]
        for m in ("Recall@1", "Hit@5", "mAP@10")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="Folder for the shop (temp).")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--form", default="auto", help="auto, diagonal, full or lowrank.")
    parser.add_argument("--force", action="store_true", help="Adopt even when the check fails.")
    args = parser.parse_args()
    grocery, work = grocery_work(args.work, "photo-train-")
    catalog, train_csv, val_csv = write_sets(grocery, work)
    ws = Workspace(work / "shop")
    shutil.rmtree(ws.head_dir, ignore_errors=True)  # "before" is the untrained features
    build = BuildOptions(progress=False, allow_local_paths=grocery)
    build_workspace(ws, catalog, build)
    before = measure(ws, val_csv)
    options = PhotoTrainOptions(epochs=args.epochs, form=args.form, force=args.force)
    started, cpu = time.perf_counter(), time.process_time()
    report = train_photo_workspace(ws, train_csv, options)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    build_workspace(ws, catalog, build)
    after = measure(ws, val_csv) if report.adopted else before
    print(
        f"photo -> catalog on grocery val ({work}); `train --photos` {seconds:.1f} s wall, "
        f"{cpu:.1f} s CPU (fit {report.seconds:.1f} s + refit "
        f"{(report.refit or {}).get('seconds', 0):.1f} s wall)"
    )
    print(f"check: {report.decision['reason']}")
    print("| features | top-1 | top-5 | mAP@10 |")
    print("|---|---|---|---|")
    trained = f"lite0 + photo head ({args.form})"
    for label, numbers in (("lite0 (untrained)", before), (trained, after)):
        cells = [f"{m:.3f} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in numbers.values()]
        print(f"| {label} | " + " | ".join(cells) + " |")
    summary = {"before": before, "after": after, "train_seconds": seconds, "cpu": cpu}
    summary |= report.to_dict()
    (work / "photo_train.json").write_text(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    main()
