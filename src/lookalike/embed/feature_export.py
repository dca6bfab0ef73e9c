"""EfficientNet-Lite feature maps with any input side (torch export), for multi-scale options.

The other feature options use the torch-free converter (``lookalike.embed.lite_onnx``), whose
graphs take the native side only; multi-scale needs a second side, hence this export.

The plain export (:mod:`lookalike.embed.onnx_export`) ends in a mean over H and W. GeM pooling,
multi-block fusion and multi-scale inference need the maps before pooling, so this export
returns three named outputs, all ``(batch, C, H, W)`` with dynamic batch, height and width:

- ``head``: the final 1x1 conv after ReLU6 (1280 channels), what the plain export averages;
- ``last``: the output of the last MBConv block (320 channels for Lite0, linear: may be < 0);
- ``mid``: the output of the last block at stride 16 (112 channels for Lite0, 14x14 at 224).

Cached like the plain export: ``<cache>/models/<name>-maps-<sha12 of weights>.onnx``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lookalike.embed.onnx_export import default_cache_dir, file_sha256, get_spec, weights_path
from lookalike.embed.torch_model import export_torch_onnx

__all__ = ["MAP_OUTPUTS", "maps_path_for", "export_feature_maps"]

MAP_OUTPUTS = ("head", "last", "mid")


def maps_path_for(model_name: str, *, cache_dir: Path | None = None) -> Path:
    """Where :func:`export_feature_maps` puts (or finds) the file for ``model_name``."""
    spec = get_spec(model_name)
    sha12 = file_sha256(weights_path(spec))[:12]
    root = cache_dir if cache_dir is not None else default_cache_dir()
    return root / "models" / f"{spec.name}-maps-{sha12}.onnx"


def _mid_block(backbone: Any, size: int) -> int:
    """Index of the last block whose output is at stride 16 (found with one dummy pass)."""
    import torch

    x = torch.zeros(1, 3, size, size)
    with torch.no_grad():
        x = backbone._swish(backbone._bn0(backbone._conv_stem(x)))
        found = 0
        for i, block in enumerate(backbone._blocks):
            x = block(x)
            if x.shape[-1] == -(-size // 16):
                found = i
    return found


def _maps_module(model_name: str) -> Any:
    import torch

    from lookalike.embed.torch_model import load_torch_model

    backbone = load_torch_model(model_name).backbone
    mid = _mid_block(backbone, get_spec(model_name).input_size)

    class _Maps(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = backbone

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            net: Any = self.net  # EfficientNet's parts, not typed by torch
            x = net._swish(net._bn0(net._conv_stem(x)))
            middle = x
            for i, block in enumerate(net._blocks):
                x = block(x)
                if i == mid:
                    middle = x
            head = net._swish(net._bn1(net._conv_head(x)))
            return head, x, middle

    return _Maps().eval()


def export_feature_maps(model_name: str, *, cache_dir: Path | None = None) -> Path:
    """Export ``model_name`` with the :data:`MAP_OUTPUTS` maps once; return the file's path."""
    target = maps_path_for(model_name, cache_dir=cache_dir)
    if target.is_file():
        return target
    spec = get_spec(model_name)
    module = _maps_module(model_name)
    axes = {"input": {0: "batch", 2: "height", 3: "width"}}
    axes |= {name: {0: "batch", 2: f"{name}_h", 3: f"{name}_w"} for name in MAP_OUTPUTS}
    return export_torch_onnx(
        module,
        spec.input_size,
        target,
        label=f"{spec.name} feature maps",
        outputs=MAP_OUTPUTS,
        dynamic_axes=axes,
    )
