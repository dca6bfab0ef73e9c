"""A folder of images as a catalog: one product per image file, categories from sub-folders."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from lookalike.catalog.formats.base import Format
from lookalike.catalog.formats.columns import ColumnMap
from lookalike.catalog.formats.source import CatalogFile
from lookalike.catalog.models import Product
from lookalike.errors import CatalogError

__all__ = ["FOLDER", "IMAGE_EXTENSIONS", "read_folder"]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})


def read_folder(root: Path) -> Iterator[Product]:
    """One product per image file: id = file stem, category = the parent folder's name.

    Files directly in ``root`` get no category. When two files share a stem, the later one's id
    is prefixed with its folder path so that no product is silently dropped.
    """
    if not root.is_dir():
        raise CatalogError(f"{root} is not a folder")
    seen: set[str] = set()
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file():
            continue
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        relative_parent = path.parent.relative_to(root)
        category = "" if relative_parent == Path(".") else path.parent.name
        product_id = path.stem
        if product_id in seen:
            product_id = f"{relative_parent.as_posix()}/{path.stem}"
            log.warning("duplicate file stem %r: using id %r", path.stem, product_id)
        seen.add(product_id)
        yield Product(
            id=product_id,
            title=f"{category.replace('-', ' ').capitalize()} {path.stem}".strip(),
            images=[str(path.resolve())],
            category=category,
            title_invented=True,
        )


def _read(file: CatalogFile, columns: ColumnMap | None) -> Iterator[Product]:
    return read_folder(file.path)


FOLDER = Format(
    name="folder",
    description="a folder of images (sub-folder names become categories)",
    suffixes=(),
    sniff=lambda file: file.path.is_dir(),
    read=_read,
    folder=True,
)
