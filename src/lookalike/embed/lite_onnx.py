"""EfficientNet-Lite0/1/2 as ONNX graphs, built from the weights file without torch.

The architecture is the one of ``efficientnet-lite-pytorch`` (TF "same" padding computed for the
native input size, ReLU6, no squeeze-excite, stem and head not scaled); each BatchNorm is folded
into the convolution before it. ``build_lite_onnx(name, outputs=...)`` returns the model as
bytes; the default output is ``embedding``, the head's feature map averaged over H and W (the
same (B, 1280) descriptor as torch's ``extract_features(x).mean((2, 3))``).

Named outputs (any subset, in the order given):

- ``embedding``: float32 ``(B, 1280)``, not normalised;
- ``head``: the last feature map ``(B, 1280, h, w)`` after the head's ReLU6 (for GeM pooling);
- ``stem``, ``block0`` ... ``block<N-1>``: the output of the stem and of each MBConv block;
- ``stage1`` ... ``stage7``: the output of the last block of each stage (``stage_blocks``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.embed import onnx_proto as proto
from lookalike.embed.onnx_export import ONNX_OPSET, get_spec, weights_path
from lookalike.embed.torchfile import read_state_dict
from lookalike.errors import ConfigError, EmbedError

__all__ = [
    "DEFAULT_OUTPUTS",
    "Block",
    "lite_blocks",
    "stage_blocks",
    "feature_names",
    "build_lite_onnx",
]

DEFAULT_OUTPUTS: tuple[str, ...] = ("embedding",)
_BN_EPS = 1e-3
_STEM, _HEAD = 32, 1280  # not scaled in the Lite models (fix_head_stem)
# (repeats, kernel, stride, expand ratio, input filters, output filters) per stage
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
# width, depth coefficients (efficientnet_lite_builder.py)
_SCALING = {"lite0": (1.0, 1.0), "lite1": (1.0, 1.1), "lite2": (1.1, 1.2)}


@dataclass(frozen=True)
class Block:
    """One MBConv block: channels, depthwise kernel and stride, the input side it sees."""

    stage: int  # 1-based
    inp: int
    out: int
    expand: int
    kernel: int
    stride: int
    side: int  # input height/width (the static "same" padding depends on it)

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.inp == self.out


def _round_filters(filters: int, width: float) -> int:
    scaled = filters * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return int(rounded + 8 if rounded < 0.9 * scaled else rounded)


def _same_pads(side: int, kernel: int, stride: int) -> list[int]:
    """ONNX ``pads`` (top, left, bottom, right) of TF "same" padding; the extra pixel goes last."""
    out = math.ceil(side / stride)
    total = max((out - 1) * stride + kernel - side, 0)
    return [total // 2, total // 2, total - total // 2, total - total // 2]


def lite_blocks(name: str, side: int) -> list[Block]:
    """The MBConv blocks of ``name`` for a ``side`` x ``side`` input, in order."""
    if name not in _SCALING:
        raise ConfigError(f"no Lite architecture for {name!r}; valid: {', '.join(_SCALING)}")
    width, depth = _SCALING[name]
    side = math.ceil(side / 2)  # after the stem
    blocks: list[Block] = []
    for stage, (repeats, kernel, stride, expand, inp, out) in enumerate(_STAGES, start=1):
        fixed = stage in (1, len(_STAGES))  # first and last stage keep their repeats
        count = repeats if fixed else math.ceil(depth * repeats)
        inp = _STEM if stage == 1 else _round_filters(inp, width)
        out = _round_filters(out, width)
        for i in range(count):
            blocks.append(
                Block(
                    stage,
                    inp if i == 0 else out,
                    out,
                    expand,
                    kernel,
                    stride if i == 0 else 1,
                    side,
                )
            )
            if i == 0:
                side = math.ceil(side / stride)
    return blocks


def stage_blocks(name: str) -> dict[str, int]:
    """``{"stage1": index of its last block, ...}`` for ``name``."""
    last: dict[str, int] = {}
    for i, block in enumerate(lite_blocks(name, get_spec(name).input_size)):
        last[f"stage{block.stage}"] = i
    return last


def feature_names(name: str) -> list[str]:
    """Every output name :func:`build_lite_onnx` accepts for ``name``."""
    count = len(lite_blocks(name, get_spec(name).input_size))
    return ["embedding", "head", "stem", *(f"block{i}" for i in range(count)), *stage_blocks(name)]


class _Graph:
    """Collects nodes and initializers; every conv gets its BatchNorm folded in."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = weights
        self.nodes: list[bytes] = []
        self.inits: list[bytes] = []
        self._count = 0
        self._const("relu6_min", np.float32(0.0))
        self._const("relu6_max", np.float32(6.0))

    def _const(self, name: str, value: np.ndarray | np.generic) -> str:
        self.inits.append(proto.tensor(name, value))
        return name

    def _take(self, key: str) -> np.ndarray:
        try:
            return self.weights[key].astype(np.float64)
        except KeyError:
            raise EmbedError(f"the weights file has no {key!r}: not an EfficientNet-Lite") from None

    def conv_bn(
        self,
        x: str,
        conv: str,
        bn: str,
        *,
        stride: int = 1,
        pads: Sequence[int] = (0,) * 4,
        groups: int = 1,
        relu6: bool = True,
        out: str | None = None,
    ) -> str:
        """Conv (no bias) + BatchNorm folded into weights and bias, then ReLU6 if asked."""
        w = self._take(f"{conv}.weight")
        gamma, beta = self._take(f"{bn}.weight"), self._take(f"{bn}.bias")
        mean, var = self._take(f"{bn}.running_mean"), self._take(f"{bn}.running_var")
        scale = gamma / np.sqrt(var + _BN_EPS)
        self._count += 1
        wname = self._const(f"{conv}.w", (w * scale[:, None, None, None]).astype(np.float32))
        bname = self._const(f"{conv}.b", (beta - mean * scale).astype(np.float32))
        y = f"conv{self._count}" if relu6 or out is None else out
        kernel = list(w.shape[2:])
        self.nodes.append(
            proto.node(
                "Conv",
                [x, wname, bname],
                [y],
                kernel_shape=kernel,
                strides=[stride, stride],
                pads=list(pads),
                group=groups,
            )
        )
        if not relu6:
            return y
        z = out or f"relu{self._count}"
        self.nodes.append(proto.node("Clip", [y, "relu6_min", "relu6_max"], [z]))
        return z

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(proto.node(op, inputs, [output], **attrs))
        return output


def _block(g: _Graph, x: str, i: int, block: Block) -> str:
    prefix = f"_blocks.{i}"
    h = x
    if block.expand != 1:
        h = g.conv_bn(h, f"{prefix}._expand_conv", f"{prefix}._bn0")
    h = g.conv_bn(
        h,
        f"{prefix}._depthwise_conv",
        f"{prefix}._bn1",
        stride=block.stride,
        pads=_same_pads(block.side, block.kernel, block.stride),
        groups=block.inp * block.expand,
    )
    name = f"block{i}"
    if not block.residual:
        return g.conv_bn(h, f"{prefix}._project_conv", f"{prefix}._bn2", relu6=False, out=name)
    h = g.conv_bn(h, f"{prefix}._project_conv", f"{prefix}._bn2", relu6=False)
    return g.node("Add", [h, x], name)


def _output_shapes(name: str, side: int, blocks: list[Block]) -> dict[str, list[str | int]]:
    def after(b: Block) -> int:
        return math.ceil(b.side / b.stride)

    shapes: dict[str, list[str | int]] = {
        "embedding": ["batch", _HEAD],
        "head": ["batch", _HEAD, after(blocks[-1]), after(blocks[-1])],
        "stem": ["batch", _STEM, math.ceil(side / 2), math.ceil(side / 2)],
    }
    for i, b in enumerate(blocks):
        shapes[f"block{i}"] = ["batch", b.out, after(b), after(b)]
    for stage, index in stage_blocks(name).items():
        shapes[stage] = shapes[f"block{index}"]
    return shapes


def _check_outputs(name: str, outputs: Sequence[str]) -> list[str]:
    wanted = list(outputs)
    unknown = [o for o in wanted if o not in feature_names(name)]
    if not wanted or unknown or len(set(wanted)) != len(wanted):
        last = len(lite_blocks(name, get_spec(name).input_size)) - 1
        raise ConfigError(
            f"outputs {wanted!r} for {name}: give distinct names among embedding, head, stem, "
            f"block0..block{last}, stage1..stage{len(_STAGES)}"
        )
    return wanted


def _check_weights(name: str, weights: dict[str, np.ndarray], blocks: list[Block]) -> None:
    found = {int(k.split(".")[1]) for k in weights if k.startswith("_blocks.")}
    if found != set(range(len(blocks))):
        raise EmbedError(
            f"the weights file has {len(found)} blocks, EfficientNet-{name} has {len(blocks)}"
        )


def build_lite_onnx(
    name: str, *, outputs: Sequence[str] = DEFAULT_OUTPUTS, weights: Path | None = None
) -> bytes:
    """The serialized ONNX model of EfficientNet-Lite ``name`` (``lite0``/``lite1``/``lite2``).

    Input ``input`` float32 ``(batch, 3, S, S)`` with S the spec's native size; ``outputs`` name
    the graph outputs (see the module docstring). ``weights``: a legacy-format ``.pth`` state
    dict (default: the one shipped by the spec's pip package).
    """
    spec = get_spec(name)
    wanted = _check_outputs(name, outputs)
    side = spec.input_size
    blocks = lite_blocks(name, side)
    state = read_state_dict(weights or weights_path(spec))
    _check_weights(name, state, blocks)
    g = _Graph(state)
    x = g.conv_bn("input", "_conv_stem", "_bn0", stride=2, pads=_same_pads(side, 3, 2), out="stem")
    for i, block in enumerate(blocks):
        x = _block(g, x, i, block)
    g.conv_bn(x, "_conv_head", "_bn1", out="head")
    g.node("GlobalAveragePool", ["head"], "head_pool")
    g.node("Flatten", ["head_pool"], "embedding", axis=1)
    shapes = _output_shapes(name, side, blocks)
    for stage, index in stage_blocks(name).items():
        if stage in wanted:
            g.node("Identity", [f"block{index}"], stage)
    return proto.model(
        f"efficientnet-{name}",
        g.nodes,
        [proto.value_info("input", proto.FLOAT, ["batch", 3, side, side])],
        [proto.value_info(o, proto.FLOAT, shapes[o]) for o in wanted],
        g.inits,
        opset=ONNX_OPSET,
    )
