"""CSV and TSV catalogs: one product per row, columns mapped by :class:`ColumnMap`.

The delimiter of a ``.csv`` file is sniffed (``,`` ``;`` tab or ``|``); a ``.tsv`` is
tab-separated. Rows stream one at a time, so a large catalog never sits in memory.
"""

from __future__ import annotations

import csv
import functools
import logging
from collections.abc import Iterator

from lookalike.catalog.formats.base import Format
from lookalike.catalog.formats.columns import ColumnMap, product_from_record
from lookalike.catalog.formats.source import CatalogFile
from lookalike.catalog.models import Product
from lookalike.errors import CatalogError

__all__ = ["CSV", "TSV", "read_delimited"]

log = logging.getLogger(__name__)


def read_delimited(
    file: CatalogFile, columns: ColumnMap | None = None, *, delimiter: str | None = None
) -> Iterator[Product]:
    """Stream products from a delimited file (``delimiter`` default: the file's own)."""
    columns = columns or ColumnMap()
    with file.open_text() as handle:
        reader = csv.DictReader(handle, delimiter=delimiter or file.delimiter)
        try:
            fieldnames = reader.fieldnames
        except csv.Error as exc:
            raise CatalogError(f"{file.name} line 1: {exc}") from exc
        if not fieldnames:
            raise CatalogError(f"{file.name} is empty or has no header row")
        fields = columns.resolve([h for h in fieldnames if h is not None])
        line_no = 1
        try:
            for line_no, row in enumerate(reader, start=2):
                row.pop(None, None)  # type: ignore[call-overload]  # cells beyond the header
                try:
                    yield product_from_record(row, fields, file.resolve_image)
                except ValueError as exc:
                    log.warning("%s line %d skipped: %s", file.name, line_no, exc)
        except csv.Error as exc:
            raise CatalogError(f"{file.name} line {line_no + 1}: {exc}") from exc


CSV = Format(
    name="csv",
    description="CSV with a header row (comma, semicolon, tab or | separated)",
    suffixes=(".csv",),
    sniff=lambda file: file.suffix == ".csv",
    read=read_delimited,
)
TSV = Format(
    name="tsv",
    description="tab-separated values with a header row",
    suffixes=(".tsv",),
    sniff=lambda file: file.suffix == ".tsv",
    read=functools.partial(read_delimited, delimiter="\t"),
)
