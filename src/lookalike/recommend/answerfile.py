"""Plain similar answers as JSON bytes, written into a generation when it is built.

A plain request (``k`` only, no rules, no synced change) is always answered by a slice of the
top-K table, so its JSON can be made once, at build time, and sent as it is. For each product
the answer is stored up to ``DEPTH`` results in one blob (``answers.bin``, memory-mapped),
with an offset index (``answers.offsets.npy``: the blob's start, the end of the part before
the results, then the end of each result), so the answer for ``k`` is one slice.

What depends on the request is left as markers the service fills in: the answer starts after
``{"shop":``, and every image URL is ``\\x00<quoted id>\\x01``, the prefix and suffix of the
request's image route. A JSON encoder never writes a raw control character, so the markers
cannot collide with data. ``plain_template`` (``plain.py``) hands the bytes out only while
they equal what the live path would answer; otherwise the caller answers live.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

import numpy as np
from pydantic_core import to_json

from lookalike.atomic import atomic_open, save_npy_atomic, write_json_atomic
from lookalike.catalog.models import Product
from lookalike.catalog.store import ProductStore
from lookalike.recommend.topk import Neighbors
from lookalike.workspace import AnswerFiles

__all__ = ["DEPTH", "TAIL", "IMAGE_START", "IMAGE_END", "PlainAnswers", "write_answers"]

DEPTH = 20  # results stored per product; a larger k is answered live
FORMAT = 1
IMAGE_START, IMAGE_END = b"\x00", b"\x01"
TAIL = b'],"experiment":"","variant":""}'
_CHUNK = 2000  # query products per batch: bounds the fragments held while writing


def _product_json(product: Product) -> bytes:
    """``ProductOut`` JSON without its closing brace, the image URL as markers."""
    head = to_json({"id": product.id, "title": product.title, "url": product.url})[:-1]
    image = (
        b'"' + IMAGE_START + quote(product.id, safe="").encode() + IMAGE_END + b'"'
        if product.images
        else b"null"
    )
    rest = to_json(
        {
            "price": None if product.price is None else float(product.price),
            "category": product.category,
            "in_stock": bool(product.in_stock),
            "attributes": {str(k): v for k, v in product.attrs.items()},
        }
    )[1:]
    return head + b',"image":' + image + b"," + rest[:-1]


def _answer(
    query: Product, hits: list[tuple[Product, float]], image_weight: float
) -> tuple[bytes, list[int]]:
    """One product's answer (after ``{"shop":``, before ``TAIL``) and the end of each part."""
    parts = [
        b',"query":' + _product_json(query) + b'},"metric":"cosine","source":"precomputed",'
        b'"results":['
    ]
    for rank, (product, score) in enumerate(hits, start=1):
        item = b"" if rank == 1 else b","
        item += _product_json(product) + b',"rank":' + str(rank).encode() + b',"score":'
        item += to_json(round(image_weight * score, 6)) + b',"components":null,"rules":[]}'
        parts.append(item)
    ends = np.cumsum([len(p) for p in parts]).tolist()
    return b"".join(parts), ends


def _chunks(neighbors: Neighbors, depth: int) -> Iterator[range]:
    for start in range(0, len(neighbors.ids), _CHUNK):
        yield range(start, min(start + _CHUNK, len(neighbors.ids)))


def write_answers(
    files: AnswerFiles, neighbors: Neighbors, store: ProductStore, image_weight: float
) -> int:
    """Write every product's plain answer; returns how many were written. A product whose
    stored neighbours are not all in ``store`` (or that is its own neighbour) gets none, so
    the service answers it live."""
    depth = min(DEPTH, neighbors.k)
    offsets = np.full((len(neighbors.ids), depth + 2), -1, dtype=np.int64)
    written, position = 0, 0
    with atomic_open(files.blob, "wb") as out:
        for rows in _chunks(neighbors, depth):
            table = np.asarray(neighbors.rows[rows.start : rows.stop, :depth])
            scores = np.asarray(neighbors.scores[rows.start : rows.stop, :depth])
            wanted = {neighbors.ids[int(r)] for r in table[table >= 0]}
            wanted.update(neighbors.ids[i] for i in rows)
            products = store.get_many(sorted(wanted))
            for i, row in enumerate(rows):
                pid = neighbors.ids[row]
                hit_ids = [neighbors.ids[int(r)] for r in table[i] if r >= 0]
                if pid not in products or pid in hit_ids or any(h not in products for h in hit_ids):
                    continue
                hits = [(products[h], float(s)) for h, s in zip(hit_ids, scores[i], strict=False)]
                blob, ends = _answer(products[pid], hits, image_weight)
                out.write(blob)
                offsets[row, 0] = position
                offsets[row, 1 : 1 + len(ends)] = [position + e for e in ends]
                position += len(blob)
                written += 1
    save_npy_atomic(files.offsets, offsets)
    meta = {"format": FORMAT, "count": len(neighbors.ids), "depth": depth}
    write_json_atomic(files.meta, meta | {"image_weight": image_weight, "answers": written})
    return written


class PlainAnswers:
    """The answers of one generation, memory-mapped (``None`` from ``open`` when absent)."""

    def __init__(self, files: AnswerFiles, meta: dict[str, Any]):
        self.depth = int(meta["depth"])
        self.image_weight = float(meta["image_weight"])
        # memory-mapped, read as a plain array: a row lookup makes no memmap object
        self.offsets = np.load(files.offsets, mmap_mode="r").view(np.ndarray)
        with open(files.blob, "rb") as handle:
            size = handle.seek(0, 2)
            self._blob = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""

    @classmethod
    def open(cls, files: AnswerFiles, ids: Sequence[str]) -> PlainAnswers | None:
        """The answers in ``files`` when they are complete and made for ``ids``, else None."""
        try:
            meta = json.loads(files.meta.read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT or meta.get("count") != len(ids):
                return None
            answers = cls(files, meta)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # an older generation, or damaged: the live path answers
        return answers if answers.offsets.shape == (len(ids), answers.depth + 2) else None

    def template(self, row: int, k: int) -> bytes | None:
        """Row ``row``'s answer for ``k`` results (``k <= depth``), or None when it has none."""
        ends = self.offsets[row].tolist()
        if ends[0] < 0:
            return None
        stored = [e for e in ends[1:] if e >= 0]  # the query part, then each result
        return self._blob[ends[0] : stored[min(k, len(stored) - 1)]] + TAIL
