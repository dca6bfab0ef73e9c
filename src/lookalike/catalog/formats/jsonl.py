"""JSON Lines catalogs: one JSON object per line, fields mapped by :class:`ColumnMap`."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator

from lookalike.catalog.formats.base import Format
from lookalike.catalog.formats.columns import ColumnMap, product_from_record
from lookalike.catalog.formats.source import CatalogFile
from lookalike.catalog.models import Product

__all__ = ["JSONL", "read_jsonl"]


def read_jsonl(file: CatalogFile, columns: ColumnMap | None = None) -> Iterator[Product]:
    """Stream products from a JSON Lines file; a line that is not a JSON object is skipped."""
    columns = columns or ColumnMap()
    fields_cache: dict[frozenset[str], dict[str, str]] = {}
    with file.open_text() as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                file.problem(f"line {line_no}", f"skipped: not JSON ({exc.msg})")
                continue
            if not isinstance(record, dict):
                file.problem(f"line {line_no}", "skipped: not a JSON object")
                continue
            key = frozenset(record)
            if key not in fields_cache:
                fields_cache[key] = columns.resolve(list(record))
            where = f"line {line_no}"
            try:
                yield product_from_record(
                    record, fields_cache[key], functools.partial(file.images, where=where), where
                )
            except ValueError as exc:
                file.problem(where, f"skipped: {exc}")


JSONL = Format(
    name="jsonl",
    description="JSON Lines: one product object per line",
    suffixes=(".jsonl", ".ndjson"),
    sniff=lambda file: file.suffix in (".jsonl", ".ndjson") or file.text_start == "{",
    read=read_jsonl,
)
