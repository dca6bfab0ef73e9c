"""``lookalike evaluate``: ground truth + every compared setting -> report folder.

One call, :func:`run_evaluation`, used by the CLI. The first setting is the *reference*: its
image grids, confusion view and score histogram are shown in the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.errors import ConfigError
from lookalike.evaluate.compare import (
    Setting,
    expand_settings,
    pair_scores,
    search_setting,
    unsupported,
)
from lookalike.evaluate.hybrid import HybridRanking, hybrid_ranking
from lookalike.evaluate.scoring import SettingResult, drop_self, score_results, suggest_threshold
from lookalike.evaluate.served import ServedContext, raw_reason
from lookalike.evaluate.stats import DEFAULT_BOOTSTRAP
from lookalike.evaluate.truth import GroundTruth, TruthSpec, build_truth, sample_queries
from lookalike.evaluate.vectors import workspace_vectors
from lookalike.progress import Progress
from lookalike.progress import task as progress_task
from lookalike.workspace import Workspace

__all__ = [
    "EvaluateOptions",
    "Evaluation",
    "run_evaluation",
    "COVERAGE_MAX_ROWS",
    "PAIRS_PER_QUERY",
]

# Below this many products every eligible query is measured by default (a sample above it)
AUTO_ALL_BELOW = 5_000
AUTO_SAMPLE = 500
# Coverage needs every product's list; above this many products it is measured on the queries.
COVERAGE_MAX_ROWS = 10_000
# Pairs sampled per query for the score histograms: all relevant ones up to this many, and
# this many uniformly drawn others.
PAIRS_PER_QUERY = 200


@dataclass(frozen=True, kw_only=True)
class EvaluateOptions:
    """What to evaluate and how. Validated on construction."""

    k: int = 10  # list length; every metric at every cutoff (``-k 1,5,10``: k = 10)
    cutoffs: tuple[int, ...] | None = None  # None: 1, 5 and k (scoring.default_cutoffs)
    # None: every eligible query below AUTO_ALL_BELOW products, else a seeded 500; 0: all
    queries: int | None = None
    seed: int = 0
    truth: TruthSpec = field(default_factory=TruthSpec)
    compare: dict[str, tuple[str, ...]] = field(default_factory=dict)
    n_boot: int = DEFAULT_BOOTSTRAP
    progress: Progress | None = field(default=None, compare=False, repr=False)
    # outside photos as queries against the catalog (see lookalike.evaluate.photos)
    queries_from: Path | None = None
    # False: the served lists (self, group variants, near-duplicates left out, as the
    # Recommender serves them; see lookalike.evaluate.served); True: the raw search
    raw: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.k <= 100:
            raise ConfigError(f"k must be between 1 and 100, got {self.k}")
        if self.cutoffs is not None and not all(1 <= c <= self.k for c in self.cutoffs):
            raise ConfigError(f"every k must be between 1 and {self.k}, got {self.cutoffs}")
        if self.queries is not None and self.queries < 0:
            raise ConfigError(f"queries must be 0 (all) or more, got {self.queries}")
        if not 10 <= self.n_boot <= 100_000:
            raise ConfigError(f"bootstrap resamples must be 10..100000, got {self.n_boot}")


@dataclass
class Evaluation:
    """Everything the report shows."""

    workspace: str
    options: EvaluateOptions
    truth: GroundTruth
    model: str
    results: list[SettingResult]
    titles: dict[str, str]
    images: dict[str, str]  # product id -> path of its main image on disk
    eligible: int
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _pair_scores(
    truth: GroundTruth,
    queries: np.ndarray,
    scores_of: Callable[[int], np.ndarray],
    seed: int,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Scores of sampled (query, product) pairs: relevant ones and uniform others, with the
    importance weight of each sampled irrelevant pair. ``scores_of(i)``: the scores of
    ``queries[i]`` against every row."""
    rng = np.random.default_rng(seed)
    n = truth.searchable
    all_rows = np.arange(n)
    rel_scores: list[np.ndarray] = []
    irr_scores: list[np.ndarray] = []
    n_irr_total = 0
    n_irr_sampled = 0
    for qi, q in enumerate(queries):
        scores = scores_of(qi)
        rel_mask = truth.relevance(np.array([q]), all_rows[None, :])[0]
        others = rng.integers(0, n, size=min(PAIRS_PER_QUERY, n - 1))
        sampled_irr = others[~rel_mask[others] & (others != q)]
        n_irr_total += n - 1 - int(rel_mask.sum())
        n_irr_sampled += len(sampled_irr)
        rel_rows = all_rows[rel_mask]
        if len(rel_rows) > PAIRS_PER_QUERY:
            rel_rows = rng.choice(rel_rows, PAIRS_PER_QUERY, replace=False)
        rel_scores.append(scores[rel_rows])
        irr_scores.append(scores[sampled_irr])
    weight = n_irr_total / max(n_irr_sampled, 1)
    return np.concatenate(rel_scores), np.concatenate(irr_scores), weight


def _vector_scores(
    query_vectors: np.ndarray, stored: np.ndarray, metric: str
) -> Callable[[int], np.ndarray]:
    def scores_of(i: int) -> np.ndarray:
        return pair_scores(query_vectors[i : i + 1], stored, metric)[0]

    return scores_of


def _hybrid_scores(hybrid: HybridRanking, queries: np.ndarray) -> Callable[[int], np.ndarray]:
    def scores_of(i: int) -> np.ndarray:
        return hybrid.scores(int(queries[i]))

    return scores_of


def _evaluate_setting(
    setting: Setting,
    vectors: np.ndarray,
    truth: GroundTruth,
    queries: np.ndarray,
    options: EvaluateOptions,
    label: str,
    hybrid: HybridRanking | None = None,
    served: ServedContext | None = None,
) -> SettingResult:
    n = len(truth)
    search_rows = np.arange(n) if n <= COVERAGE_MAX_ROWS else queries
    if truth.gallery is not None:  # outside photos: only they are searched
        search_rows = queries
    if hybrid is not None:
        dists, rows, took = hybrid.search(search_rows, options.k)
        seconds = {"search": took}
    else:
        dists, rows, stored, searched, seconds = search_setting(
            vectors, search_rows, options.k, setting, seed=options.seed, gallery=truth.gallery
        )
    if served is None:
        rows, dists = drop_self(search_rows, rows, dists, options.k)
    else:
        rows, dists = served.lists(setting, search_rows, options.k, vectors, hybrid)
    position = {int(r): i for i, r in enumerate(search_rows)}
    pick = np.array([position[int(q)] for q in queries], dtype=np.int64)
    t0 = time.perf_counter()
    result = score_results(
        truth,
        queries,
        rows[pick],
        dists[pick],
        k=options.k,
        label=label,
        all_results=rows,
        n_boot=options.n_boot,
        seed=options.seed,
        cutoffs=options.cutoffs,
    )
    scores_of: Callable[[int], np.ndarray]
    if hybrid is not None:
        scores_of = _hybrid_scores(hybrid, queries)
        if hybrid.uses_metadata and truth.description.startswith("same category"):
            result.note = (
                "title/attrs weights can see the category itself (titles often name it, attrs "
                "compare it): against category ground truth their gain is partly circular"
            )
    else:
        scores_of = _vector_scores(searched[pick], stored, setting.metric)
    rel, irr, weight = _pair_scores(truth, queries, scores_of, options.seed)
    result.threshold = {
        **suggest_threshold(rel, irr, weight),
        "relevant_pairs": len(rel),
        "other_pairs_sampled": len(irr),
    }
    result.pair_scores = (rel, irr)
    seconds["metrics"] = time.perf_counter() - t0
    result.seconds.update(seconds)
    result.setting = setting.to_dict()
    return result


def run_evaluation(workspace: Workspace | str, options: EvaluateOptions) -> Evaluation:
    """Evaluate a built workspace under every compared setting (see module doc)."""
    started = time.perf_counter()
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    ws.require_built()
    manifest = ws.manifest()
    own_model = str(manifest.get("model", ""))
    settings = expand_settings(options.compare)
    with ws.open_store() as store:
        products = {p.id: p for p in store.iter_products()}
        # "" = the workspace's own vectors as served (with its head); a name = that backbone
        models = list(dict.fromkeys(s.model or "" for s in settings))
        model_vectors = {
            m: workspace_vectors(
                ws, m, products, store, progress=options.progress, seed=options.seed
            )
            for m in models
        }
    # Every setting is scored on the same products: those with a vector under every model.
    common = [
        pid
        for pid in model_vectors[models[0]].vectors.ids
        if all(pid in mv.vectors for mv in model_vectors.values())
    ]
    if len(common) < 2:
        raise ConfigError("fewer than two products have vectors: nothing to evaluate")
    photo_vectors: dict[str, np.ndarray] = {}
    photo_images: dict[str, str] = {}
    if options.queries_from is not None:
        truth, photo_vectors, photo_images = _photo_setup(ws, options, common, products, models)
    else:
        truth = build_truth(common, products, options.truth)
    queries = sample_queries(truth, _query_count(options.queries, truth), options.seed)
    if not len(queries):
        raise ConfigError(
            f"no product has a relevant item under '{truth.description}': "
            "set categories, group_id, or pass --truth pairs:FILE.csv"
        )
    results: list[SettingResult] = []
    skipped: list[dict[str, str]] = []
    why_raw = raw_reason(options.raw, bool(photo_vectors), truth.description)
    served = None if why_raw else ServedContext.of(ws, common, products, options.seed)
    own_label = own_model + (" + head" if manifest.get("head") else "")
    for setting in _progress(settings, options.progress):
        mv = model_vectors[setting.model or ""]
        vectors = np.asarray(mv.vectors.take(common).vectors, dtype=np.float32)
        if photo_vectors:  # the photos' rows follow the catalog's
            vectors = np.concatenate([vectors, photo_vectors[setting.model or ""]])
        label = setting.label(own_label)
        reason = unsupported(setting, vectors.shape[1])
        if reason:
            # e.g. pca=256 next to the 128-d random model: the other settings still run
            skipped.append({"label": label, "reason": reason})
            continue

        hybrid = None
        if setting.weights and photo_vectors:
            skipped.append({"label": label, "reason": "photo queries have no title or attrs"})
            continue
        if setting.weights:
            hybrid = hybrid_ranking(ws, setting.weights, common, vectors, products)
        result = _evaluate_setting(setting, vectors, truth, queries, options, label, hybrid, served)
        result.seconds["vectors"] = mv.seconds
        results.append(result)
    if not results:
        raise ConfigError(f"every compared setting was skipped: {skipped}")
    first = {}
    for pid in common:
        product = products[pid]
        if product.images:
            first[pid] = product.images[0]
    return Evaluation(
        workspace=str(ws.root),
        options=options,
        truth=truth,
        model=own_model,
        results=results,
        titles={pid: products[pid].title for pid in common}
        | {qid: Path(path).name for qid, path in photo_images.items()},
        images=_image_paths(ws, first) | photo_images,
        eligible=len(truth.eligible()),
        seconds=time.perf_counter() - started,
        extra={
            "embedded": {m or own_label: mv.embedded for m, mv in model_vectors.items()},
            "skipped": skipped,
            # a "max" workspace serves best-image-pair neighbours; evaluation ranks by the
            # mean product vectors it also stores, so say so next to the numbers
            "aggregate": str(manifest.get("aggregate", "mean")),
            "lists": "raw" if served is None else "served",
            "raw_reason": why_raw,
            "exclusions": None if served is None else served.description,
        },
    )


def _query_count(asked: int | None, truth: GroundTruth) -> int | None:
    """How many queries to sample (None: all): see ``EvaluateOptions.queries``."""
    if asked == 0:
        return None
    if asked is None:
        return None if truth.searchable < AUTO_ALL_BELOW else AUTO_SAMPLE
    return asked


def _photo_setup(
    ws: Workspace,
    options: EvaluateOptions,
    common: list[str],
    products: dict[str, Any],
    models: list[str],
) -> tuple[GroundTruth, dict[str, np.ndarray], dict[str, str]]:
    """Photo -> catalog: the truth over catalog + photo rows, each model's photo vectors
    (``""``: as served, through the head) and each photo's file, by query id."""
    from lookalike.evaluate.photos import embed_photos, photo_truth, read_photo_queries
    from lookalike.evaluate.vectors import random_vectors

    assert options.queries_from is not None
    with ws.open_store() as store:
        shas = {r.sha256 for r in store.image_records().values() if r.sha256}
    photos = read_photo_queries(options.queries_from, shas)
    spec = options.truth.resolved(by_product=photos.has_product)
    truth, kept = photo_truth(common, products, photos, spec)
    own_model = str(ws.manifest().get("model", ""))
    vectors: dict[str, np.ndarray] = {}
    for m in models:
        if m == "random":
            ids = [q.qid for q in kept]
            vectors[m] = np.asarray(random_vectors(ids, options.seed + 1).vectors)
            continue
        vectors[m], _ = embed_photos(
            ws, m or own_model, kept, served=not m, progress=options.progress
        )
    return truth, vectors, {q.qid: str(q.path) for q in kept}


def _progress(settings: list[Setting], progress: Progress | None) -> Iterator[Setting]:
    """The settings, reported to ``progress`` as they finish."""
    advance = progress_task(progress, "evaluating settings", len(settings))
    for setting in settings:
        yield setting
        advance(1)


def _image_paths(ws: Workspace, first: dict[str, str]) -> dict[str, str]:
    from lookalike.evaluate.vectors import image_path

    return {pid: str(image_path(source, ws)) for pid, source in first.items()}
