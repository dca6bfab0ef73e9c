"""``lookalike train --method partial``: CPU fine-tuning of the backbone's last blocks.

1. The frozen early blocks run once per catalog image (ONNX Runtime) and their activations at
   the cut are cached (:mod:`lookalike.train.activations`), so every epoch costs only the tail.
2. The last ``--blocks`` blocks + head conv + pooling are trained in torch on those
   activations (:mod:`lookalike.train.tail`), labels = the shop's categories (product identity
   when there are none), early-stopped on the validation split.
3. The same adoption gate as heads (:mod:`lookalike.train.gate`): held-out products and the
   hardest held-out categories, before (the workspace's embeddings) vs after.
4. The model is exported as one ONNX graph to ``models/<model>-tuned-<sha12>.onnx`` (a new
   name per trained model, so a served generation never sees its model file change). When
   adopted (refitted on every product first), ``finetune/tuned.json`` names it, and
   ``lookalike build SHOP --model tuned`` builds with it; its embeddings cache is keyed by the
   file's hash (``onnx-<sha12>``), so vectors of two models never mix.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.atomic import write_json_atomic
from lookalike.errors import ConfigError, WorkspaceError
from lookalike.progress import task as progress_task
from lookalike.train.activations import ActivationCache, CutPoint, cut_point
from lookalike.train.config import TrainOptions
from lookalike.train.data import Splits, TrainData, held_out_rows
from lookalike.train.evaluation import before_after, retrieval_metrics
from lookalike.train.gate import decide_adoption, primary_metric
from lookalike.train.report import TrainReport, run_fields
from lookalike.train.tail import TailFit
from lookalike.workspace import Workspace

__all__ = [
    "PartialCheck",
    "check_partial",
    "partial_workspace",
    "tuned_model",
    "TUNED",
    "PARTIAL_LOG",
]

TUNED = "tuned"  # the --model name of a workspace's adopted fine-tuned model
PARTIAL_LOG = "partial.json"


def tuned_model(ws: Workspace) -> Path:
    """The ONNX file of the workspace's adopted fine-tuned model (``WorkspaceError`` if none)."""
    try:
        record = json.loads(ws.tuned_record.read_text(encoding="utf-8"))
        path = Path(record["model"])
    except FileNotFoundError:
        raise WorkspaceError(
            f"{ws.root} has no adopted fine-tuned model: run `lookalike train {ws.root} "
            "--method partial` first"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WorkspaceError(f"cannot read {ws.tuned_record}: {exc}") from exc
    if not path.is_file():
        raise WorkspaceError(f"{ws.tuned_record} names {path}, which is missing: train again")
    return path


def _labels(data: TrainData) -> tuple[np.ndarray, list[str], str]:
    """Integer label per row (-1: unlabelled), the label names and what they are."""
    if len(data.categories) >= 2:
        names, column, kind = data.categories, data.category, "category"
    elif data.has_identity:
        names, column, kind = sorted({str(p) for p in data.product}), data.product, "product"
    else:
        raise ConfigError(
            "partial fine-tuning needs categories (2 or more) or products with several images"
        )
    index = {name: i for i, name in enumerate(names)}
    return np.array([index.get(str(v), -1) for v in column], np.int64), names, kind


def _monitor(acts: np.ndarray, part: TrainData, cut: Any) -> Any:
    """The validation rows' primary metric after the tail, or None when unmeasurable."""
    from lookalike.train.tail import tail_vectors

    if len(part) < 2:
        return None
    metric = primary_metric(retrieval_metrics(part.vectors, part.category, part.product))
    if metric is None:
        return None

    def score(model: Any) -> float:
        after = tail_vectors(model, cut, acts)
        return float(retrieval_metrics(after, part.category, part.product)[metric])

    return score


@dataclass
class PartialCheck:
    """The check run: the tail trained without the held-out rows, and the held-out figures."""

    fit: TailFit
    evaluation: dict[str, dict[str, Any]]
    labels: np.ndarray  # int per row of the data, -1 unlabelled
    names: list[str]
    kind: str  # "category" or "product"
    monitored: bool  # early-stopped on the validation split


def check_partial(
    data: TrainData, splits: Splits, acts: np.ndarray, cut: CutPoint, options: TrainOptions
) -> PartialCheck:
    """Train the tail on the training split's ``acts`` (rows of ``data``), early-stopped on
    the validation split, and measure the held-out sets before (``data.vectors``) and after."""
    from lookalike.train.tail import fit_tail, mix_with_pretrained, tail_vectors

    labels, names, kind = _labels(data)
    train = splits.train[labels[splits.train] >= 0]
    monitor = _monitor(acts[splits.val], data.subset(splits.val), cut)
    advance = progress_task(options.progress, "fine-tuning the last blocks", options.epochs)
    fit = fit_tail(
        acts[train],
        labels[train],
        cut,
        options,
        monitor=monitor,
        on_epoch=lambda r: advance(1, f"loss {r['train_loss']:.4f}"),
    )
    mix_with_pretrained(fit, options.mix)
    evaluation: dict[str, dict[str, Any]] = {}
    for name, rows in held_out_rows(splits):
        after = tail_vectors(fit.model, cut, acts[rows])
        evaluation[name] = before_after(data.subset(rows), after)
    return PartialCheck(fit, evaluation, labels, names, kind, monitor is not None)


def partial_workspace(
    ws: Workspace,
    data: TrainData,
    splits: Splits,
    options: TrainOptions,
    key: str,
    *,
    held: list[str] | None = None,
) -> TrainReport:
    """Fine-tune the last blocks on cached activations, check, adopt or refuse, export
    (``held``: the held-out categories' names, for the log)."""
    import torch

    from lookalike.embed.onnx_export import MODEL_SPECS
    from lookalike.embed.ortconfig import usable_cores
    from lookalike.train.tail import fit_tail, mix_with_pretrained

    if key not in MODEL_SPECS:
        raise ConfigError(
            f"partial fine-tuning starts from lite0/lite1/lite2 embeddings, this workspace is "
            f"built with {key}: build it with --model lite0 first (cached embeddings are reused)"
        )
    started = time.perf_counter()
    cut = cut_point(key, options.finetune_blocks)
    torch.set_num_threads(max(options.threads, usable_cores()))
    assert data.path is not None
    cache = ActivationCache(ws.activations(cut.key), cut)
    acts = cache.rows_for([Path(p) for p in data.path], progress=options.progress)
    check = check_partial(data, splits, acts, cut, options)
    fit = check.fit
    decision = decide_adoption(
        check.evaluation, force=options.force, subject="the fine-tuned model"
    )
    final, refit = fit, None
    every = np.flatnonzero(check.labels >= 0)
    if decision.adopted and options.refit and len(every) > len(splits.train):
        epochs = max(fit.best_epoch, 1)
        final = fit_tail(acts[every], check.labels[every], cut, options, epochs=epochs)
        mix_with_pretrained(final, options.mix)
        refit = {
            "rows": int(len(every)),
            "epochs": epochs,
            "history": final.history,
            "seconds": round(final.seconds, 3),
        }
    model_path = _export(ws, final, key)
    if decision.adopted:
        write_json_atomic(
            ws.tuned_record,
            {
                "model": str(model_path),
                "base": key,
                "blocks": options.finetune_blocks,
                "mix": options.mix,
                "labels": check.kind,
                "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )
    report = TrainReport(
        **run_fields(ws.root, options, splits, fit),
        monitor="val_score" if check.monitored else "train_loss",
        objective_before=fit.history[0]["train_loss"],
        objective_after=fit.history[-1]["train_loss"],
        evaluation=check.evaluation,
        seconds=round(time.perf_counter() - started, 3),
        head_dir=str(ws.finetune_dir),
        head_hash=model_path.stem.rsplit("-", 1)[-1],
        notes=_notes(
            ws, cut, check.kind, len(check.names), model_path, decision.adopted, options.mix
        ),
        adopted=decision.adopted,
        decision=decision.to_dict(),
        refit=refit,
        held_out_categories=list(held or []),
    )
    write_json_atomic(ws.finetune_dir / PARTIAL_LOG, report.to_dict())
    return report


def _export(ws: Workspace, fit: Any, key: str) -> Path:
    """Export to a temp name, then to ``models/<key>-tuned-<sha12 of the file>.onnx``."""
    from lookalike.embed.onnx_export import file_sha256
    from lookalike.train.tail import export_tuned

    staging = ws.model_file(f"{key}-tuned-staging")
    export_tuned(fit, staging)
    target = ws.model_file(f"{key}-tuned-{file_sha256(staging)[:12]}")
    shutil.move(staging, target)  # same folder: a rename
    return target


def _notes(
    ws: Workspace, cut: Any, kind: str, classes: int, model: Path, adopted: bool, mix: float
) -> list[str]:
    trained = cut.total - cut.first_trained
    notes = [
        f"fine-tuned the last {trained} of {cut.total} blocks + head conv on {classes} "
        f"{kind} labels; frozen activations cached at {cut.output}; weights mixed with the "
        f"pretrained ones at {mix:g}",
        f"model: {model}",
    ]
    if adopted:
        head = " --head none" if ws.head_dir.exists() else ""
        notes.append(f"build with it: `lookalike build {ws.root} --model {TUNED}{head}`")
    return notes
