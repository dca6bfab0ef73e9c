"""The product record every reader produces and every later stage consumes."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lookalike.catalog.titles import looks_invented

__all__ = ["Product", "first_of_each_id"]


@dataclass
class Product:
    """One sellable item of a shop's catalog.

    ``images`` are sources as found in the catalog: absolute local paths or http(s) URLs,
    the first one being the main image. ``attrs`` holds every extra column/parameter.
    ``origin`` says where in the catalog file it was read (for messages only).
    ``title_invented``: the title was made up by the reader (a folder's ``"<Category> <stem>"``,
    the id): shown, never used as text signal. Readers set it; :func:`looks_invented` catches
    the rest, so it is always set by the time a product exists.
    """

    id: str
    title: str = ""
    images: list[str] = field(default_factory=list)
    category: str = ""
    price: float | None = None
    in_stock: bool = True
    url: str = ""
    group_id: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    title_invented: bool = False
    # Where the reader found it ("row 7", "line 31"), for messages; not stored, not compared.
    origin: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        self.id = str(self.id).strip()
        if not self.id:
            raise ValueError("a product needs a non-empty id")
        if self.price is not None and (math.isnan(self.price) or math.isinf(self.price)):
            self.price = None
        self.title_invented = bool(self.title_invented) or looks_invented(
            self.id, self.title, self.images, self.category
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "id": self.id,
            "title": self.title,
            "images": list(self.images),
            "category": self.category,
            "price": self.price,
            "in_stock": self.in_stock,
            "url": self.url,
            "group_id": self.group_id,
            "attrs": dict(self.attrs),
        }


def first_of_each_id(
    products: Iterable[Product], on_duplicate: Callable[[Product, str], None] | None = None
) -> Iterator[Product]:
    """The products with an id not seen before: a catalog's later record of an id is dropped.

    ``on_duplicate(dropped, origin of the kept one)`` is told of each one. The store and
    ``catalog check`` both use this rule, so the check counts what a build keeps.
    """
    origins: dict[str, str] = {}  # id -> where its kept record was read
    for product in products:
        if product.id in origins:
            if on_duplicate is not None:
                on_duplicate(product, origins[product.id])
            continue
        origins[product.id] = product.origin
        yield product
