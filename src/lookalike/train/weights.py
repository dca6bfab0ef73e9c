"""``lookalike train SHOP --method weights``: the image/title hybrid weight tuned on the catalog.

The Recommender's hybrid score is ``image * cos(image) + title * cos(title)`` (plus attributes,
``recommend.hybrid``); with ``image = 1 - s`` and ``title = s`` the ranking depends on the
title share ``s`` alone. A grid of shares is scored by catalog -> catalog P@10 by category
(each query product against every other product, as served) on the *tuning* products; the
best share is then checked on held-out products and held-out categories (the hardest ones, as
``lookalike train`` holds out) and adopted under the same rule as a head (``train.gate``):
only when it beats image-only on both, ``--force`` adopts anyway. Attribute weights are not
tuned: the category is an attribute, and it is also what relevance is measured by.

Adopted weights go to ``<workspace>/weights/weights.json`` (read by the Recommender, see
``recommend.tuned``) with the run's ``training.json``; refused ones only to
``train/rejected-weights/training.json``. Catalogs whose titles are invented (folder catalogs:
``"<Category> <file stem>"``) or missing are refused: there is nothing to weigh.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.atomic import write_json_atomic
from lookalike.errors import ConfigError
from lookalike.evaluate.metrics import precision_at_k
from lookalike.index.exact import topk_rows
from lookalike.pipeline.titled import has_real_title
from lookalike.recommend.filters import Weights
from lookalike.recommend.tuned import save_tuned_weights
from lookalike.train.api import _json_safe
from lookalike.train.data import TrainData, held_out_rows, make_splits
from lookalike.train.gate import decide_adoption, hardest_categories
from lookalike.workspace import Workspace

__all__ = ["SHARES", "WeightsOptions", "WeightsReport", "tune_weights", "share_precision"]

SHARES = tuple(round(0.1 * i, 1) for i in range(10))  # title share 0 (image only) .. 0.9
REJECTED_DIR = "rejected-weights"
TRAINING_LOG = "training.json"
_MAX_QUERIES = 2000  # per set: a seeded sample beyond this (each query scores every product)
_BLOCK = 256


@dataclass(frozen=True, kw_only=True)
class WeightsOptions:
    """How to tune the weights and check them."""

    seed: int = 0
    k: int = 10
    holdout_fraction: float = 0.2
    holdout_categories: float = 0.2
    force: bool = False
    min_titled: float = 0.5  # share of products that need a real title

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass
class WeightsReport:
    """What the tuning found and decided."""

    workspace: str
    options: dict[str, Any]
    grid: list[dict[str, Any]]
    chosen: dict[str, float]
    evaluation: dict[str, dict[str, Any]]
    adopted: bool
    decision: dict[str, Any]
    saved: str
    splits: dict[str, int] = field(default_factory=dict)
    held_out_categories: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dict(self.__dict__)


@dataclass
class _Catalog:
    ids: list[str]
    images: np.ndarray  # (N, D) unit rows, as served
    titles: np.ndarray  # (N, 384) unit rows, zero where a product has no title vector
    category: np.ndarray  # str (N,)


def _load(ws: Workspace, options: WeightsOptions) -> _Catalog:
    """The served image and title vectors with categories; ConfigError when untunable."""
    manifest = ws.manifest()
    conf = manifest.get("recommend") or {}
    if not conf.get("titles", True) or not ws.title_vectors.exists():
        raise ConfigError(
            f"{ws.root} was built without title vectors: rebuild without --no-titles to tune "
            "title weights"
        )
    images = ws.product_vectors.load(mmap=False)
    with ws.open_store() as store:
        products = store.get_many(images.ids)
    titled = sum(has_real_title(p) for p in products.values())
    if titled < options.min_titled * max(len(products), 1):
        raise ConfigError(
            f"only {titled} of {len(products)} products of {ws.root} have a real title (not the "
            "id, a file name, or the category + file name a folder catalog invents): title "
            "weights need real titles"
        )
    titles = ws.title_vectors.load(mmap=False)
    rows = titles.row_of()
    title_matrix = np.zeros((len(images), titles.dim), np.float32)
    for i, pid in enumerate(images.ids):
        j = rows.get(pid)
        if j is not None and has_real_title(products[pid]):
            title_matrix[i] = titles.vectors[j]
    category = np.array([products[p].category if p in products else "" for p in images.ids])
    if len({c for c in category if c}) < 2:
        raise ConfigError(
            f"{ws.root} has fewer than 2 categories: weights are tuned on category P@10"
        )
    return _Catalog(list(images.ids), np.asarray(images.vectors), title_matrix, category)


def share_precision(
    cat: _Catalog, rows: np.ndarray, shares: tuple[float, ...], k: int
) -> dict[float, float]:
    """Mean P@k by category of the query products ``rows`` (each against every other product)
    under ``(1 - s) * cos(image) + s * cos(title)`` for each share ``s``."""
    rows = np.asarray([r for r in rows if cat.category[r]], np.int64)
    totals = dict.fromkeys(shares, 0.0)
    if not len(rows):
        return {s: float("nan") for s in shares}
    kk = min(k, len(cat.ids) - 1)
    for start in range(0, len(rows), _BLOCK):
        block = rows[start : start + _BLOCK]
        image, title = cat.images[block] @ cat.images.T, cat.titles[block] @ cat.titles.T
        for s in shares:
            scores = (1 - s) * image + s * title
            scores[np.arange(len(block)), block] = -np.inf  # never the query itself
            _, found = topk_rows(scores, kk)
            rel = cat.category[found] == cat.category[block][:, None]
            totals[s] += float(precision_at_k(rel, kk).sum())
    return {s: totals[s] / len(rows) for s in shares}


def _sample(rows: np.ndarray, seed: int) -> np.ndarray:
    if len(rows) <= _MAX_QUERIES:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, _MAX_QUERIES, replace=False))


def tune_weights(workspace: Workspace | str, options: WeightsOptions) -> WeightsReport:
    """Grid-search the title share on tuning products, check it on held-out products and
    categories, adopt or keep off (see the module doc)."""
    started = time.perf_counter()
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    ws.require_built()
    cat = _load(ws, options)
    data = TrainData.from_labels(cat.images, product=cat.ids, category=cat.category)
    count = len(data.categories)
    held_names: list[str] = []
    if options.holdout_categories > 0 and count >= 4:
        wanted = min(count - 2, max(2, round(options.holdout_categories * count)))
        held_names = hardest_categories(data, wanted, k=options.k)
    splits = make_splits(
        data,
        seed=options.seed,
        val_fraction=0.0,
        holdout_fraction=options.holdout_fraction,
        held_categories=held_names,
    )
    tuning = share_precision(cat, _sample(splits.train, options.seed), SHARES, options.k)
    best = max(SHARES, key=lambda s: (round(tuning[s], 9), -s))  # ties: the smaller share
    grid = [{"title_share": s, f"P@{options.k}": tuning[s]} for s in SHARES]
    evaluation: dict[str, dict[str, Any]] = {}
    for name, rows in held_out_rows(splits):
        found = share_precision(cat, _sample(rows, options.seed), (0.0, best), options.k)
        metric = f"P@{options.k}"
        n = int(len(rows))
        evaluation[name] = {
            "before": {metric: found[0.0], "n": n},
            "after": {metric: found[best], "n": n},
        }
    chosen = Weights(image=round(1 - best, 3), title=best)
    if best == 0.0:
        decision = decide_adoption({})  # nothing to adopt: image only is best
        decision.reason = "image only scores best on the tuning products: nothing to adopt"
    else:
        decision = decide_adoption(
            evaluation, force=options.force, subject="the tuned weights", baseline="image only"
        )
    folder = ws.weights_dir if decision.adopted else ws.train_dir / REJECTED_DIR
    report = WeightsReport(
        workspace=str(ws.root),
        options=options.to_dict() | {"method": "weights", "shares": list(SHARES)},
        grid=grid,
        chosen=chosen.as_dict(),
        evaluation=evaluation,
        adopted=decision.adopted,
        decision=decision.to_dict(),
        saved=str(folder),
        splits={k: v for k, v in splits.sizes().items() if k != "val"},
        held_out_categories=held_names,
        seconds=round(time.perf_counter() - started, 3),
    )
    _save(ws, folder, chosen, report)
    return report


def _save(ws: Workspace, folder: Path, chosen: Weights, report: WeightsReport) -> None:
    """``training.json`` in ``folder``; adopted weights also as ``weights.json`` there."""
    folder.mkdir(parents=True, exist_ok=True)
    if report.adopted:
        record = {
            "method": "weights",
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model_key": ws.manifest().get("model_key"),
            "decision": report.decision["reason"],
        }
        save_tuned_weights(folder, chosen, record)
    write_json_atomic(folder / TRAINING_LOG, _json_safe(report.to_dict()))
