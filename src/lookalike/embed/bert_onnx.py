"""A BERT encoder (MiniLM) as an ONNX graph, built from a ``model.safetensors`` without torch.

The graph follows Hugging Face's ``BertModel`` in eval mode (absolute positions, post-LayerNorm,
exact erf GELU, additive attention mask) and ends with sentence-transformers' mean pooling over
the attention mask. Inputs ``input_ids``, ``attention_mask``, ``token_type_ids``: int64
``(batch, tokens)``; output ``pooled`` float32 ``(batch, hidden)``, not normalised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.embed import onnx_proto as proto
from lookalike.errors import EmbedError

__all__ = ["BertConfig", "build_bert_onnx"]

_OPSET = 17


@dataclass(frozen=True)
class BertConfig:
    """The few ``config.json`` fields the graph needs."""

    hidden: int
    heads: int
    layers: int
    eps: float

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BertConfig:
        """From a Hugging Face ``config.json`` dict; EmbedError for a non-BERT model."""
        if data.get("model_type") != "bert" or data.get("hidden_act", "gelu") != "gelu":
            raise EmbedError(f"not a BERT model with GELU: {data.get('model_type')!r}")
        if data.get("position_embedding_type", "absolute") != "absolute":
            raise EmbedError("only absolute position embeddings are supported")
        return cls(
            int(data["hidden_size"]),
            int(data["num_attention_heads"]),
            int(data["num_hidden_layers"]),
            float(data.get("layer_norm_eps", 1e-12)),
        )


class _Builder:
    def __init__(self, weights: dict[str, np.ndarray], config: BertConfig):
        self.weights, self.config = weights, config
        self.nodes: list[bytes] = []
        self.inits: list[bytes] = []
        self._n = 0

    def const(self, name: str, value: Any) -> str:
        self.inits.append(proto.tensor(name, np.asarray(value)))
        return name

    def weight(self, key: str, *, transpose: bool = False) -> str:
        try:
            value = self.weights[key]
        except KeyError:
            raise EmbedError(f"the title model has no weight {key!r}") from None
        return self.const(key, np.ascontiguousarray(value.T if transpose else value))

    def op(self, op: str, inputs: list[str], **attrs: Any) -> str:
        self._n += 1
        out = f"{op.lower()}{self._n}"
        self.nodes.append(proto.node(op, inputs, [out], **attrs))
        return out

    def dense(self, x: str, prefix: str) -> str:
        y = self.op("MatMul", [x, self.weight(f"{prefix}.weight", transpose=True)])
        return self.op("Add", [y, self.weight(f"{prefix}.bias")])

    def norm(self, x: str, prefix: str) -> str:
        scale, bias = self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias")
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=self.config.eps)


def _embeddings(b: _Builder) -> str:
    words = b.op("Gather", [b.weight("embeddings.word_embeddings.weight"), "input_ids"])
    types = b.op("Gather", [b.weight("embeddings.token_type_embeddings.weight"), "token_type_ids"])
    length = b.op("Gather", [b.op("Shape", ["input_ids"]), b.const("one_i", np.int64(1))])
    positions = b.op("Range", [b.const("zero_i", np.int64(0)), length, "one_i"])
    where = b.op("Gather", [b.weight("embeddings.position_embeddings.weight"), positions])
    total = b.op("Add", [b.op("Add", [words, types]), where])
    return b.norm(total, "embeddings.LayerNorm")


def _heads(b: _Builder, x: str, perm: list[int]) -> str:
    return b.op("Transpose", [b.op("Reshape", [x, "heads_shape"])], perm=perm)


def _layer(b: _Builder, h: str, bias: str, i: int) -> str:
    p = f"encoder.layer.{i}"
    q = _heads(b, b.dense(h, f"{p}.attention.self.query"), [0, 2, 1, 3])
    k = _heads(b, b.dense(h, f"{p}.attention.self.key"), [0, 2, 3, 1])
    v = _heads(b, b.dense(h, f"{p}.attention.self.value"), [0, 2, 1, 3])
    scores = b.op("Mul", [b.op("MatMul", [q, k]), "attn_scale"])
    probs = b.op("Softmax", [b.op("Add", [scores, bias])], axis=-1)
    context = b.op("Transpose", [b.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
    merged = b.op("Reshape", [context, "merge_shape"])
    attended = b.dense(merged, f"{p}.attention.output.dense")
    h = b.norm(b.op("Add", [attended, h]), f"{p}.attention.output.LayerNorm")
    inner = b.dense(h, f"{p}.intermediate.dense")
    erf = b.op("Erf", [b.op("Mul", [inner, "inv_sqrt2"])])
    gelu = b.op("Mul", [b.op("Mul", [inner, "half"]), b.op("Add", [erf, "one_f"])])
    out = b.dense(gelu, f"{p}.output.dense")
    return b.norm(b.op("Add", [out, h]), f"{p}.output.LayerNorm")


def _mean_pool(b: _Builder, h: str, mask: str) -> None:
    weights = b.op("Unsqueeze", [mask, b.const("axis_last", np.array([-1], np.int64))])
    axis = b.const("axis_tokens", np.array([1], np.int64))
    summed = b.op("ReduceSum", [b.op("Mul", [h, weights]), axis], keepdims=0)
    count = b.op("Max", [b.op("ReduceSum", [weights, axis], keepdims=0), "tiny"])
    b.nodes.append(proto.node("Div", [summed, count], ["pooled"]))


def build_bert_onnx(weights_file: Path, config: BertConfig) -> bytes:
    """The serialized ONNX encoder + mean pooling of a BERT ``model.safetensors``."""
    from safetensors.numpy import load_file

    try:
        weights = load_file(str(weights_file))
    except (OSError, ValueError) as exc:
        raise EmbedError(f"cannot read the title model weights {weights_file}: {exc}") from exc
    b = _Builder(weights, config)
    b.const("attn_scale", np.float32(1.0 / math.sqrt(config.hidden // config.heads)))
    b.const("inv_sqrt2", np.float32(1.0 / math.sqrt(2.0)))
    b.const("half", np.float32(0.5))
    b.const("one_f", np.float32(1.0))
    # (batch, tokens, hidden) <-> (batch, tokens, heads, head size); 0 copies the input's dim
    b.const("heads_shape", np.array([0, 0, config.heads, -1], np.int64))
    b.const("merge_shape", np.array([0, 0, config.hidden], np.int64))
    b.const("tiny", np.float32(1e-9))  # sentence-transformers clamps the token count the same way
    mask = b.op("Cast", ["attention_mask"], to=proto.FLOAT)
    # (1 - mask) * -10000 on (batch, 1, 1, tokens): padded keys get ~zero attention.
    axes = b.const("mask_axes", np.array([1, 2], np.int64))
    keep = b.op("Unsqueeze", [mask, axes])
    bias = b.op("Mul", [b.op("Sub", ["one_f", keep]), b.const("neg", np.float32(-10000.0))])
    h = _embeddings(b)
    for i in range(config.layers):
        h = _layer(b, h, bias, i)
    _mean_pool(b, h, mask)
    tokens: list[int | str] = ["batch", "tokens"]
    return proto.model(
        "bert-mean-pool",
        b.nodes,
        [
            proto.value_info(name, proto.INT64, tokens)
            for name in ("input_ids", "attention_mask", "token_type_ids")
        ],
        [proto.value_info("pooled", proto.FLOAT, ["batch", config.hidden])],
        b.inits,
        opset=_OPSET,
    )
