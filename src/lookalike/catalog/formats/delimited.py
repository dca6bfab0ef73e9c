"""CSV and TSV catalogs: one product per row, columns mapped by :class:`ColumnMap`.

The delimiter of a ``.csv`` file is sniffed (``,`` ``;`` tab or ``|``); a ``.tsv`` is
tab-separated. Rows stream one at a time, so a large catalog never sits in memory. Rows are
numbered as a spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import contextlib
import csv
import functools
from collections.abc import Callable, Iterator
from typing import TextIO

from lookalike.catalog.formats.base import Format, Reader
from lookalike.catalog.formats.columns import ColumnMap, product_from_record
from lookalike.catalog.formats.source import CatalogFile
from lookalike.catalog.models import Product
from lookalike.errors import CatalogError

__all__ = ["CSV", "TSV", "Rows", "export_format", "open_rows", "read_delimited"]

Rows = Iterator[tuple[int, dict[str, str]]]


@contextlib.contextmanager
def open_rows(file: CatalogFile, delimiter: str | None = None) -> Iterator[tuple[list[str], Rows]]:
    """Open ``file`` as a table: ``(header, rows)``, rows as ``(row number, {column: cell})``.

    Cells beyond the header are dropped; an empty or broken file is a ``CatalogError``.
    """
    with file.open_text() as handle:
        lines = _Lines(handle)
        # strict: an unterminated quote (a file cut inside a cell) is an error
        reader = csv.DictReader(lines, delimiter=delimiter or file.delimiter, strict=True)
        try:
            fieldnames = reader.fieldnames
        except csv.Error as exc:
            raise CatalogError(f"{file.name} row 1: {exc}") from exc
        if not fieldnames:
            raise CatalogError(f"{file.name} is empty or has no header row")
        header = [h for h in fieldnames if h is not None]
        yield header, _rows(reader, file, lines, len(header))


class _Lines:
    """The file's lines, remembering whether the last one read had its line end."""

    def __init__(self, handle: TextIO):
        self._handle = handle
        self.unended = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._handle)
        self.unended = not line.endswith(("\n", "\r"))
        return line


def _rows(reader: csv.DictReader[str], file: CatalogFile, lines: _Lines, width: int) -> Rows:
    rows = enumerate(reader, start=2)
    row_no = 1
    try:
        current = next(rows, None)
        while current is not None:
            row_no, row = current
            current = next(rows, None)
            row.pop(None, None)  # cells beyond the header
            if current is None and lines.unended and None in row.values():
                # the last row is short and the file stops mid-line: cut off, not a catalog
                cells = sum(v is not None for v in row.values())
                raise CatalogError(
                    f"{file.name} is truncated: its last row ({row_no}) has {cells} of "
                    f"{width} cells and no line end"
                )
            yield row_no, row
    except csv.Error as exc:
        raise CatalogError(f"{file.name} row {row_no + 1}: {exc} (truncated?)") from exc


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


def export_format(
    name: str, description: str, is_header: Callable[[tuple[str, ...]], bool], read: Reader
) -> Format:
    """A platform's CSV/TSV export: recognised by its header row, not by its extension."""
    return Format(
        name=name,
        description=description,
        suffixes=(".csv", ".tsv"),
        sniff=lambda file: is_header(file.header),
        read=read,
    )
