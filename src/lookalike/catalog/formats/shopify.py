"""Shopify product CSV exports: rows grouped by Handle, variants as products of one group.

A Shopify export writes a product on several consecutive rows sharing its ``Handle``: the first
carries the product fields and the first variant, later rows a further variant (``Option1
Value``, ``Variant SKU``, ``Variant Price``...) and/or a further image (``Image Src`` +
``Image Position``). Both the classic column names and the current ones (``URL handle``,
``SKU``, ``Price``, ``Inventory quantity``, ``Product image URL``) are read.

A product with one variant (``Default Title``) becomes one product whose id is the Handle. A
product with several variants becomes one product per variant (id: its SKU, else the Handle
and the option values), all with ``group_id`` = Handle, so that a product's own variants are
never recommended for it. Every variant gets the product's images in ``Image Position`` order
(its own ``Variant Image`` first). The export has no currency column: prices are numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from lookalike.catalog.formats.cells import Columns
from lookalike.catalog.formats.columns import ColumnMap
from lookalike.catalog.formats.delimited import Rows, export_format, open_rows
from lookalike.catalog.formats.source import CatalogFile
from lookalike.catalog.formats.values import category_path, parse_price
from lookalike.catalog.models import Product
from lookalike.textutil import parse_bool

__all__ = ["SHOPIFY", "read_shopify", "is_shopify_header"]

HANDLE = ("handle", "url handle")
SKU = ("variant sku", "sku")
PRICE = ("variant price", "price")
COMPARE_AT = ("variant compare at price", "compare-at price", "compare at price")
QUANTITY = ("variant inventory qty", "inventory quantity")
TRACKER = ("variant inventory tracker", "inventory tracker")
POLICY = ("variant inventory policy",)  # deny | continue
CONTINUE = ("continue selling when out of stock",)  # TRUE | FALSE
IMAGE = ("image src", "product image url")
POSITION = ("image position",)
VARIANT_IMAGE = ("variant image", "variant image url")
BARCODE = ("variant barcode", "barcode")
_OPTIONS = tuple((f"option{i} name", f"option{i} value") for i in (1, 2, 3))
_DEFAULT_OPTION = "default title"  # Shopify's option value of a product without variants


def is_shopify_header(header: tuple[str, ...] | list[str]) -> bool:
    """A Handle column and at least one of the columns only Shopify exports have."""
    columns = Columns(header)
    return columns.has(*HANDLE) and columns.has(
        "variant sku", "variant price", "image src", "option1 value", "product image url"
    )


@dataclass
class _Group:
    """The rows of one Handle, as read so far."""

    handle: str
    first: dict[str, str]
    first_row: int
    variants: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    images: list[tuple[float, int, str, int]] = field(default_factory=list)  # pos, order, src, row


class _ShopifyReader:
    def __init__(self, file: CatalogFile, header: list[str]) -> None:
        self.file = file
        self.columns = Columns(header)
        self.seen: set[str] = set()

    def groups(self, rows: Rows) -> Iterator[_Group]:
        group: _Group | None = None
        for row_no, row in rows:
            handle = self.columns.cell(row, *HANDLE)
            if not handle:
                self.file.problem(f"row {row_no}", "skipped: no Handle")
                continue
            if group is None or handle != group.handle:
                if group is not None:
                    yield group
                if handle in self.seen:
                    self.file.problem(
                        f"row {row_no}",
                        f"handle {handle} appears again after other products (a product's "
                        "rows belong together): read as a second record",
                        handle,
                    )
                self.seen.add(handle)
                group = _Group(handle=handle, first=row, first_row=row_no)
            self._add_row(group, row_no, row)
        if group is not None:
            yield group

    def _add_row(self, group: _Group, row_no: int, row: dict[str, str]) -> None:
        cell = self.columns.cell
        if row is group.first or cell(row, *SKU) or cell(row, *PRICE) or cell(row, "option1 value"):
            group.variants.append((row_no, row))
        src = cell(row, *IMAGE)
        if src:
            position = parse_price(cell(row, *POSITION))
            order = len(group.images)
            group.images.append(
                (position if position is not None else float("inf"), order, src, row_no)
            )

    def products(self, group: _Group) -> Iterator[Product]:
        images = [
            kept
            for _, _, src, row_no in sorted(group.images)
            for kept in self.file.images([src], group.handle, where=f"row {row_no}")
        ]
        single = len(group.variants) == 1
        for row_no, row in group.variants:
            options = self._options(group.first, row)
            plain = single and all(v.lower() == _DEFAULT_OPTION for v in options.values())
            yield self._variant(group, row_no, row, options, images, plain)

    def _options(self, first: dict[str, str], row: dict[str, str]) -> dict[str, str]:
        options: dict[str, str] = {}
        for name_column, value_column in _OPTIONS:
            value = self.columns.cell(row, value_column)
            if value:
                name = self.columns.cell(first, name_column) or name_column.split()[0].title()
                options[name] = value
        return options

    def _variant(
        self,
        group: _Group,
        row_no: int,
        row: dict[str, str],
        options: dict[str, str],
        images: list[str],
        plain: bool,
    ) -> Product:
        cell, first = self.columns.cell, group.first
        where = f"row {row_no}"
        values = [v for v in options.values() if v.lower() != _DEFAULT_OPTION]
        title = cell(first, "title") or group.handle
        if plain:
            product_id = group.handle
        else:
            slug = "-".join(re.sub(r"\s+", "-", v.strip().lower()) for v in values)
            product_id = cell(row, *SKU) or f"{group.handle}-{slug or row_no}"
            title = f"{title} - {' / '.join(values)}" if values else title
        own = self.file.images([cell(row, *VARIANT_IMAGE)], product_id, where=where)
        attrs = self._attrs(first, row, options if not plain else {})
        price = parse_price(cell(row, *PRICE))
        compare_at = parse_price(cell(row, *COMPARE_AT))
        if compare_at is not None and price is not None and compare_at > price:
            attrs["regular_price"] = compare_at
        category = cell(first, "product category") or cell(first, "type")
        return Product(
            id=product_id,
            title=title,
            images=list(dict.fromkeys(own + images)),
            category=category_path(category),
            price=price,
            in_stock=self._in_stock(first, row),
            group_id="" if plain else group.handle,
            attrs=attrs,
            origin=where,
        )

    def _attrs(
        self, first: dict[str, str], row: dict[str, str], options: dict[str, str]
    ) -> dict[str, object]:
        cell = self.columns.cell
        attrs: dict[str, object] = {
            "vendor": cell(first, "vendor"),
            "type": cell(first, "type"),
            "tags": cell(first, "tags"),
            "description": cell(first, "body (html)", "description"),
            "status": cell(first, "status"),
            "barcode": cell(row, *BARCODE),
        }
        attrs.update(options)
        return {key: value for key, value in attrs.items() if value}

    def _in_stock(self, first: dict[str, str], row: dict[str, str]) -> bool:
        cell = self.columns.cell
        if cell(first, "status").lower() in ("draft", "archived"):
            return False
        if self.columns.has(*TRACKER) and not cell(row, *TRACKER):
            return True  # inventory not tracked: always for sale
        quantity = parse_price(cell(row, *QUANTITY))
        if quantity is None or quantity > 0:
            return True  # stock not tracked, or some left
        oversell = cell(row, *POLICY).lower() == "continue"
        return oversell or parse_bool(cell(row, *CONTINUE), default=False)


def read_shopify(file: CatalogFile, columns: ColumnMap | None = None) -> Iterator[Product]:
    """Stream the products of a Shopify product CSV export (``columns`` does not apply)."""
    with open_rows(file) as (header, rows):
        reader = _ShopifyReader(file, header)
        for group in reader.groups(rows):
            yield from reader.products(group)


SHOPIFY = export_format(
    "shopify",
    "Shopify product CSV export (Handle, Variant SKU, Image Src ...)",
    is_shopify_header,
    read_shopify,
)
