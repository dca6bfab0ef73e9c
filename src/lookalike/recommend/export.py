"""Export every product's top-K as JSONL or CSV, for a shop back-end to import."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import IO

from lookalike.atomic import atomic_open
from lookalike.errors import ConfigError
from lookalike.recommend.similar import Recommender

__all__ = ["EXPORT_FORMATS", "export_recommendations"]

EXPORT_FORMATS = ("jsonl", "csv")


def _write_jsonl(rec: Recommender, k: int, handle: IO[str]) -> int:
    count = 0
    for product_id in rec.store.ids():
        hits = rec.neighbors.lookup(product_id, k)
        handle.write(
            json.dumps(
                {
                    "id": product_id,
                    "similar": [{"id": pid, "score": round(s, 6)} for pid, s in hits],
                },
                ensure_ascii=False,
            )
            + "\n"
        )
        count += 1
    return count


def _write_csv(rec: Recommender, k: int, handle: IO[str]) -> int:
    writer = csv.writer(handle)
    writer.writerow(["id", "rank", "similar_id", "score"])
    count = 0
    for product_id in rec.store.ids():
        for rank, (pid, score) in enumerate(rec.neighbors.lookup(product_id, k), start=1):
            writer.writerow([product_id, rank, pid, f"{score:.6f}"])
        count += 1
    return count


def export_recommendations(rec: Recommender, out: Path | None, *, fmt: str, k: int) -> int:
    """Write every product's top-``k`` to ``out`` (atomically) or stdout; returns the product count.

    JSONL: one ``{"id", "similar": [{"id", "score"}]}`` per product (products without an image
    get an empty list). CSV: long format, one row per (product, rank).
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    writer = _write_jsonl if fmt == "jsonl" else _write_csv
    if out is None:
        import sys

        return writer(rec, k, sys.stdout)
    with atomic_open(out, "w") as handle:
        return writer(rec, k, handle)
