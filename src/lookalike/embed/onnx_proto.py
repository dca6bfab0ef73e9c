"""A minimal ONNX protobuf writer: the few messages the graph builders need, as bytes.

It replaces the ``onnx`` package at run time (about 35 MB with protobuf and ml_dtypes): the
converter only ever writes a model, and ONNX Runtime validates it on load. Field numbers are
those of ``onnx.proto`` (proto2; repeated scalars are written unpacked, as proto2 expects).
The tests check the output with ``onnx.checker`` (dev extra).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

__all__ = ["FLOAT", "INT64", "node", "tensor", "value_info", "model"]

FLOAT, INT64 = 1, 7  # TensorProto.DataType
_DTYPES = {np.dtype(np.float32): FLOAT, np.dtype(np.int64): INT64}
# AttributeProto.AttributeType and the field that holds each kind
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_INTS = 1, 2, 3, 7


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64: two's complement, ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, value: bytes | str) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else value
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _float(field: int, value: float) -> bytes:
    return _varint(field << 3 | 5) + struct.pack("<f", value)


def _attribute(name: str, value: object) -> bytes:
    head = _bytes(1, name)
    if isinstance(value, bool) or isinstance(value, int | np.integer):
        return head + _int(3, int(value)) + _int(20, _ATTR_INT)
    if isinstance(value, float):
        return head + _float(2, value) + _int(20, _ATTR_FLOAT)
    if isinstance(value, str):
        return head + _bytes(4, value) + _int(20, _ATTR_STRING)
    if isinstance(value, Sequence) and all(isinstance(v, int) for v in value):
        return head + b"".join(_int(8, v) for v in value) + _int(20, _ATTR_INTS)
    raise TypeError(f"unsupported attribute {name}={value!r}")


def node(op: str, inputs: Sequence[str], outputs: Sequence[str], **attrs: object) -> bytes:
    """A ``NodeProto`` of the default domain."""
    parts = [_bytes(1, i) for i in inputs] + [_bytes(2, o) for o in outputs]
    parts.append(_bytes(3, f"{op}_{outputs[0]}"))
    parts.append(_bytes(4, op))
    parts += [_bytes(5, _attribute(k, v)) for k, v in sorted(attrs.items())]
    return b"".join(parts)


def tensor(name: str, array: np.ndarray | np.generic) -> bytes:
    """A ``TensorProto`` initializer (float32 or int64) with little-endian raw data."""
    value = np.asarray(array)
    dtype = _DTYPES.get(value.dtype)
    if dtype is None:
        raise TypeError(f"unsupported tensor dtype {value.dtype} for {name}")
    dims = b"".join(_int(1, d) for d in value.shape)
    raw = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")).tobytes()
    return dims + _int(2, dtype) + _bytes(8, name) + _bytes(9, raw)


def value_info(name: str, elem_type: int, shape: Sequence[int | str]) -> bytes:
    """A ``ValueInfoProto``: a graph input or output; a str dim is symbolic (``"batch"``)."""
    dims = b"".join(_bytes(1, _bytes(2, d) if isinstance(d, str) else _int(1, d)) for d in shape)
    tensor_type = _int(1, elem_type) + _bytes(2, dims)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def model(
    name: str,
    nodes: Sequence[bytes],
    inputs: Sequence[bytes],
    outputs: Sequence[bytes],
    initializers: Sequence[bytes],
    *,
    opset: int,
    ir_version: int = 8,
) -> bytes:
    """A serialized ``ModelProto`` around one graph (default domain at ``opset``)."""
    graph = b"".join(
        [
            *(_bytes(1, n) for n in nodes),
            _bytes(2, name),
            *(_bytes(5, t) for t in initializers),
            *(_bytes(11, i) for i in inputs),
            *(_bytes(12, o) for o in outputs),
        ]
    )
    opset_id = _bytes(1, "") + _int(2, opset)
    return _int(1, ir_version) + _bytes(2, "lookalike") + _bytes(7, graph) + _bytes(8, opset_id)
