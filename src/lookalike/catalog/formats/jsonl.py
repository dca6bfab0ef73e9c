"""JSON Lines catalogs: one JSON object per line, fields mapped by :class:`ColumnMap`."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

from lookalike.catalog.formats.base import Format
from lookalike.catalog.formats.columns import ColumnMap, product_from_record
from lookalike.catalog.formats.source import CatalogFile
from lookalike.catalog.models import Product

__all__ = ["JSONL", "read_jsonl"]

log = logging.getLogger(__name__)


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
                log.warning("%s line %d skipped: not JSON (%s)", file.name, line_no, exc.msg)
                continue
            if not isinstance(record, dict):
                log.warning("%s line %d skipped: not a JSON object", file.name, line_no)
                continue
            key = frozenset(record)
            if key not in fields_cache:
                fields_cache[key] = columns.resolve(list(record))
            try:
                yield product_from_record(record, fields_cache[key], file.resolve_image)
            except ValueError as exc:
                log.warning("%s line %d skipped: %s", file.name, line_no, exc)


JSONL = Format(
    name="jsonl",
    description="JSON Lines: one product object per line",
    suffixes=(".jsonl", ".ndjson"),
    sniff=lambda file: file.suffix in (".jsonl", ".ndjson") or file.text_start == "{",
    read=read_jsonl,
)
