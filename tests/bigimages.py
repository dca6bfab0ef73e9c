"""Large images made on the fly for limit and memory tests, without holding their pixels."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_rgba16(width: int, height: int, *, pixels: bool = True) -> bytes:
    """A 16-bit RGBA PNG (see :func:`png_rgba`)."""
    return png_rgba(width, height, depth=16, pixels=pixels)


def png_rgba(width: int, height: int, *, depth: int = 8, pixels: bool = True) -> bytes:
    """An RGBA PNG, ``depth`` (8 or 16) bits per band, ``width`` x ``height``: a grey gradient
    by row, so 6300 x 6300 compresses to under 2 MB. ``pixels=False``: the header and the first
    row only (a truncated file, for checks that must refuse it from its header alone)."""
    header = struct.pack(">IIBBBBB", width, height, depth, 6, 0, 0, 0)
    size = depth // 8
    out = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header)]
    compressor = zlib.compressobj(1)
    parts = []
    top = 2**depth - 1
    for y in range(height if pixels else 1):
        value = (y * top // max(1, height - 1)).to_bytes(size, "big")
        row = b"\x00" + (value * 3 + top.to_bytes(size, "big")) * width
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    out.append(_chunk(b"IDAT", b"".join(parts)))
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)
