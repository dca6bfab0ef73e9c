"""Large images made on the fly for limit and memory tests, without holding their pixels."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_rgba16(width: int, height: int, *, pixels: bool = True) -> bytes:
    """A 16-bit RGBA PNG of ``width`` x ``height`` (a grey gradient by row, so it compresses
    to under 2 MB). ``pixels=False``: the header and the first row only (a truncated
    file, for checks that must refuse it from its header alone)."""
    header = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0)
    out = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header)]
    compressor = zlib.compressobj(1)
    parts = []
    for y in range(height if pixels else 1):
        value = (y * 65535 // max(1, height - 1)).to_bytes(2, "big")
        row = b"\x00" + (value * 3 + b"\xff\xff") * width
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    out.append(_chunk(b"IDAT", b"".join(parts)))
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)
