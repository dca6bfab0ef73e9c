"""Where a product's image bytes live on disk (a local file or the fetcher's URL cache), and
what media type to serve them with."""

from __future__ import annotations

from pathlib import Path

from lookalike.catalog.models import Product
from lookalike.workspace import Workspace

__all__ = ["image_file", "product_image_file", "media_type"]

_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


def image_file(ws: Workspace, source: str) -> Path | None:
    """The file holding ``source``'s bytes, or ``None`` when it is not available locally."""
    path = ws.image_file(source)
    return path if path.is_file() else None


def product_image_file(ws: Workspace, product: Product) -> Path | None:
    """The first of the product's images available on this server."""
    for source in product.images:
        path = image_file(ws, source)
        if path is not None:
            return path
    return None


def media_type(path: Path) -> str:
    """The image type from the file's first bytes (never from a name a catalog chose)."""
    with path.open("rb") as handle:
        head = handle.read(16)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    return "application/octet-stream"
