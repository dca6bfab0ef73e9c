"""Which file the image route may serve for a product, and with what media type.

Only images the build decoded successfully, and only from the workspace's image cache (where
the build copied them): never a path taken from the catalog, so a catalog row such as
``image=/etc/passwd`` can never make the server read that file.
"""

from __future__ import annotations

from pathlib import Path

from lookalike.catalog.models import Product
from lookalike.catalog.store import ProductStore
from lookalike.workspace import Workspace

__all__ = ["image_file", "product_image_file", "media_type"]

_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


def image_file(ws: Workspace, store: ProductStore, source: str) -> Path | None:
    """The cached copy of ``source`` when the build decoded it, else ``None``."""
    record = store.image_record(source)
    if record is None or record.status != "ok":
        return None
    path = ws.image_cache_file(source)
    return path if path.is_file() else None


def product_image_file(ws: Workspace, store: ProductStore, product: Product) -> Path | None:
    """The first of the product's images the build decoded and cached."""
    for source in product.images:
        path = image_file(ws, store, source)
        if path is not None and media_type(path) is not None:
            return path
    return None


def media_type(path: Path) -> str | None:
    """The media type of the image format in the file's first bytes (never from a name a
    catalog chose); ``None`` when it is no format the build decodes."""
    with path.open("rb") as handle:
        head = handle.read(16)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    return None
