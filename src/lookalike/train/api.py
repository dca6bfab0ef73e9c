"""``lookalike train``: load a built workspace's embeddings, split, fit, evaluate, save.

The head saved is the one evaluated: it is trained on the training split only, so the
before/after figures on the held-out products (and, for category objectives, whole held-out
categories) are honest. Outputs in ``<workspace>/head/``: ``head.npz`` + ``head.json`` (the
runtime), ``training.json`` (config, splits, history, evaluation) and ``learning_curve.png``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.atomic import write_json_atomic
from lookalike.errors import ConfigError
from lookalike.progress import Progress
from lookalike.progress import task as progress_task
from lookalike.train.config import TrainOptions
from lookalike.train.data import TrainData, load_workspace_data, make_splits
from lookalike.train.evaluation import retrieval_metrics
from lookalike.workspace import Workspace

__all__ = [
    "TrainReport",
    "train_workspace",
    "evaluate_before_after",
    "load_training_log",
    "TRAINING_LOG",
    "CURVE_PNG",
]

TRAINING_LOG = "training.json"
CURVE_PNG = "learning_curve.png"


@dataclass
class TrainReport:
    """What a training run did and how the held-out quality changed."""

    workspace: str
    options: dict[str, Any]
    splits: dict[str, int]
    history: list[dict[str, Any]]
    best_epoch: int
    stopped_early: bool
    monitor: str
    objective_before: float
    objective_after: float
    evaluation: dict[str, dict[str, Any]] = field(default_factory=dict)
    mining: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    head_dir: str = ""
    curve: str = ""
    head_hash: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dict(self.__dict__)


def evaluate_before_after(data: TrainData, transform: Any, *, k: int = 10) -> dict[str, Any]:
    """Leave-one-out metrics of ``data`` with its backbone vectors and after ``transform``."""
    return {
        "before": retrieval_metrics(data.vectors, data.category, data.product, k=k),
        "after": retrieval_metrics(transform(data.vectors), data.category, data.product, k=k),
    }


def _titles_usable(data: TrainData) -> bool:
    """Titles that are more than the product id (folder catalogs have none worth comparing)."""
    return any(t and t != p for t, p in zip(data.title, data.product, strict=True))


def train_workspace(workspace: Workspace | str, options: TrainOptions) -> TrainReport:
    """Train a head for a built workspace, evaluate it on held-out data and save it."""
    from lookalike.train.loop import fit_head
    from lookalike.train.plots import plot_learning_curve

    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    if options.finetune:  # checked first: the answer does not depend on the workspace
        from lookalike.embed.registry import cuda_available

        if not cuda_available():
            raise ConfigError(
                "--finetune needs a CUDA GPU and none is available here (torch sees no CUDA "
                "device): backbone fine-tuning is unavailable on CPU; train a head without "
                "--finetune instead"
            )
    ws.require_built()
    data, key = load_workspace_data(ws)
    by_category = options.method == "classifier" or options.loss == "proxy"
    splits = make_splits(
        data,
        seed=options.seed,
        val_fraction=options.val_fraction,
        holdout_fraction=options.holdout_fraction,
        holdout_categories=options.holdout_categories if by_category else 0.0,
    )
    train, val = data.subset(splits.train), data.subset(splits.val)
    if len(train) < 4:
        raise ConfigError(f"only {len(train)} training rows after the splits: too few to train")
    if options.finetune:
        from lookalike.train.finetune import finetune_workspace

        return finetune_workspace(ws, data, splits, options, key)
    notes: list[str] = []
    title_vectors = None
    if options.method == "triplet" and options.loss != "proxy" and options.use_titles:
        if _titles_usable(train):
            from lookalike.train.titles import title_vectors_for

            title_vectors = title_vectors_for(
                [str(p) for p in train.product], [str(t) for t in train.title], ws.title_vectors
            )
        else:
            notes.append("titles are only product ids: no title positives")
    meta = {
        "model_key": key,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": options.seed,
        "epochs": options.epochs,
        "hidden": options.hidden,
    }
    advance = _epoch_reporter(options.epochs, options.progress)
    fit = fit_head(train, val, options, meta=meta, title_vectors=title_vectors, on_epoch=advance)
    evaluation: dict[str, dict[str, Any]] = {}
    for name, rows in (
        ("held_out_products", splits.holdout_products),
        ("held_out_categories", splits.holdout_categories),
    ):
        if len(rows) >= 2:
            evaluation[name] = evaluate_before_after(data.subset(rows), fit.head.apply)
    folder = ws.head_dir
    digest = fit.head.save(folder)
    curve = plot_learning_curve(
        fit.history,
        folder / CURVE_PNG,
        monitor=fit.monitor,
        best_epoch=fit.best_epoch,
        title=f"{options.method} head ({fit.head.meta['loss']}), {ws.shop}",
    )
    report = TrainReport(
        workspace=str(ws.root),
        options=options.to_dict(),
        splits=splits.sizes(),
        history=fit.history,
        best_epoch=fit.best_epoch,
        stopped_early=fit.stopped_early,
        monitor=fit.monitor,
        objective_before=fit.objective_before,
        objective_after=fit.objective_after,
        evaluation=evaluation,
        mining=fit.mining,
        seconds=round(fit.seconds, 3),
        head_dir=str(folder),
        curve=str(curve),
        head_hash=digest,
        notes=notes,
    )
    write_json_atomic(folder / TRAINING_LOG, _json_safe(report.to_dict()))
    return report


def _epoch_reporter(total: int, progress: Progress | None) -> Callable[[dict[str, Any]], None]:
    """A per-epoch callback that reports the epoch and its latest losses to ``progress``."""
    advance = progress_task(progress, "training", total)

    def on_epoch(record: dict[str, Any]) -> None:
        shown = {k: v for k, v in record.items() if k != "epoch" and isinstance(v, float)}
        advance(1, " ".join(f"{k} {v:.4f}" for k, v in shown.items()))

    return on_epoch


def _json_safe(value: Any) -> Any:
    """NaN -> None, numpy scalars -> Python (strict JSON)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def load_training_log(folder: Path) -> dict[str, Any]:
    """The ``training.json`` of a head folder."""
    import json

    return json.loads((folder / TRAINING_LOG).read_text(encoding="utf-8"))
