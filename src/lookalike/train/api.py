"""``lookalike train``: load a built workspace's embeddings, split, fit, check, adopt, save.

The check run is trained without the held-out products and the held-out categories (the
hardest ones, chosen by untrained P@10, see :mod:`lookalike.train.gate`), so its before/after
figures are honest. The head is adopted only when it beats the untrained features on every
held-out set (``force`` adopts anyway); an adopted head is then refitted on every product for
the chosen number of epochs and that refit is the head saved. Outputs of an adopted run in
``<workspace>/head/``: ``head.npz`` + ``head.json`` (the runtime), ``training.json`` (config,
splits, held-out category names, history, evaluation, decision, refit) and
``learning_curve.png``; a refused head goes to ``<workspace>/train/rejected-head/`` instead
and the active head is left as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.atomic import write_json_atomic
from lookalike.errors import ConfigError
from lookalike.progress import Progress
from lookalike.progress import task as progress_task
from lookalike.train.config import TrainOptions
from lookalike.train.data import TrainData, held_out_rows, load_workspace_data, make_splits
from lookalike.train.evaluation import before_after
from lookalike.train.report import TrainReport, run_fields
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
REJECTED_DIR = "rejected-head"
CURVE_PNG = "learning_curve.png"


def evaluate_before_after(data: TrainData, transform: Any, *, k: int = 10) -> dict[str, Any]:
    """Leave-one-out metrics of ``data`` with its backbone vectors and after ``transform``."""
    return before_after(data, transform(data.vectors), k=k)


def _titles_usable(data: TrainData) -> bool:
    """Titles that are more than the product id (folder catalogs have none worth comparing)."""
    return any(t and t != p for t, p in zip(data.title, data.product, strict=True))


def _held_categories(data: TrainData, options: TrainOptions) -> list[str]:
    """The hardest categories to hold out (several, at least 2 when >= 4 categories)."""
    from lookalike.train.gate import hardest_categories

    cats = data.categories
    if options.holdout_categories <= 0 or len(cats) < 3:
        return []
    count = min(len(cats) - 2, max(2, round(options.holdout_categories * len(cats))))
    return hardest_categories(data, count)


def _title_vectors(ws: Workspace, data: TrainData, options: TrainOptions, notes: list[str]) -> Any:
    if options.method != "triplet" or options.loss == "proxy" or not options.use_titles:
        return None
    if not _titles_usable(data):
        if "titles are only product ids or invented: no title positives" not in notes:
            notes.append("titles are only product ids or invented: no title positives")
        return None
    from lookalike.train.titles import title_vectors_for

    return title_vectors_for(
        [str(p) for p in data.product], [str(t) for t in data.title], ws.title_vectors
    )


def train_workspace(workspace: Workspace | str, options: TrainOptions) -> TrainReport:
    """Train a head, check it on held-out products and categories, and adopt it (refitted on
    every product) only when it beats the untrained features there (see ``train.gate``)."""
    from lookalike.train.gate import decide_adoption
    from lookalike.train.loop import fit_head

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
    held_names = _held_categories(data, options)
    splits = make_splits(
        data,
        seed=options.seed,
        val_fraction=options.val_fraction,
        holdout_fraction=options.holdout_fraction,
        holdout_categories=options.holdout_categories,
        held_categories=held_names,
    )
    train, val = data.subset(splits.train), data.subset(splits.val)
    if len(train) < 4:
        raise ConfigError(f"only {len(train)} training rows after the splits: too few to train")
    if options.finetune:
        from lookalike.train.finetune import finetune_workspace

        return finetune_workspace(ws, data, splits, options, key)
    if options.method == "partial":
        from lookalike.train.partial import partial_workspace

        return partial_workspace(ws, data, splits, options, key, held=held_names)
    notes: list[str] = []
    meta = {
        "model_key": key,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": options.seed,
        "epochs": options.epochs,
        "hidden": options.hidden,
    }
    advance = _epoch_reporter(options.epochs, options.progress)
    titles = _title_vectors(ws, train, options, notes)
    fit = fit_head(train, val, options, meta=meta, title_vectors=titles, on_epoch=advance)
    evaluation: dict[str, dict[str, Any]] = {}
    for name, rows in held_out_rows(splits):
        evaluation[name] = evaluate_before_after(data.subset(rows), fit.head.apply)
    decision = decide_adoption(evaluation, force=options.force)
    head, refit = fit.head, None
    if decision.adopted and options.refit and len(data) > len(train):
        # the check passed: learn every product (held-out ones included) for the chosen epochs
        full = replace(options, epochs=max(fit.best_epoch, 1), patience=options.epochs + 1)
        titles_all = _title_vectors(ws, data, options, notes)
        again = fit_head(
            data, data.subset(np.zeros(0, np.int64)), full, meta=meta, title_vectors=titles_all
        )
        head = again.head
        refit = {
            "rows": len(data),
            "epochs": full.epochs,
            "history": again.history,
            "seconds": round(again.seconds, 3),
        }
    report = _save(ws, options, head, fit, decision, refit, splits, evaluation, notes)
    report.held_out_categories = held_names
    write_json_atomic(Path(report.head_dir) / TRAINING_LOG, _json_safe(report.to_dict()))
    return report


def _save(
    ws: Workspace,
    options: TrainOptions,
    head: Any,
    fit: Any,
    decision: Any,
    refit: dict[str, Any] | None,
    splits: Any,
    evaluation: dict[str, dict[str, Any]],
    notes: list[str],
) -> TrainReport:
    """An adopted head goes to ``head/`` (what build applies); a refused one to
    ``train/rejected-head/`` with its log, leaving the active head as it was."""
    from lookalike.train.plots import plot_learning_curve

    folder = ws.head_dir if decision.adopted else ws.train_dir / REJECTED_DIR
    digest = head.save(folder)
    curve = plot_learning_curve(
        fit.history,
        folder / CURVE_PNG,
        monitor=fit.monitor,
        best_epoch=fit.best_epoch,
        title=f"{options.method} head ({head.meta['loss']}), {ws.shop}",
    )
    return TrainReport(
        **run_fields(ws.root, options, splits, fit),
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
        adopted=decision.adopted,
        decision=decision.to_dict(),
        refit=refit,
    )


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
