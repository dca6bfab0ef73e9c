"""Read a torch ``.pth`` state dict in torch's legacy format into numpy, without torch.

The legacy format (``torch.save(..., _use_new_zipfile_serialization=False)``) is a sequence of
pickles: a magic number, the protocol version, system info, the object itself (tensors refer to
storages by key through ``persistent_load``), the list of storage keys, then each storage's raw
bytes (an int64 element count followed by the data). The unpickler below allows only the few
globals such a state dict uses, so a crafted file cannot run code.
"""

from __future__ import annotations

import collections
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from lookalike.errors import EmbedError

__all__ = ["read_state_dict"]

_MAGIC = 0x1950A86A20F9469CFC6C
_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclass
class _Storage:
    dtype: np.dtype[Any]
    numel: int
    data: np.ndarray | None = None


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype[Any]


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def materialize(self) -> np.ndarray:
        if self.storage.data is None:
            raise EmbedError("a tensor's storage is missing from the weights file")
        base = self.storage.data[self.offset :]
        itemsize = base.itemsize
        needed = 1 + sum((n - 1) * s for n, s in zip(self.shape, self.stride, strict=True))
        if any(n == 0 for n in self.shape):
            return np.zeros(self.shape, dtype=base.dtype)
        if needed > base.size:
            raise EmbedError("a tensor reaches past the end of its storage in the weights file")
        view = np.lib.stride_tricks.as_strided(
            base, self.shape, tuple(s * itemsize for s in self.stride)
        )
        return np.array(view)  # own, contiguous copy


def _rebuild_tensor_v2(
    storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *rest: Any
) -> _TensorRef:
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


def _rebuild_parameter(data: _TensorRef, requires_grad: bool, hooks: Any, *rest: Any) -> Any:
    return data


class _Unpickler(pickle.Unpickler):
    """Maps torch's storage types and rebuild calls to the placeholders above; nothing else."""

    def __init__(self, handle: IO[bytes], storages: dict[str, _Storage]):
        super().__init__(handle)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _DTYPES:
            return _StorageType(np.dtype(_DTYPES[name]))
        raise EmbedError(f"unexpected object {module}.{name} in the weights file")

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise EmbedError(f"unexpected persistent id in the weights file: {pid!r}")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise EmbedError("a storage of unknown type in the weights file")
        if len(pid) > 5 and pid[5] is not None:
            raise EmbedError("storage views are not supported in the weights file")
        return self._storages.setdefault(str(key), _Storage(storage_type.dtype, int(numel)))


def _safe_load(handle: IO[bytes]) -> Any:
    return _Unpickler(handle, {}).load()


def read_state_dict(path: Path) -> dict[str, np.ndarray]:
    """``{name: float32/int64 array}`` of a legacy-format ``.pth`` state dict; EmbedError when
    the file is not one (zip-format files, truncated data, unexpected objects)."""
    try:
        with open(path, "rb") as handle:
            return _read(handle)
    except (OSError, pickle.UnpicklingError, EOFError, struct.error, ValueError) as exc:
        raise EmbedError(f"cannot read the weights file {path}: {exc}") from exc


def _read(handle: IO[bytes]) -> dict[str, np.ndarray]:
    if handle.read(2) == b"PK":
        raise EmbedError("zip-format torch files are not supported; expected the legacy format")
    handle.seek(0)
    if _safe_load(handle) != _MAGIC:
        raise EmbedError("not a torch legacy-format file (bad magic number)")
    _safe_load(handle)  # protocol version
    _safe_load(handle)  # system info (endianness, type sizes)
    storages: dict[str, _Storage] = {}
    state = _Unpickler(handle, storages).load()
    keys = _safe_load(handle)
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise EmbedError(f"storage {key!r} is listed but never used in the weights file")
        (count,) = struct.unpack("<q", handle.read(8))
        raw = handle.read(count * storage.dtype.itemsize)
        if count != storage.numel or len(raw) != count * storage.dtype.itemsize:
            raise EmbedError("the weights file is truncated or its storages are inconsistent")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    if not isinstance(state, dict):
        raise EmbedError("the weights file does not hold a state dict")
    return {str(k): v.materialize() for k, v in state.items() if isinstance(v, _TensorRef)}
