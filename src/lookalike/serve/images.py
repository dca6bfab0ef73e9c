"""Where a product's image bytes live on disk: a local file or the fetcher's URL cache."""

from __future__ import annotations

from pathlib import Path

from lookalike.catalog.fetch import ImageFetcher
from lookalike.workspace import Workspace

__all__ = ["image_file"]


def image_file(ws: Workspace, source: str) -> Path | None:
    """The file holding ``source``'s bytes, or ``None`` when it is not available locally."""
    if source.lower().startswith(("http://", "https://")):
        path, _ = ImageFetcher(ws.images_dir).cache_paths(source)
        return path if path.exists() else None
    path = Path(source)
    return path if path.is_file() else None
