"""``lookalike train SHOP --photos photos.csv``: a head that brings shop photos next to their
product's catalog images, adopted only when it beats the untrained features.

The check run trains without the held-out products and the held-out photos (see
:mod:`lookalike.train.photos`); the head is adopted (``train.gate``) only when photo -> catalog
top-1 improves on both, measured against the whole catalog. An adopted head is refitted on
every photo for the chosen number of epochs and saved as the workspace's head (``head/``): the
next build applies it to the catalog's images, and the Recommender applies it to image
queries, as for any head. A refused one goes to ``train/rejected-photo-head/``. Catalog ->
catalog leave-one-out quality before/after is reported too (not gated: the head is trained for
photos), so a shop sees what the head does to its "similar products" lists.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.atomic import write_json_atomic
from lookalike.errors import ConfigError
from lookalike.train.api import CURVE_PNG, TRAINING_LOG, _epoch_reporter, _json_safe
from lookalike.train.data import load_workspace_data
from lookalike.train.evaluation import retrieval_metrics
from lookalike.train.gate import decide_adoption
from lookalike.train.loop import FitResult
from lookalike.train.photo_fit import PhotoTrainOptions, fit_photo_head
from lookalike.train.photos import PhotoData, PhotoSplits, load_photo_data, photo_metrics
from lookalike.train.photos import split_photos as make_photo_splits
from lookalike.train.report import TrainReport
from lookalike.workspace import Workspace

__all__ = ["train_photo_workspace", "REJECTED_PHOTO_DIR"]

REJECTED_PHOTO_DIR = "rejected-photo-head"
MONITOR = "val_loss"
# form "auto": both are checked; the one passing with the best held-out top-1 is adopted. The
# diagonal map generalises to products never trained on; the full one fits known products'
# photos far better (grocery: held-out photos top-1 0.57 vs 0.95) and may fail on new ones.
AUTO_FORMS = ("diagonal", "full")
HELD_SETS = ("held_out_photos", "held_out_products")


def _evaluation(data: PhotoData, splits: PhotoSplits, head: Any, catalog: Any) -> dict:
    """Before/after on each held-out photo set, and catalog -> catalog (reported only)."""
    out: dict[str, dict[str, Any]] = {}
    for name in HELD_SETS:
        rows = getattr(splits, name)
        if len(rows):
            out[name] = {
                "before": photo_metrics(data, rows),
                "after": photo_metrics(data, rows, head.apply),
            }
    out["catalog"] = {
        "before": retrieval_metrics(catalog.vectors, catalog.category, catalog.product),
        "after": retrieval_metrics(head.apply(catalog.vectors), catalog.category, catalog.product),
    }
    return out


def train_photo_workspace(
    workspace: Workspace | str, photos_csv: Path, options: PhotoTrainOptions
) -> TrainReport:
    """Train, check on held-out products and photos, adopt (refitted) or keep off; see the
    module doc. Returns the run's report, also written as ``training.json`` by the head."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    ws.require_built()
    from lookalike.embed.registry import model_key

    catalog, key = load_workspace_data(ws)
    model = str(ws.manifest().get("model", ""))
    if model_key(model) != key:
        raise ConfigError(
            f"{ws.root} was built with {key} embeddings, which photos cannot be embedded with "
            "here: train photo -> catalog on a workspace built with a plain model"
        )
    data = load_photo_data(ws, photos_csv, catalog, model, options.progress)
    splits = make_photo_splits(
        data,
        seed=options.seed,
        holdout_products=options.holdout_products,
        holdout_photos=options.holdout_photos,
        val=options.val_fraction,
    )
    trained = np.setdiff1d(np.arange(len(data.products)), splits.held_products)
    meta = {
        "method": "photos",
        "loss": "infonce",
        "model_key": key,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": options.seed,
    }
    forms = AUTO_FORMS if options.form == "auto" else (options.form,)
    candidates = []
    for form in forms:  # each is checked on its own; the best that passes is adopted
        advance = _epoch_reporter(options.epochs, options.progress)
        chosen = replace(options, form=form)
        fit = fit_photo_head(
            data, splits.train, splits.val, trained, chosen, meta=meta | {"form": form},
            on_epoch=advance,
        )  # fmt: skip
        evaluation = _evaluation(data, splits, fit.head, catalog)
        candidates.append((chosen, fit, evaluation, decide_adoption(evaluation)))
    options, fit, evaluation, decision = max(candidates, key=_rank)
    if options.force and not decision.adopted:
        decision = decide_adoption(evaluation, force=True)
    head, refit = fit.head, None
    if decision.adopted and options.refit:
        head, refit = _refit(data, options, fit, fit.head.meta)
    folder = ws.head_dir if decision.adopted else ws.train_dir / REJECTED_PHOTO_DIR
    report = _report(ws, options, photos_csv, data, splits, fit, head, evaluation, folder)
    report.adopted, report.decision, report.refit = decision.adopted, decision.to_dict(), refit
    report.notes += [_candidate_note(c) for c in candidates] if len(candidates) > 1 else []
    write_json_atomic(folder / TRAINING_LOG, _json_safe(report.to_dict()))
    return report


def _rank(candidate: tuple[Any, FitResult, dict, Any]) -> tuple[bool, float]:
    """Passing the check first, then the mean held-out top-1 (photos and products)."""
    _, _, evaluation, decision = candidate
    after = [evaluation[n]["after"]["Recall@1"] for n in HELD_SETS if n in evaluation]
    return bool(decision.adopted), float(np.mean(after)) if after else 0.0


def _candidate_note(candidate: tuple[Any, FitResult, dict, Any]) -> str:
    options, fit, evaluation, decision = candidate
    top1 = ", ".join(
        f"{n.replace('_', ' ')} {evaluation[n]['after']['Recall@1']:.3f}"
        for n in HELD_SETS
        if n in evaluation
    )
    verdict = "passes" if decision.adopted else "fails"
    return f"{options.form} map: top-1 {top1} ({verdict} the check, {fit.seconds:.1f} s)"


def _refit(
    data: PhotoData, options: PhotoTrainOptions, fit: FitResult, meta: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """The check passed: learn every photo and product for the chosen number of epochs."""
    epochs = max(fit.best_epoch, 1)
    again = fit_photo_head(
        data,
        np.arange(len(data.photos)),
        np.zeros(0, np.int64),
        np.arange(len(data.products)),
        replace(options, epochs=epochs, patience=epochs + 1),
        meta=meta,
    )
    record = {
        "rows": len(data.photos),
        "epochs": epochs,
        "history": again.history,
        "seconds": round(again.seconds, 3),
    }
    return again.head, record


def _report(
    ws: Workspace,
    options: PhotoTrainOptions,
    photos_csv: Path,
    data: PhotoData,
    splits: PhotoSplits,
    fit: FitResult,
    head: Any,
    evaluation: dict[str, dict[str, Any]],
    folder: Path,
) -> TrainReport:
    """Save the head and its learning curve in ``folder``; the report of the run."""
    from lookalike.train.plots import plot_learning_curve

    digest = head.save(folder)
    curve = plot_learning_curve(
        fit.history,
        folder / CURVE_PNG,
        monitor=MONITOR,
        best_epoch=fit.best_epoch,
        title=f"photo -> catalog head (InfoNCE), {ws.shop}",
    )
    notes = [f"photos: {', '.join(f'{k} {v}' for k, v in data.notes.items() if v)}"]
    return TrainReport(
        workspace=str(ws.root),
        options=options.to_dict() | {"photos": str(photos_csv), "method": "photos"},
        splits=splits.sizes(),
        history=fit.history,
        best_epoch=fit.best_epoch,
        stopped_early=fit.stopped_early,
        monitor=MONITOR,
        objective_before=float(fit.history[0]["train_loss"]) if fit.history else float("nan"),
        objective_after=float(fit.history[fit.best_epoch - 1]["train_loss"]),
        evaluation=evaluation,
        seconds=round(fit.seconds, 3),
        head_dir=str(folder),
        curve=str(curve),
        head_hash=digest,
        notes=notes,
    )
