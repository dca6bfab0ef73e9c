"""The trainable tail of EfficientNet-Lite in torch: the last blocks, the head conv and the
mean pooling, trained on cached activations with a cosine-softmax classifier.

The tail is made of the pretrained torch model's own modules, so after training that model is
the fine-tuned backbone, frozen part included, and it exports as one ONNX graph
(:func:`export_tuned`). BatchNorm stays in eval mode (running statistics as pretrained): the
batches are small and the statistics of ImageNet are what the frozen part was trained for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.embed.base import l2_normalize
from lookalike.errors import ConfigError
from lookalike.train.activations import CutPoint
from lookalike.train.config import TrainOptions
from lookalike.train.model import class_weights

if TYPE_CHECKING:
    import torch

__all__ = ["TailFit", "fit_tail", "mix_with_pretrained", "tail_vectors", "export_tuned", "SCALE"]

SCALE = 16.0  # cosine-softmax temperature: logits = SCALE * cos(feature, class weight)
BATCH = 64


@dataclass
class TailFit:
    """A trained tail (inside its full torch model) and how the training went."""

    model: Any  # lookalike.embed.torch_model's feature module, tail trained in place
    cut: CutPoint
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    seconds: float = 0.0


def _tail_forward(model: Any, cut: CutPoint, x: torch.Tensor) -> torch.Tensor:
    """Cut activations -> pooled (B, 1280) features through the trained part."""
    net = model.backbone
    for block in net._blocks[cut.first_trained :]:
        x = block(x)
    x = net._swish(net._bn1(net._conv_head(x)))
    return x.mean(dim=(2, 3))


def _trainable(model: Any, cut: CutPoint) -> list[torch.nn.Parameter]:
    net = model.backbone
    for p in model.parameters():
        p.requires_grad_(False)
    parts = [*net._blocks[cut.first_trained :], net._conv_head, net._bn1]
    params = [p for part in parts for p in part.parameters()]
    for p in params:
        p.requires_grad_(True)
    return params


def tail_vectors(model: Any, cut: CutPoint, acts: np.ndarray) -> np.ndarray:
    """L2-normalised features of cached activations through the (trained) tail."""
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(acts), 2 * BATCH):
            x = torch.from_numpy(np.asarray(acts[i : i + 2 * BATCH], np.float32))
            out.append(_tail_forward(model, cut, x).numpy())
    return l2_normalize(np.concatenate(out)) if out else np.zeros((0, 1280), np.float32)


def fit_tail(
    acts: np.ndarray,
    labels: np.ndarray,
    cut: CutPoint,
    options: TrainOptions,
    *,
    epochs: int | None = None,
    monitor: Callable[[Any], float] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TailFit:
    """Train the tail of a fresh pretrained model on ``acts`` (float16 ``(N, C, H, W)``) with
    integer ``labels``; ``monitor(model) -> score`` (higher is better) after each epoch keeps
    the best epoch's weights and stops after ``options.patience`` epochs without progress."""
    import torch

    from lookalike.embed.torch_model import load_torch_model

    classes = int(labels.max()) + 1 if len(labels) else 0
    if classes < 2:
        raise ConfigError("partial fine-tuning needs at least 2 labels in the training split")
    started = time.perf_counter()
    torch.manual_seed(options.seed)
    model = load_torch_model(cut.model)
    params = _trainable(model, cut)
    classifier = torch.nn.Linear(1280, classes, bias=False)
    weights = torch.from_numpy(class_weights(labels, classes))
    optimizer = torch.optim.AdamW(
        [*params, *classifier.parameters()],
        lr=options.lr,  # 1e-3: above 3e-4 on clothing-small (bench/partial.py), same epochs
        weight_decay=options.weight_decay,
    )
    gen = torch.Generator().manual_seed(options.seed)
    fit = TailFit(model, cut)
    best_score, best_state, waited = -np.inf, None, 0
    for epoch in range(1, (epochs or options.epochs) + 1):
        model.eval()  # BatchNorm keeps its running statistics (see the module doc)
        losses = []
        order = torch.randperm(len(labels), generator=gen).numpy()
        for i in range(0, len(order), BATCH):
            sel = np.sort(order[i : i + BATCH])
            x = torch.from_numpy(np.asarray(acts[sel], np.float32))
            feats = torch.nn.functional.normalize(_tail_forward(model, cut, x), dim=1)
            logits = SCALE * feats @ torch.nn.functional.normalize(classifier.weight, dim=1).T
            loss = torch.nn.functional.cross_entropy(
                logits, torch.from_numpy(labels[sel]), weight=weights
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        record: dict[str, Any] = {"epoch": epoch, "train_loss": float(np.mean(losses))}
        if monitor is not None:
            record["val_score"] = score = float(monitor(model))
            if score > best_score:
                best_score, waited, fit.best_epoch = score, 0, epoch
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
        fit.history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if monitor is not None and waited >= options.patience:
            fit.stopped_early = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    if monitor is None:
        fit.best_epoch = len(fit.history)
    fit.seconds = time.perf_counter() - started
    model.eval()
    return fit


def mix_with_pretrained(fit: TailFit, mix: float) -> TailFit:
    """Interpolate the weights in place: ``pretrained + mix * (fine-tuned - pretrained)``
    (WiSE-FT, Wortsman et al. 2022). Only the tail differs from the pretrained model, so
    only the tail moves; ``mix=1`` leaves the fine-tuned model as it is."""
    from lookalike.embed.torch_model import load_torch_model

    if mix >= 1.0:
        return fit
    pretrained = load_torch_model(fit.cut.model).state_dict()
    tuned = fit.model.state_dict()
    fit.model.load_state_dict(
        {
            k: pretrained[k] + mix * (v - pretrained[k]) if v.is_floating_point() else v
            for k, v in tuned.items()
        }
    )
    fit.model.eval()
    return fit


def export_tuned(fit: TailFit, target: Path) -> Path:
    """The whole fine-tuned backbone (frozen part + trained tail + pooling) as one ONNX graph
    with the ``input`` / ``embedding`` names every model of the registry has."""
    from lookalike.embed.onnx_export import get_spec
    from lookalike.embed.torch_model import export_torch_onnx

    spec = get_spec(fit.cut.model)
    return export_torch_onnx(
        fit.model, spec.input_size, target, label="the partially fine-tuned backbone"
    )
