"""Pretrained features vs a classifier head vs a triplet head, on held-out data.

Run: ``.venv/bin/python bench/train.py`` (embeddings cached in ~/.cache/lookalike/bench/).

- clothing-small: train on ``train``, early-stop on ``validation``, evaluate on ``test``
  (products never seen in training); and a held-out-category variant: 3 of the 10 categories
  (hat, skirt, shorts) removed from train/validation, evaluated on all the photos of those 3.
- grocery: train on ``train.txt`` (15% of its photos set aside for early stopping), evaluate on
  ``val.txt``: Recall@1 with product identity = fine class, P@10 / mAP@10 with relevance = same
  fine class.
Leave-one-out retrieval inside each evaluation set. The test split is never used for training
or early stopping. Training runs on 2 threads.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import Split, clothing_splits, grocery_splits  # noqa: E402
from lookalike.train import TrainData, TrainOptions, make_splits, retrieval_metrics  # noqa: E402
from lookalike.train.loop import fit_head  # noqa: E402

METHODS = {
    "classifier": dict(method="classifier"),
    "triplet (mined, triplet loss)": dict(method="triplet", loss="triplet"),
    "triplet (proxy-anchor)": dict(method="triplet", loss="proxy"),
}


def as_data(split: Split, identity: bool) -> TrainData:
    label = split.product if identity else split.category
    return TrainData.from_labels(split.vectors, product=split.product, category=label)


def run(name: str, train: TrainData, val: TrainData, test: TrainData) -> None:
    """Print one table row per feature set, as soon as it is measured."""
    base = retrieval_metrics(test.vectors, test.category, test.product)
    print(_row(name, "pretrained", base, 0.0), flush=True)
    for label, kw in METHODS.items():
        options = TrainOptions(epochs=40, threads=2, progress=False, **kw)  # type: ignore[arg-type]
        started = time.perf_counter()
        fit = fit_head(train, val, options)
        seconds = time.perf_counter() - started
        scores = retrieval_metrics(fit.head.apply(test.vectors), test.category, test.product)
        print(_row(name, label, scores, seconds, fit.best_epoch, len(fit.history)), flush=True)


def _fmt(x: object) -> str:
    return "   -  " if x is None else f"{x:.3f}"


def _row(name: str, label: str, s: dict, sec: float, best: int = 0, ran: int = 0) -> str:
    epochs = f"{best}/{ran}" if ran else "-"
    return (
        f"| {name} | {label} | {s['n']} | {_fmt(s['P@10'])} | {_fmt(s['mAP@10'])} | "
        f"{_fmt(s['Recall@1'])} | {sec:.1f} | {epochs} |"
    )


def main() -> None:
    print(
        "| dataset (held-out set) | features | queries | P@10 | mAP@10 | Recall@1 | "
        "train s | best/ran epochs |"
    )
    print("|---|---|---|---|---|---|---|---|")
    c = clothing_splits()
    train, val, test = (as_data(c[s], False) for s in ("train", "validation", "test"))
    run("clothing: test photos", train, val, test)
    # Never seen in training: every photo (all three splits) of 3 held-out categories.
    held = {"hat", "skirt", "shorts"}
    keep = lambda d, inside: np.flatnonzero([(x in held) == inside for x in d.category])  # noqa: E731
    parts = [d.subset(keep(d, True)) for d in (train, val, test)]
    unseen = TrainData.from_labels(
        np.concatenate([d.vectors for d in parts]),
        product=np.concatenate([d.product for d in parts]),
        category=np.concatenate([d.category for d in parts]),
    )
    run(
        "clothing: 3 held-out categories (all their photos)",
        train.subset(keep(train, False)),
        val.subset(keep(val, False)),
        unseen,
    )
    g = grocery_splits()
    full = as_data(g["train"], True)
    # fine class = product: validation photos taken from the train split's images, by image
    rng_split = make_splits(
        TrainData.from_labels(
            full.vectors, product=[str(i) for i in range(len(full))], category=full.category
        ),
        seed=0,
        val_fraction=0.15,
        holdout_fraction=0.0,
    )
    run(
        "grocery: val.txt photos",
        full.subset(rng_split.train),
        full.subset(rng_split.val),
        as_data(g["val"], True),
    )


if __name__ == "__main__":
    main()
