"""Table columns to ``Product`` fields: the ``--columns`` map and the row -> product rule.

Column names are configurable with ``ColumnMap``; fields not named are guessed from aliases,
and every column that is not mapped becomes a product attribute. Used by the CSV/TSV and
JSONL readers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from lookalike.catalog.formats.values import parse_price, split_images
from lookalike.catalog.models import Product
from lookalike.errors import CatalogError, ConfigError
from lookalike.textutil import parse_bool, parse_pairs

__all__ = ["ColumnMap", "product_from_record"]

_EXTRA_IMAGE_COLUMN = re.compile(r"^(image|images|picture|photo)[_ ]?\d+$|^additional_image", re.I)


@dataclass(frozen=True)
class ColumnMap:
    """Which catalog column holds which product field. ``None`` means "guess from aliases"."""

    id: str | None = None
    title: str | None = None
    image: str | None = None
    category: str | None = None
    price: str | None = None
    in_stock: str | None = None
    url: str | None = None
    group_id: str | None = None
    aliases: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {
            "id": ("id", "sku", "product_id", "item_id", "itemid", "offer_id", "article"),
            "title": ("title", "name", "product_name", "product_title"),
            "image": (
                "image",
                "images",
                "image_url",
                "image_path",
                "image_link",
                "picture",
                "photo",
                "img",
                "path",
                "file",
                "filename",
            ),
            "category": ("category", "product_type", "categories", "type", "label", "class"),
            "price": ("price", "cost", "sale_price"),
            "in_stock": ("in_stock", "instock", "available", "availability", "stock"),
            "url": ("url", "link", "product_url", "page_url"),
            "group_id": ("group_id", "item_group_id", "parent_id", "model_id"),
        }
    )

    @classmethod
    def parse(cls, spec: str | None) -> ColumnMap:
        """Build from ``"id=sku,title=name,image=photo_url"`` (the CLI's ``--columns``)."""
        if not spec:
            return cls()
        hint = f"FIELD one of {', '.join(_FIELDS)}"
        try:
            values = parse_pairs(spec, what="FIELD=COLUMN")
        except ConfigError as exc:
            raise CatalogError(f"bad column mapping: {exc} ({hint})") from None
        for key, column in values.items():
            if not column or key not in _FIELDS:
                raise CatalogError(f"bad column mapping {key}={column!r}: use FIELD=COLUMN, {hint}")
        return cls(**cast(dict[str, Any], values))

    def resolve(self, header: list[str]) -> dict[str, str]:
        """Map each product field to the header column that holds it (missing fields left out)."""
        lower = {h.strip().lower(): h for h in header}
        resolved: dict[str, str] = {}
        for name in _FIELDS:
            explicit = getattr(self, name)
            if explicit is not None:
                if explicit not in header and explicit.lower() not in lower:
                    raise CatalogError(
                        f"column {explicit!r} (for {name}) not found; columns are: "
                        f"{', '.join(header)}"
                    )
                resolved[name] = explicit if explicit in header else lower[explicit.lower()]
                continue
            for alias in self.aliases.get(name, ()):
                if alias in lower and lower[alias] not in resolved.values():
                    resolved[name] = lower[alias]
                    break
        if "id" not in resolved:
            raise CatalogError(
                "the catalog has no id column (looked for "
                f"{', '.join(self.aliases['id'])}); columns are: {', '.join(header)}. "
                "Name it with --columns id=YOUR_COLUMN"
            )
        return resolved


_FIELDS = ("id", "title", "image", "category", "price", "in_stock", "url", "group_id")


def product_from_record(
    record: Mapping[str, Any],
    fields: Mapping[str, str],
    images_of: Callable[[list[str], str], list[str]],
    where: str = "",
) -> Product:
    """Turn one CSV row / JSON object into a ``Product`` using the resolved column map.

    ``images_of(references, product_id)`` makes the image references absolute and leaves out
    (and reports) those that cannot be images; ``where`` becomes the product's ``origin``.
    """
    used = set(fields.values())
    images: list[str] = []
    if "image" in fields:
        images.extend(split_images(record.get(fields["image"])))
    for key, value in record.items():
        if key not in used and _EXTRA_IMAGE_COLUMN.match(str(key)):
            images.extend(split_images(value))
            used.add(key)

    def text(name: str) -> str:
        value = record.get(fields[name]) if name in fields else None
        return "" if value is None else str(value).strip()

    attrs = {str(k): v for k, v in record.items() if k not in used and v not in (None, "") and k}
    price_raw = record.get(fields["price"]) if "price" in fields else None
    stock_raw = record.get(fields["in_stock"]) if "in_stock" in fields else None
    product_id = text("id")
    if not product_id:
        raise ValueError("no product id")
    title = text("title")
    return Product(
        id=product_id,
        title=title or product_id,
        title_invented=not title,
        images=images_of(images, product_id),
        category=text("category"),
        price=parse_price(price_raw),
        in_stock=parse_bool(stock_raw, default=True),
        url=text("url"),
        group_id=text("group_id"),
        attrs=attrs,
        origin=where,
    )
