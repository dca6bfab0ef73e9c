"""Retrieval quality on the labeled photos in ../shared/datasets (issues 3 and 7).

Table 1 (baselines): Precision@5 / @10 by category on clothing-small, and HitRate@1 / HitRate@5
by product identity on grocery's 31 packaged products (each photo queries all the other
packaged-product photos; relevant = the other photos of the same product; HitRate@k = a
relevant photo is in the top k), for random, the colour-histogram baseline and Lite0.

Table 2 (comparison): models (lite0/lite1/lite2/histogram/random) x metrics (cosine/euclidean/
manhattan) x PCA (none/256/64): Precision@10 and mAP@10 (overall with 95% bootstrap CI, and by
category) on clothing, HitRate@1 on grocery, and the seconds each setting took.

Every photo is a query against all the others (self excluded). Embeddings are cached under
``~/.cache/lookalike/bench/`` (see bench/datasets.py); "embed s" is the time the embedding took
when it was computed, "search s" the compression + search + scoring of this run.

    .venv/bin/python bench/quality.py [--data ../shared/datasets] [--quick] [--out FILE.json]
      [--table baselines|compare|both] [--models lite0,histogram] [--metrics cosine] [--pca none]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from datasets import (  # noqa: E402
    LabeledPhotos,
    cached_embeddings,
    default_datasets,
    load_clothing,
    load_grocery_packages,
)
from lookalike.evaluate.compare import Setting, search_setting, unsupported  # noqa: E402
from lookalike.evaluate.scoring import SettingResult, drop_self, score_results  # noqa: E402
from lookalike.evaluate.stats import Estimate, bootstrap_ci  # noqa: E402
from lookalike.evaluate.truth import truth_from_labels  # noqa: E402
from lookalike.evaluate.vectors import random_vectors  # noqa: E402

MODELS = ("lite0", "lite1", "lite2", "histogram", "random")
METRICS = ("cosine", "euclidean", "manhattan")
PCAS = ("none", "256", "64")
N_BOOT = 500


def vectors_for(photos: LabeledPhotos, model: str, progress: bool) -> tuple[np.ndarray, float]:
    """(vectors, embed seconds); "random" is seeded unit noise (no photo is read)."""
    if model == "random":
        ids = [str(p) for p in photos.paths]
        return np.asarray(random_vectors(ids, seed=0).vectors), 0.0
    return cached_embeddings(photos, model, progress=progress)


def evaluate(
    photos: LabeledPhotos, x: np.ndarray, setting: Setting, k: int
) -> tuple[SettingResult, float]:
    """Every photo queries all the others under ``setting``; (result, seconds)."""
    t0 = time.perf_counter()
    truth = truth_from_labels([str(p) for p in photos.paths], photos.labels)
    rows = np.arange(len(truth))
    dists, found, _, _, _ = search_setting(x, rows, k, setting)
    found, dists = drop_self(rows, found, dists, k)
    result = score_results(
        truth, rows, found, dists, k=k, label=setting.label(), n_boot=N_BOOT, seed=0
    )
    return result, time.perf_counter() - t0


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join(
        h.ljust(w) if i == 0 else h.rjust(w)
        for i, (h, w) in enumerate(zip(header, widths, strict=True))
    )
    print(f"\n{title}\n{line}\n{'-' * len(line)}")
    for row in rows:
        print(
            "  ".join(
                str(c).ljust(w) if i == 0 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def est(e: Estimate) -> str:
    return f"{e.mean:.3f} [{e.low:.3f},{e.high:.3f}]"


def ci(result: SettingResult, metric: str) -> str:
    return est(result.overall[metric])


def cross_split(grocery: LabeledPhotos, x: np.ndarray) -> dict[str, Estimate]:
    """grocery val photos as queries against the train photos only (cosine): photos of one
    product taken in one burst cannot match each other, unlike leave-one-out."""
    from lookalike.index.exact import knn_exact

    split = np.array([p.relative_to(grocery.root).parts[0] for p in grocery.paths])
    labels = np.array(grocery.labels)
    query, base = split == "val", split == "train"
    _, found = knn_exact(x[query], x[base], 5)
    rel = labels[base][found] == labels[query][:, None]
    return {
        "HitRate@1": bootstrap_ci(rel[:, 0].astype(float), n_boot=N_BOOT),
        "HitRate@5": bootstrap_ci(rel.any(axis=1).astype(float), n_boot=N_BOOT),
    }


def baselines(clothing: LabeledPhotos, grocery: LabeledPhotos, progress: bool) -> dict:
    """Table 1: random, histogram, Lite0."""
    out: dict = {}
    rows, cat_rows = [], {}
    categories = sorted(set(clothing.labels))
    for model in ("random", "histogram", "lite0"):
        xc, _ = vectors_for(clothing, model, progress)
        xg, _ = vectors_for(grocery, model, progress)
        c, _ = evaluate(clothing, xc, Setting(model=model), 10)
        g, _ = evaluate(grocery, xg, Setting(model=model), 5)
        p5 = c.precision_curve[4]  # P@5 of the top-10 lists
        cross = cross_split(grocery, xg)
        rows.append(
            [
                model,
                f"{p5:.3f}",
                ci(c, "Precision@10"),
                ci(g, "HitRate@1"),
                ci(g, "HitRate@5"),
                est(cross["HitRate@1"]),
                est(cross["HitRate@5"]),
            ]
        )
        for cat in categories:
            cat_rows.setdefault(cat, [cat])
            cat_rows[cat] += [
                f"{group_p_at(clothing, c, cat, 5):.3f}",
                f"{c.by_group['Precision@10'][cat].mean:.3f}",
            ]
        out[model] = {
            "clothing": c.to_dict(),
            "grocery": g.to_dict(),
            "clothing_P@5": p5,
            "grocery_val_to_train": {m: e.to_dict() for m, e in cross.items()},
        }
    print_table(
        f"Table 1 · {clothing.name} ({len(clothing.paths)} photos, relevant = same category) "
        f"and {grocery.name} ({len(grocery.paths)} photos, 31 products)",
        [
            "model",
            "P@5",
            "P@10 [95% CI]",
            "grocery HitRate@1 (each vs rest)",
            "HitRate@5 (each vs rest)",
            "HitRate@1 (val->train)",
            "HitRate@5 (val->train)",
        ],
        rows,
    )
    header = ["category"] + [
        f"{m} {p}" for m in ("random", "histogram", "lite0") for p in ("P@5", "P@10")
    ]
    print_table("Table 1b · precision by category (clothing)", header, list(cat_rows.values()))
    return out


def group_p_at(photos: LabeledPhotos, result: SettingResult, category: str, k: int) -> float:
    """Mean P@k of one category's queries at a cut-off below the searched k."""
    labels = np.array(photos.labels)[result.queries]
    truth = truth_from_labels([str(p) for p in photos.paths], photos.labels)
    rel = truth.relevance(result.queries, result.results[:, :k])
    return float(rel[labels == category].mean())


def comparison(
    clothing: LabeledPhotos,
    grocery: LabeledPhotos,
    models: list[str],
    metrics: list[str],
    pcas: list[str],
    progress: bool,
) -> list[dict]:
    """Table 2: models x metrics x PCA."""
    table, by_cat_p, by_cat_map, records = [], [], [], []
    categories = sorted(set(clothing.labels))
    for model in models:
        xc, embed_c = vectors_for(clothing, model, progress)
        xg, embed_g = vectors_for(grocery, model, progress)
        for metric in metrics:
            for pca_text in pcas:
                pca = None if pca_text == "none" else int(pca_text)
                setting = Setting(model=model, metric=metric, pca=pca)
                reason = unsupported(setting, xc.shape[1])
                if reason:
                    table.append([setting.label(), "n/a", "n/a", "n/a", reason, "", ""])
                    continue
                c, sec_c = evaluate(clothing, xc, setting, 10)
                g, sec_g = evaluate(grocery, xg, setting, 10)
                table.append(
                    [
                        setting.label(),
                        ci(c, "Precision@10"),
                        ci(c, "mAP@10"),
                        f"{g.overall['HitRate@1'].mean:.3f}",
                        f"{embed_c + embed_g:.1f}",
                        f"{sec_c + sec_g:.1f}",
                        f"{embed_c + embed_g + sec_c + sec_g:.1f}",
                    ]
                )
                by_cat_p.append(
                    [setting.label()]
                    + [f"{c.by_group['Precision@10'][k].mean:.2f}" for k in categories]
                )
                by_cat_map.append(
                    [setting.label()] + [f"{c.by_group['mAP@10'][k].mean:.2f}" for k in categories]
                )
                records.append(
                    {
                        "setting": setting.to_dict(),
                        "clothing": c.to_dict(),
                        "grocery": g.to_dict(),
                        "embed_seconds": embed_c + embed_g,
                        "search_seconds": sec_c + sec_g,
                    }
                )
    print_table(
        "Table 2 · models x metrics x PCA (clothing Precision@10 / mAP@10, grocery HitRate@1)",
        [
            "setting",
            "P@10 [95% CI]",
            "mAP@10 [95% CI]",
            "grocery HitRate@1",
            "embed s",
            "search s",
            "total s",
        ],
        table,
    )
    print_table("Table 2b · P@10 by category (clothing)", ["setting", *categories], by_cat_p)
    print_table("Table 2c · mAP@10 by category (clothing)", ["setting", *categories], by_cat_map)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="the shared datasets folder")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="clothing test+validation only (713 photos) instead of all splits",
    )
    parser.add_argument("--table", choices=("baselines", "compare", "both"), default="both")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--metrics", default=",".join(METRICS))
    parser.add_argument("--pca", default=",".join(PCAS))
    parser.add_argument("--out", type=Path, default=None, help="write every number as JSON")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()

    data = args.data or default_datasets()
    splits = ("validation", "test") if args.quick else ("train", "validation", "test")
    clothing = load_clothing(data / "clothing-small", splits)
    grocery = load_grocery_packages(data / "grocery")
    progress = not args.no_progress
    print(
        f"clothing-small splits: {'+'.join(splits)} ({len(clothing.paths)} photos, "
        f"{len(set(clothing.labels))} categories); grocery packaged products: "
        f"{len(grocery.paths)} photos (train+val), {len(set(grocery.labels))} products"
    )
    out: dict = {
        "clothing_splits": splits,
        "clothing_photos": len(clothing.paths),
        "grocery_photos": len(grocery.paths),
    }
    if args.table in ("baselines", "both"):
        out["baselines"] = baselines(clothing, grocery, progress)
    if args.table in ("compare", "both"):
        out["comparison"] = comparison(
            clothing,
            grocery,
            args.models.split(","),
            args.metrics.split(","),
            args.pca.split(","),
            progress,
        )
    if args.out:
        args.out.write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
