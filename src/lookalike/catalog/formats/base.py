"""What a catalog format is: a name, the extensions it uses, a content test and a reader.

A new format is one module that defines a :class:`Format` and one line in
:mod:`lookalike.catalog.formats.registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lookalike.catalog.formats.columns import ColumnMap
from lookalike.catalog.formats.source import CatalogFile
from lookalike.catalog.models import Product

__all__ = ["Format", "Reader", "Sniffer", "XML_SUFFIXES"]

Reader = Callable[[CatalogFile, ColumnMap | None], Iterator[Product]]
Sniffer = Callable[[CatalogFile], bool]

# Extensions of XML feeds (Yandex YML is XML, not YAML); which feed it is, the root tells.
XML_SUFFIXES = (".xml", ".yml", ".rss", ".atom")


@dataclass(frozen=True)
class Format:
    """One catalog format.

    ``suffixes`` are the extensions that may hold it; ``sniff`` says whether a file is in this
    format (from its first bytes, CSV header row or XML root element). A file whose extension
    some format claims is tried against those formats only; any other file against all of
    them. The registry tries formats in order, so a specific format goes before a generic one.
    ``folder`` formats read a directory instead of a file.
    """

    name: str
    description: str
    suffixes: tuple[str, ...]
    sniff: Sniffer
    read: Reader
    folder: bool = False
