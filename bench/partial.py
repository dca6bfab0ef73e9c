"""CPU partial fine-tuning vs a classifier head vs the untrained features, on clothing-small.

Run: ``.venv/bin/python bench/partial.py [--limit 1500] [--blocks 2] [--epochs 8]``.

The photos of every split form one "shop" (a product per photo, category = folder), split the
way ``lookalike train`` splits a workspace: the hardest categories held out whole, then 20% of
the products held out, 15% of the rest for validation (early stopping). Reported on the two
held-out sets, leave-one-out: untrained Lite0, the classifier head (``fit_head``) and the
partially fine-tuned backbone (``check_partial``), with the adoption gate's verdict for each,
and the seconds of every step: the frozen blocks once per image (cached activations, like the
workspace's), the tail training, the ONNX export, and the head's training for comparison.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import bench_cache_dir, cached_embeddings, default_datasets, load_clothing  # noqa: E402
from lookalike.embed.ortconfig import usable_cores  # noqa: E402
from lookalike.train import TrainData, TrainOptions, make_splits  # noqa: E402
from lookalike.train.activations import ActivationCache, cut_point  # noqa: E402
from lookalike.train.gate import decide_adoption, hardest_categories  # noqa: E402
from lookalike.train.partial import check_partial  # noqa: E402


def _data(limit: int, seed: int) -> tuple[TrainData, list[Path], float]:
    photos = load_clothing(default_datasets() / "clothing-small").subsample(limit, seed)
    vectors, seconds = cached_embeddings(photos, "lite0", progress=False)
    data = TrainData.from_labels(
        vectors, product=[p.stem for p in photos.paths], category=photos.labels
    )
    data.path = np.asarray([str(p) for p in photos.paths], dtype=object)
    return data, photos.paths, seconds


def _head(data: TrainData, splits, options: TrainOptions) -> tuple[dict, float]:
    from lookalike.train.api import evaluate_before_after
    from lookalike.train.loop import fit_head

    started = time.perf_counter()
    fit = fit_head(data.subset(splits.train), data.subset(splits.val), options)
    seconds = time.perf_counter() - started
    evaluation = {
        name: evaluate_before_after(data.subset(getattr(splits, name)), fit.head.apply)
        for name in ("holdout_products", "holdout_categories")
    }
    return evaluation, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=1500, help="photos (seeded subsample)")
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mix", type=float, default=0.5)  # the CLI's default
    args = parser.parse_args()
    import torch

    torch.set_num_threads(usable_cores())
    data, paths, embed_s = _data(args.limit, args.seed)
    cats = data.categories
    held = hardest_categories(data, min(len(cats) - 2, max(2, round(0.2 * len(cats)))))
    splits = make_splits(
        data,
        seed=args.seed,
        val_fraction=0.15,
        holdout_fraction=0.2,
        holdout_categories=0.2,
        held_categories=held,
    )
    print(
        f"clothing-small, {len(data)} photos, {usable_cores()} cores (shared machine); "
        f"splits {splits.sizes()}; held-out categories {', '.join(held)}",
        flush=True,
    )
    cut = cut_point("lite0", args.blocks)
    cache = ActivationCache(
        bench_cache_dir() / "activations" / f"{len(data)}s{args.seed}-{cut.key}", cut
    )
    started, cpu = time.perf_counter(), time.process_time()
    acts = cache.rows_for(paths)
    cache_s, cache_cpu = time.perf_counter() - started, time.process_time() - cpu
    options = TrainOptions(
        method="partial",
        epochs=args.epochs,
        finetune_blocks=args.blocks,
        mix=args.mix,
        progress=False,
        threads=usable_cores(),
    )
    cpu = time.process_time()
    check = check_partial(data, splits, acts, cut, options)
    train_cpu = time.process_time() - cpu
    with tempfile.TemporaryDirectory() as tmp:
        from lookalike.train.tail import export_tuned

        started = time.perf_counter()
        export_tuned(check.fit, Path(tmp) / "tuned.onnx")
        export_s = time.perf_counter() - started
    head_eval, head_s = _head(
        data, splits, TrainOptions(epochs=40, threads=usable_cores(), progress=False)
    )
    _print_table(check.evaluation, head_eval)
    fit = check.fit
    epochs = max(len(fit.history), 1)
    print(
        f"wall seconds: lite0 embedding {embed_s:.0f} (cached by bench/datasets), frozen "
        f"blocks {cache_s:.1f} (0 when cached), partial training {fit.seconds:.1f} "
        f"({len(fit.history)} epochs, best {fit.best_epoch}, {len(splits.train)} training "
        f"photos), export {export_s:.1f}; head {head_s:.1f}"
    )
    print(
        f"CPU seconds (both cores summed; steadier than wall time on a shared machine): "
        f"frozen blocks {cache_cpu:.1f} ({1000 * cache_cpu / len(data):.1f} ms/photo), "
        f"partial training {train_cpu:.1f} "
        f"({1000 * train_cpu / epochs / len(splits.train):.1f} ms/photo/epoch)"
    )


def _print_table(partial: dict, head: dict) -> None:
    names = {"holdout_products": "held_out_products", "holdout_categories": "held_out_categories"}
    head = {names[k]: v for k, v in head.items()}
    print(f"{'held-out set':<22}{'n':>6}{'metric':>9}{'untrained':>11}{'head':>8}{'partial':>9}")
    for name, result in partial.items():
        for metric in ("P@10", "mAP@10"):
            print(
                f"{name:<22}{result['before']['n']:>6}{metric:>9}"
                f"{result['before'][metric]:>11.3f}{head[name]['after'][metric]:>8.3f}"
                f"{result['after'][metric]:>9.3f}"
            )
    for label, evaluation in (("the head", head), ("the fine-tuned model", partial)):
        print(f"gate: {decide_adoption(evaluation, subject=label).reason}")


if __name__ == "__main__":
    main()
