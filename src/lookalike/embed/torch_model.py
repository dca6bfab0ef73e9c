"""EfficientNet-Lite in torch (the ``train`` extra): the pretrained feature module and the one
torch -> ONNX export helper used by the reference export and by backbone fine-tuning.

torch is imported inside the functions; the core runtime never imports this module's torch code.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.atomic import atomic_open
from lookalike.embed.onnx_export import ONNX_OPSET, get_spec, weights_path
from lookalike.errors import EmbedError

if TYPE_CHECKING:
    import torch

__all__ = ["load_torch_model", "export_torch_onnx"]


def _feature_module(net: Any) -> torch.nn.Module:
    import torch

    class _PooledFeatures(torch.nn.Module):
        """Last conv block, mean over H and W: a (B, 1280) descriptor, classifier unused."""

        def __init__(self, backbone: Any) -> None:
            super().__init__()
            self.backbone = backbone

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.backbone.extract_features(x).mean(dim=(2, 3))

    return _PooledFeatures(net)


def load_torch_model(model_name: str) -> torch.nn.Module:
    """The pretrained feature extractor for ``model_name`` as a torch module in eval mode (CPU)."""
    spec = get_spec(model_name)
    path = weights_path(spec)
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise EmbedError(
            "torch and efficientnet-lite-pytorch are not installed: pip install 'lookalike[train]'"
        ) from exc
    try:
        # from_pretrained prints "Loaded pretrained weights ..." to stdout; keep stdout clean
        # for commands that print JSON.
        with contextlib.redirect_stdout(io.StringIO()):
            net = EfficientNet.from_pretrained(spec.arch, weights_path=str(path))
    except (OSError, RuntimeError, AssertionError, KeyError, ValueError) as exc:
        raise EmbedError(f"cannot load {spec.name} weights from {path}: {exc}") from exc
    return _feature_module(net).eval()


def export_torch_onnx(
    module: torch.nn.Module,
    input_size: int,
    target: Path,
    *,
    label: str = "model",
    outputs: Sequence[str] = ("embedding",),
    dynamic_axes: dict[str, dict[int, str]] | None = None,
) -> Path:
    """Export ``module`` (float32, CPU, eval) to ONNX at ``target``, written atomically.

    Input ``input`` float32 ``(batch, 3, S, S)``, outputs ``outputs`` (default ``embedding``
    ``(batch, D)``), opset :data:`ONNX_OPSET`, ``dynamic_axes`` (default: the batch axis of the
    input and every output), constants folded. The module is back in eval mode
    afterwards (``torch.onnx.export`` leaves it in train mode, where BatchNorm would use batch
    statistics).
    """
    import torch

    module = module.float().cpu().eval()
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter warns about un-foldable Slice ops and traced shapes;
            # harmless noise for these fixed graphs.
            warnings.filterwarnings("ignore", category=UserWarning)
            torch.onnx.export(
                module,
                (torch.zeros(1, 3, input_size, input_size),),
                buffer,  # type: ignore[arg-type]  # a file object is accepted
                dynamo=False,
                opset_version=ONNX_OPSET,
                input_names=["input"],
                output_names=list(outputs),
                dynamic_axes=dynamic_axes or {name: {0: "batch"} for name in ("input", *outputs)},
                do_constant_folding=True,
            )
    except (RuntimeError, ValueError, TypeError, OSError) as exc:
        raise EmbedError(f"ONNX export of {label} failed: {exc}") from exc
    finally:
        module.eval()
    try:
        with atomic_open(target, "wb") as handle:
            handle.write(buffer.getvalue())
    except OSError as exc:
        raise EmbedError(f"cannot write the ONNX model to {target}: {exc}") from exc
    return target
