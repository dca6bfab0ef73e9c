"""CSV and TSV catalogs: one product per row, columns mapped by :class:`ColumnMap`.

The delimiter of a ``.csv`` file is sniffed (``,`` ``;`` tab or ``|``); a ``.tsv`` is
tab-separated. Rows stream one at a time, so a large catalog never sits in memory. Rows are
numbered as a spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import contextlib
import csv
import functools
from collections.abc import Iterator

from lookalike.catalog.formats.base import Format
from lookalike.catalog.formats.columns import ColumnMap, product_from_record
from lookalike.catalog.formats.source import CatalogFile
from lookalike.catalog.models import Product
from lookalike.errors import CatalogError

__all__ = ["CSV", "TSV", "Rows", "open_rows", "read_delimited"]

Rows = Iterator[tuple[int, dict[str, str]]]


@contextlib.contextmanager
def open_rows(file: CatalogFile, delimiter: str | None = None) -> Iterator[tuple[list[str], Rows]]:
    """Open ``file`` as a table: ``(header, rows)``, rows as ``(row number, {column: cell})``.

    Cells beyond the header are dropped; an empty or broken file is a ``CatalogError``.
    """
    with file.open_text() as handle:
        reader = csv.DictReader(handle, delimiter=delimiter or file.delimiter)
        try:
            fieldnames = reader.fieldnames
        except csv.Error as exc:
            raise CatalogError(f"{file.name} row 1: {exc}") from exc
        if not fieldnames:
            raise CatalogError(f"{file.name} is empty or has no header row")
        yield [h for h in fieldnames if h is not None], _rows(reader, file)


def _rows(reader: csv.DictReader[str], file: CatalogFile) -> Rows:
    row_no = 1
    try:
        for row_no, row in enumerate(reader, start=2):
            row.pop(None, None)  # cells beyond the header
            yield row_no, row
    except csv.Error as exc:
        raise CatalogError(f"{file.name} row {row_no + 1}: {exc}") from exc


def read_delimited(
    file: CatalogFile, columns: ColumnMap | None = None, *, delimiter: str | None = None
) -> Iterator[Product]:
    """Stream products from a delimited file (``delimiter`` default: the file's own)."""
    columns = columns or ColumnMap()
    with open_rows(file, delimiter) as (header, rows):
        fields = columns.resolve(header)
        for row_no, row in rows:
            where = f"row {row_no}"
            try:
                yield product_from_record(
                    row, fields, functools.partial(file.images, where=where), where
                )
            except ValueError as exc:
                file.problem(where, f"skipped: {exc}")


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
