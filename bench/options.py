"""Label-free feature options on ../shared/datasets: one table, every option, with CIs and cost.

Sets (``--full`` uses every clothing split; default validation+test, 713 photos):

- clothing-small: each photo queries all the others, relevant = same category: P@10.
- grocery (val photos + a seeded sixth of the train photos): category P@10 (coarse class,
  each photo against the others); product R@1 (val photo -> train photos, same fine class at
  rank 1); photo -> iconic top-1 / top-5 (val photo -> the 81 catalog images).

Feature options are model names (``lite0+gem+flip``, see ``lookalike.embed.features``); the
fitted ones are applied after: ``|whiteS`` (PCA-whitening with shrinkage S, default 1,
fitted on the gallery = the catalog), ``|dba+aqe`` (database-side augmentation of the
gallery and alpha query expansion). Embeddings are computed once per option set, in one
forward pass per image for all options of the same input size, and cached
(bench/datasets.py). Cost: seconds of ``embed_images`` (decode + model) on the same 48
photos relative to plain Lite0, measured in this run, plus the fitted steps' seconds on the
clothing set.

    .venv/bin/python bench/options.py [--full] [--variants A,B] [--post ,|white,...] [--out F]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from datasets import LabeledPhotos, bench_cache_dir, default_datasets, load_clothing  # noqa: E402
from lookalike.atomic import write_json_atomic  # noqa: E402
from lookalike.evaluate.stats import Estimate, bootstrap_ci  # noqa: E402
from lookalike.index.exact import knn_exact  # noqa: E402
from lookalike.index.vectors import VectorSet  # noqa: E402
from option_build import BUILD_OPTIONS, paired_build_costs  # noqa: E402

VARIANTS = (
    "lite0",
    "lite1",
    "lite0+gem",
    "lite0+gem2",
    "lite0+gem4",
    "lite0+gem6",
    "lite0+blocks",
    "lite0+gem+blocks",
    "lite0+flip",
    "lite0+sqrt",
    "lite0+gem+sqrt",
    "lite0+color",
    "lite0+gem+color",
    "lite0+gem+flip+color",
    "lite0+ms",
    "lite0+gem+ms",
    "lite0+lite1",
)
POSTS = ("", "|white", "|white64", "|white256", "|dba+aqe", "|white256|dba+aqe")
POST_ON = "lite0,lite0+flip,lite0+ms,lite0+lite1"
METRICS = (
    "clothing_P@10",
    "grocery_category_P@10",
    "grocery_product_R@1",
    "photo_iconic_top1",
    "photo_iconic_top5",
)
HEADERS = ("clothing P@10", "grocery cat P@10", "product R@1", "photo->iconic top1", "top5")
N_BOOT = 500


def grocery_sets(root: Path, seed: int = 0) -> tuple[LabeledPhotos, LabeledPhotos, dict]:
    """(photos = val + a third of train, iconic catalog, labels): fine/coarse/split per photo."""
    rows = []
    for split in ("train", "val"):
        for line in (root / f"{split}.txt").read_text(encoding="utf-8").splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) >= 3:
                rows.append((split, parts[0], parts[1], parts[2]))
    rng = np.random.default_rng(seed)
    keep = [r for r in rows if r[0] == "val" or rng.random() < 1 / 6]
    photos = LabeledPhotos(
        f"grocery-val+train6s{seed}",
        root,
        [root / r[1] for r in keep],
        [f"c{r[3]}" for r in keep],
    )
    lines = (root / "classes.csv").read_text(encoding="utf-8").splitlines()[1:]
    classes = [line.split(",") for line in lines if line.strip()]
    iconic = LabeledPhotos(
        "grocery-iconic",
        root,
        [root / c[4].lstrip("/") for c in classes],
        [f"f{c[1]}" for c in classes],
    )
    labels = {
        "fine": np.array([f"f{r[2]}" for r in keep]),
        "coarse": np.array([f"c{r[3]}" for r in keep]),
        "split": np.array([r[0] for r in keep]),
    }
    return photos, iconic, labels


def iconic_coarse(root: Path) -> list[str]:
    """The coarse class of each iconic image (classes.csv order): the catalog's categories."""
    lines = (root / "classes.csv").read_text(encoding="utf-8").splitlines()[1:]
    return [f"c{line.split(',')[3]}" for line in lines if line.strip()]


def _group_size(name: str) -> int:
    from lookalike.embed.registry import get_embedder

    return get_embedder(name).input_size


class _Stacked:
    """Several embedders of one input size as one, sharing each batch's forward passes."""

    name = "all"

    def __init__(self, embedders: list, shared: dict, size: int) -> None:
        self.embedders, self.shared, self.input_size = embedders, shared, size
        self.dim = sum(e.dim for e in embedders)
        self.resize_size = embedders[0].resize_size

    def embed(self, batch: np.ndarray) -> np.ndarray:
        self.shared.clear()
        return np.concatenate([e.embed(batch) for e in self.embedders], axis=1)


def embed_all(photos: LabeledPhotos, names: list[str]) -> dict[str, np.ndarray]:
    """Vectors of ``photos`` for every name; one forward pass per image and input size."""
    from lookalike.embed.pipeline import embed_images
    from lookalike.embed.registry import get_embedder, model_key

    folder = bench_cache_dir() / photos.name
    ids = [str(p.relative_to(photos.root)) for p in photos.paths]
    out: dict[str, np.ndarray] = {}
    todo: dict[int, list[str]] = {}
    for name in names:
        key = model_key(name)
        if VectorSet.exists(folder, key):
            cached = VectorSet.load(folder, key, mmap=False)
            if cached.ids == ids:
                out[name] = np.asarray(cached.vectors)
                continue
        todo.setdefault(_group_size(name), []).append(name)
    for size, group in todo.items():
        # plain lite0 = mean-pooled maps (equal to 2e-7): share the forward pass
        embedders = [get_embedder("lite0+gem1" if n == "lite0" else n) for n in group]
        shared: dict = {}
        for e in embedders:
            if hasattr(e, "memo"):
                e.memo = shared

        started = time.perf_counter()
        result = embed_images(
            [p.read_bytes for p in photos.paths],
            _Stacked(embedders, shared, size),
            progress=True,
            description=f"{photos.name} @{size}",
        )
        print(f"  {photos.name} @{size}: {time.perf_counter() - started:.0f} s", flush=True)
        for e in embedders:
            if hasattr(e, "memo"):
                e.memo = None
        start = 0
        for name, e in zip(group, embedders, strict=True):
            x = np.zeros((len(ids), e.dim), dtype=np.float32)
            x[result.ok] = result.vectors[:, start : start + e.dim]
            start += e.dim
            VectorSet(ids, x).save(folder, model_key(name))
            out[name] = x
    return out


def post(xq: np.ndarray, xb: np.ndarray, spec: str, same: bool) -> tuple[np.ndarray, np.ndarray]:
    """Apply the fitted steps of ``spec`` (``|white|dba+aqe``) to queries and gallery."""
    from lookalike.embed.whiten import Whitening
    from lookalike.recommend.expansion import (
        DEFAULT_EXPANSION,
        alpha_query_expansion,
        database_augmentation,
    )

    match = re.search(r"white(\d+(?:\.\d+)?)?", spec)
    if match:
        w = Whitening.fit(xb, float(match.group(1) or 1.0))
        xb = w.apply(xb)
        xq = xb if same else w.apply(xq)
    if "dba" in spec:
        k, alpha = DEFAULT_EXPANSION
        xb = database_augmentation(xb, k, alpha)
        xq = xb if same else xq
        xq = alpha_query_expansion(xq, xb, k, alpha)
    return xq, xb


def loo_precision(x: np.ndarray, labels: np.ndarray, spec: str, k: int = 10) -> np.ndarray:
    """Each row against the others: P@k by label, per query."""
    xq, xb = post(x, x, spec, same=True)
    _, found = knn_exact(xq, xb, k + 1)
    rows = np.arange(len(x))[:, None]
    found = np.where(found == rows, -1, found)
    found = np.stack([r[r >= 0][:k] for r in found])
    return (labels[found] == labels[:, None]).mean(axis=1)


def cross_hits(
    xq: np.ndarray, xb: np.ndarray, lq: np.ndarray, lb: np.ndarray, spec: str, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Queries against a separate gallery: (top-1, top-k) hits per query."""
    xq, xb = post(xq, xb, spec, same=False)
    _, found = knn_exact(xq, xb, k)
    rel = lb[found] == lq[:, None]
    return rel[:, 0].astype(float), rel.any(axis=1).astype(float)


def costs(photos: LabeledPhotos, names: list[str], n: int = 48) -> dict[str, float]:
    """Seconds of embed_images on the same ``n`` photos per name, relative to plain lite0."""
    from lookalike.embed.pipeline import embed_images
    from lookalike.embed.registry import get_embedder

    datas = [p.read_bytes() for p in photos.paths[:n]]
    seconds: dict[str, float] = {}
    for name in ["lite0", *names]:
        embedder = get_embedder(name)
        embed_images(datas[:4], embedder, progress=False)  # warm-up
        t0 = time.perf_counter()
        embed_images(datas, embedder, progress=False)
        seconds[name] = time.perf_counter() - t0
    return {name: s / seconds["lite0"] for name, s in seconds.items()}


def fmt(e: Estimate) -> str:
    return f"{e.mean:.3f}±{(e.high - e.low) / 2:.3f}"


def set_metrics(x: tuple, labels: tuple, spec: str) -> list[np.ndarray]:
    """The five numbers of one row: ``x`` = (clothing, grocery, grocery photos under the
    iconic gallery's model, iconic) vectors: queries always in their gallery's space.
    Per-query values, so two rows can be compared query by query (``--paired``)."""
    (xc, xg, xgi, xi), (lc, g, li) = x, labels
    val, train = g["split"] == "val", g["split"] == "train"
    c = loo_precision(xc, lc, spec)
    gc = loo_precision(xg, g["coarse"], spec)
    r1, _ = cross_hits(xg[val], xg[train], g["fine"][val], g["fine"][train], spec, 1)
    t1, t5 = cross_hits(xgi[val], xi, g["fine"][val], li, spec, 5)
    return [c, gc, r1, t1, t5]


def gem_auto_rows(sets: tuple, coarse_iconic: list[str]) -> dict[str, tuple[str, str, str]]:
    """``{row label: (clothing, grocery, iconic) variant}``: GeM's p as the build chooses it on
    each set's gallery, with its categories and label-free."""
    from option_build import chosen_p

    clothing, grocery, iconic = sets
    rows: dict[str, tuple[str, str, str]] = {}
    for criterion in ("category", "stability"):
        picks = []
        for photos, cats in (
            (clothing, clothing.labels),
            (grocery, grocery.labels),
            (iconic, coarse_iconic),
        ):
            p, used, scores = chosen_p(photos.paths, cats if criterion == "category" else None)
            print(f"  GeM p on {photos.name} ({used}): {p:g}  {scores}", flush=True)
            picks.append("lite0" if p == 1 else f"lite0+gem{p:g}")
        rows[f"lite0+gem (p by {criterion}: {'/'.join(picks)})"] = tuple(picks)  # type: ignore
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="every clothing split (3,781)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--post", default=";".join(POSTS), help="';'-separated fitted steps")
    parser.add_argument("--post-on", default=POST_ON, help="variants to post-process")
    parser.add_argument("--no-cost", action="store_true")
    parser.add_argument("--gem-auto", action="store_true", help="rows for GeM's chosen p")
    parser.add_argument("--build-cost", type=int, default=0, help="photos per paired build")
    parser.add_argument("--rounds", type=int, default=2, help="paired build rounds")
    parser.add_argument("--build-options", default=",".join(BUILD_OPTIONS))
    parser.add_argument("--paired", default="", help="A:B,... per-query differences B - A")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    data = default_datasets()
    splits = ("train", "validation", "test") if args.full else ("validation", "test")
    clothing = load_clothing(data / "clothing-small", splits)
    grocery, iconic, g = grocery_sets(data / "grocery")
    names = args.variants.split(",")
    print(
        f"clothing {len(clothing.paths)} photos; grocery {len(grocery.paths)} photos; "
        f"{len(iconic.paths)} iconic",
        flush=True,
    )
    builds = {}
    if args.build_cost:
        small = clothing.subsample(args.build_cost, seed=0)
        builds = paired_build_costs(
            small.paths, small.labels, data, args.rounds, args.build_options.split(",")
        )
        print(json.dumps(builds), flush=True)
    xc, xg, xi = embed_all(clothing, names), embed_all(grocery, names), embed_all(iconic, names)
    ratio = {} if args.no_cost else costs(clothing, [n for n in names if n != "lite0"])
    labels = (np.array(clothing.labels), g, np.array(iconic.labels))
    plan = [(n + spec, (n, n, n), spec) for n in names for spec in args.post.split(";")]
    plan = [p for p in plan if not p[2] or p[1][0] in args.post_on.split(",")]
    if args.gem_auto:
        auto = gem_auto_rows((clothing, grocery, iconic), iconic_coarse(data / "grocery"))
        plan += [(label, picks, "") for label, picks in auto.items()]
    rows, records, values = [], [], {}
    for label, (nc, ng, ni), spec in plan:
        t0 = time.perf_counter()
        values[label] = set_metrics((xc[nc], xg[ng], xg[ni], xi[ni]), labels, spec)
        estimates = [bootstrap_ci(v, n_boot=N_BOOT) for v in values[label]]
        fit_s = time.perf_counter() - t0 if spec else 0.0
        cost = ratio.get(nc) if nc == ng == ni else None
        rows.append(
            [label, *map(fmt, estimates), "-" if cost is None else f"{cost:.2f}x", f"{fit_s:.1f}"]
        )
        records.append(
            {"option": label, "embed_cost_ratio": cost, "fitted_seconds": fit_s}
            | {k: e.__dict__ for k, e in zip(METRICS, estimates, strict=True)}
        )
        print(" | ".join(rows[-1]), flush=True)
    header = ["option", *HEADERS, "embed cost", "fit s"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("\n" + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    for pair in filter(None, args.paired.split(",")):
        a, b = pair.split(":")
        pairs = zip(values[a], values[b], strict=True)
        diffs = [bootstrap_ci(vb - va, n_boot=N_BOOT) for va, vb in pairs]
        named = zip(HEADERS, diffs, strict=True)
        print(f"paired {b} - {a}: " + "  ".join(f"{h} {fmt(d)}" for h, d in named))
    for name, b in builds.items():
        print(
            f"build {name}: {b['seconds']:.1f} s wall ({b['ratio']:.2f}x lite0), "
            f"{b['cpu_seconds']:.1f} s cpu ({b['cpu_ratio']:.2f}x), runs {b['runs']}"
        )
    if args.out:
        write_json_atomic(args.out, {"splits": splits, "rows": records, "builds": builds})
    print(json.dumps({"clothing": len(labels[0]), "grocery": len(g["fine"])}))


if __name__ == "__main__":
    main()
