"""Catalog formats: one registry from a file's extension and content to its reader.

Formats: a folder of images, CSV, TSV, JSON Lines, Yandex YML and Google Merchant RSS/Atom
feeds; a file or an http(s) URL, gzipped or not. XML is read with the defused streaming parser
of :mod:`~lookalike.catalog.formats.xmlsafe`. Adding a format: one module defining a
:class:`Format`, one entry in :data:`~lookalike.catalog.formats.registry.FORMATS`.
"""

from __future__ import annotations

from lookalike.catalog.formats.base import Format
from lookalike.catalog.formats.columns import ColumnMap
from lookalike.catalog.formats.registry import FORMATS, detect_format, get_format, read_catalog
from lookalike.catalog.formats.source import CatalogFile

__all__ = [
    "FORMATS",
    "CatalogFile",
    "ColumnMap",
    "Format",
    "detect_format",
    "get_format",
    "read_catalog",
]
