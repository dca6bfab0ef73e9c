"""The product record every reader produces and every later stage consumes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Product"]


@dataclass
class Product:
    """One sellable item of a shop's catalog.

    ``images`` are sources as found in the catalog: absolute local paths or http(s) URLs,
    the first one being the main image. ``attrs`` holds every extra column/parameter.
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

    def __post_init__(self) -> None:
        self.id = str(self.id).strip()
        if not self.id:
            raise ValueError("a product needs a non-empty id")
        if self.price is not None and (math.isnan(self.price) or math.isinf(self.price)):
            self.price = None

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
