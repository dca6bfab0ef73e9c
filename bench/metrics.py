"""Does the metric matter? P@10 by category for cosine / euclidean / manhattan, on raw pooled
EfficientNet-Lite0 features and on the L2-normalised vectors a workspace stores.

    .venv/bin/python bench/metrics.py [--split test] [--limit N]

Uses ../shared/datasets/clothing-small (every photo of the split queries all others; relevant
= same category). Prints a table; no timings.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from lookalike.embed.decode import load_image
from lookalike.embed.preprocess import preprocess
from lookalike.embed.registry import get_embedder
from lookalike.index.exact import METRICS, knn_exact

DATA = Path(
    os.environ.get("LOOKALIKE_SHARED_DATASETS", Path(__file__).parents[2] / "shared" / "datasets")
)


def raw_features(paths: list[Path]) -> np.ndarray:
    """Un-normalised global-average-pooled features (the embedder's output before L2 norm)."""
    embedder = get_embedder("lite0")
    rows = []
    for start in range(0, len(paths), 32):
        batch = np.stack(
            [
                preprocess(load_image(p.read_bytes(), min_side=256))
                for p in paths[start : start + 32]
            ]
        )
        rows.append(embedder._run(batch))  # noqa: SLF001 - the raw features are the point here
    return np.concatenate(rows)


def precision_at_10(x: np.ndarray, labels: np.ndarray, metric: str) -> float:
    _, idx = knn_exact(x, x, 11, metric)
    hits = []
    for i, row in enumerate(idx):
        row = [j for j in row if j != i][:10]
        hits.append(np.mean(labels[row] == labels[i]))
    return float(np.mean(hits))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    root = DATA / "clothing-small" / args.split
    paths = sorted(root.glob("*/*.jpg"))[: args.limit]
    labels = np.array([p.parent.name for p in paths])
    raw = raw_features(paths)
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    norms = np.linalg.norm(raw, axis=1)
    print(
        f"{len(paths)} photos of clothing-small/{args.split}; raw feature norms:"
        f" min {norms.min():.1f}, median {np.median(norms):.1f}, max {norms.max():.1f}"
    )
    print(f"{'metric':<10} {'P@10 raw':>9} {'P@10 unit':>10}")
    for metric in METRICS:
        print(
            f"{metric:<10} {precision_at_10(raw, labels, metric):>9.3f}"
            f" {precision_at_10(unit, labels, metric):>10.3f}"
        )


if __name__ == "__main__":
    main()
