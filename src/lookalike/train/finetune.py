"""Backbone fine-tuning on a CUDA GPU: the last blocks of EfficientNet-Lite unfrozen, mixed
precision, a cosine-softmax classifier on the categories (class-weighted cross-entropy).

The result is a new backbone exported to ONNX in ``<workspace>/finetune/``; build with
``--model <that file>`` to use it (its embeddings get their own cache key). Evaluated like a
head: held-out products / categories embedded with the pretrained and the fine-tuned backbone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.atomic import write_json_atomic
from lookalike.errors import ConfigError
from lookalike.train.config import TrainOptions
from lookalike.train.data import Splits, TrainData, held_out_rows
from lookalike.train.evaluation import before_after
from lookalike.train.model import class_weights
from lookalike.train.report import TrainReport
from lookalike.workspace import Workspace

if TYPE_CHECKING:
    import torch


__all__ = ["finetune_backbone", "finetune_workspace", "embed_paths"]


def _model_name(key: str) -> str:
    from lookalike.embed.onnx_export import MODEL_SPECS

    if key not in MODEL_SPECS:
        raise ConfigError(f"--finetune works on lite0/lite1/lite2 workspaces, not {key!r}")
    return key


def _batch(paths: list[str], size: int, resize: int) -> np.ndarray:
    from lookalike.embed.decode import load_image
    from lookalike.embed.preprocess import preprocess

    return np.stack(
        [
            preprocess(load_image(Path(p).read_bytes(), min_side=resize), resize=resize, crop=size)
            for p in paths
        ]
    )


def embed_paths(
    model: torch.nn.Module, paths: list[str], spec: Any, device: str, batch_size: int
) -> np.ndarray:
    """L2-normalised features of image files with a torch backbone (eval mode)."""
    import torch

    from lookalike.embed.base import l2_normalize

    model.eval()
    out: list[np.ndarray] = []
    with torch.no_grad():
        for i in range(0, len(paths), batch_size):
            x = torch.from_numpy(
                _batch(paths[i : i + batch_size], spec.input_size, spec.resize_size)
            ).to(device)
            with torch.autocast(
                device_type="cuda", dtype=torch.float16, enabled=device.startswith("cuda")
            ):
                out.append(model(x).float().cpu().numpy())
    return l2_normalize(np.concatenate(out)) if out else np.zeros((0, spec.dim), np.float32)


def finetune_backbone(
    train: TrainData, options: TrainOptions, model_name: str, device: str
) -> tuple[torch.nn.Module, list[dict[str, Any]]]:
    """Fine-tune the last ``options.finetune_blocks`` blocks (plus the head conv) on the
    training rows' categories; returns the feature module and the per-epoch losses."""
    import torch

    from lookalike.embed.onnx_export import get_spec
    from lookalike.embed.torch_model import load_torch_model

    spec = get_spec(model_name)
    classes = train.categories
    if len(classes) < 2:
        raise ConfigError("--finetune needs at least 2 categories in the training split")
    index = {c: i for i, c in enumerate(classes)}
    rows = np.array([i for i, c in enumerate(train.category) if c], dtype=np.int64)
    labels = np.array([index[str(train.category[i])] for i in rows], dtype=np.int64)
    torch.manual_seed(options.seed)
    model = load_torch_model(model_name).to(device)
    backbone: Any = model.backbone  # EfficientNet's blocks, not typed by torch
    for p in model.parameters():
        p.requires_grad_(False)
    for part in [*backbone._blocks[-options.finetune_blocks :], backbone._conv_head, backbone._bn1]:
        for p in part.parameters():
            p.requires_grad_(True)
    classifier = torch.nn.Linear(spec.dim, len(classes), bias=False).to(device)
    weights = torch.from_numpy(class_weights(labels, len(classes))).to(device)
    params = [p for p in model.parameters() if p.requires_grad] + list(classifier.parameters())
    optimizer = torch.optim.AdamW(params, lr=options.lr * 0.1, weight_decay=options.weight_decay)
    cuda = device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=cuda)
    gen = torch.Generator().manual_seed(options.seed)
    history: list[dict[str, Any]] = []
    assert train.path is not None  # fine-tuning data always carries its image files
    paths = [str(train.path[i]) for i in rows]
    batch_size = min(options.batch_size, 64)
    for epoch in range(1, options.epochs + 1):
        model.eval()  # BatchNorm keeps its running statistics: small batches, stable features
        order = torch.randperm(len(rows), generator=gen).numpy()
        losses: list[float] = []
        for i in range(0, len(order), batch_size):
            sel = order[i : i + batch_size]
            x = torch.from_numpy(
                _batch([paths[j] for j in sel], spec.input_size, spec.resize_size)
            ).to(device)
            y = torch.from_numpy(labels[sel]).to(device)
            with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=cuda):
                feats = torch.nn.functional.normalize(model(x).float(), dim=1)
                logits = 16.0 * feats @ torch.nn.functional.normalize(classifier.weight, dim=1).T
                loss = torch.nn.functional.cross_entropy(logits, y, weight=weights)
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.append(float(loss.detach()))
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses))})
    return model.eval(), history


def finetune_workspace(
    ws: Workspace,
    data: TrainData,
    splits: Splits,
    options: TrainOptions,
    key: str,
    *,
    device: str = "cuda",
) -> TrainReport:
    """Fine-tune, evaluate on held-out rows, export ONNX to ``<workspace>/finetune/``."""
    from lookalike.embed.onnx_export import get_spec
    from lookalike.embed.torch_model import export_torch_onnx

    started = time.perf_counter()
    name = _model_name(key)
    spec = get_spec(name)
    model, history = finetune_backbone(data.subset(splits.train), options, name, device)
    evaluation: dict[str, dict[str, Any]] = {}
    for label, rows in held_out_rows(splits):
        part = data.subset(rows)
        assert part.path is not None
        after = embed_paths(model, [str(p) for p in part.path], spec, device, 64)
        evaluation[label] = before_after(part, after)
    folder = ws.finetune_dir
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}-finetuned.onnx"
    export_torch_onnx(model, spec.input_size, target, label="the fine-tuned backbone")
    report = TrainReport(
        workspace=str(ws.root),
        options=options.to_dict(),
        splits=splits.sizes(),
        history=history,
        best_epoch=len(history),
        stopped_early=False,
        monitor="train_loss",
        objective_before=history[0]["train_loss"],
        objective_after=history[-1]["train_loss"],
        evaluation=evaluation,
        seconds=round(time.perf_counter() - started, 3),
        head_dir=str(folder),
        notes=[
            f"fine-tuned backbone: {target}; use it with "
            f"`lookalike build {ws.root} --catalog ... --model {target} --head none`"
        ],
    )
    write_json_atomic(folder / "training.json", report.to_dict())
    return report
