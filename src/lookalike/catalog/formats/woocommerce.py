"""WooCommerce product CSV exports (the built-in product CSV importer/exporter's columns).

One row per product or variation: ``ID``, ``Type`` (simple, variable, variation, ...),
``SKU``, ``Name``, ``Regular price`` / ``Sale price``, ``In stock?`` / ``Stock``,
``Categories`` (comma-separated paths written with ``>``), ``Images`` (comma-separated URLs),
``Parent`` (a variation's parent, by SKU or ``id:ID``) and ``Attribute N name`` /
``Attribute N value(s)``. A product's id is its SKU, else its ID. A variable product and its
variations share one group (the parent's id); a variation without images or categories of its
own gets its parent's. The export has no currency column: prices are numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lookalike.catalog.formats.cells import Columns
from lookalike.catalog.formats.columns import ColumnMap
from lookalike.catalog.formats.delimited import export_format, open_rows
from lookalike.catalog.formats.source import CatalogFile
from lookalike.catalog.formats.values import category_path, parse_price
from lookalike.catalog.models import Product
from lookalike.textutil import parse_bool

__all__ = ["WOOCOMMERCE", "is_woocommerce_header", "read_woocommerce"]

_ON_BACKORDER = {"backorder", "onbackorder", "on backorder"}  # orderable now: in stock
_ATTRIBUTES = range(1, 21)


def is_woocommerce_header(header: tuple[str, ...] | list[str]) -> bool:
    """``Regular price`` with ``Name`` or ``SKU``, and one of WooCommerce's own columns."""
    columns = Columns(header)
    return (
        columns.has("regular price")
        and columns.has("name", "sku")
        and columns.has("in stock?", "images", "parent", "visibility in catalog")
    )


@dataclass(frozen=True)
class _Parent:
    """What a variation may inherit from its variable product."""

    key: str
    images: list[str]
    category: str
    title: str


class _WooReader:
    def __init__(self, file: CatalogFile, header: list[str]) -> None:
        self.file = file
        self.columns = Columns(header)
        self.key_of_id: dict[str, str] = {}  # "ID" -> product id, for Parent "id:ID"
        self.parents: dict[str, _Parent] = {}

    def product(self, row_no: int, row: dict[str, str]) -> Product | None:
        cell = self.columns.cell
        where = f"row {row_no}"
        key = cell(row, "sku") or cell(row, "id")
        if not key:
            self.file.problem(where, "skipped: neither SKU nor ID")
            return None
        if cell(row, "id"):
            self.key_of_id[cell(row, "id")] = key
        kinds = {k.strip().lower() for k in cell(row, "type").split(",")}
        parent = self._parent(row, where, key) if "variation" in kinds else None
        images = self.file.images(cell(row, "images").split(","), key, where=where)
        paths = [category_path(p) for p in cell(row, "categories").split(",") if p.strip()]
        attrs = self._attrs(row, paths)
        price = self._price(row, attrs)
        product = Product(
            id=key,
            title=cell(row, "name") or (parent.title if parent else "") or key,
            images=images or (parent.images if parent else []),
            category=(paths[0] if paths else "") or (parent.category if parent else ""),
            price=price,
            in_stock=self._in_stock(row),
            url=cell(row, "external url"),
            group_id=parent.key if parent else (key if "variable" in kinds else ""),
            attrs=attrs,
            origin=where,
        )
        if "variable" in kinds:
            self.parents[key] = _Parent(key, product.images, product.category, product.title)
        return product

    def _parent(self, row: dict[str, str], where: str, key: str) -> _Parent | None:
        reference = self.columns.cell(row, "parent")
        if not reference:
            self.file.problem(where, "variation without Parent: read as a product of its own", key)
            return None
        parent_key = reference
        if reference.lower().startswith("id:"):
            parent_key = self.key_of_id.get(reference[3:].strip(), reference[3:].strip())
        found = self.parents.get(parent_key)
        if found is None:
            # Exports list the variable product first; a parent further down still groups.
            return _Parent(parent_key, [], "", "")
        return found

    def _price(self, row: dict[str, str], attrs: dict[str, object]) -> float | None:
        regular = parse_price(self.columns.cell(row, "regular price"))
        sale = parse_price(self.columns.cell(row, "sale price"))
        if sale is None:
            return regular
        if regular is not None:
            attrs["regular_price"] = regular
        return sale

    def _in_stock(self, row: dict[str, str]) -> bool:
        flag = self.columns.cell(row, "in stock?")
        if flag.lower() in _ON_BACKORDER:
            return True
        if flag:
            return parse_bool(flag, default=True)
        stock = parse_price(self.columns.cell(row, "stock"))
        return stock is None or stock > 0

    def _attrs(self, row: dict[str, str], paths: list[str]) -> dict[str, object]:
        cell = self.columns.cell
        attrs: dict[str, object] = {
            "type": cell(row, "type"),
            "tags": cell(row, "tags"),
            "brand": cell(row, "brands", "brand"),
            "description": cell(row, "short description", "description"),
            "published": cell(row, "published"),
        }
        if len(paths) > 1:
            attrs["categories"] = paths
        for n in _ATTRIBUTES:
            name = cell(row, f"attribute {n} name")
            value = cell(row, f"attribute {n} value(s)")
            if name and value:
                attrs[name] = value
        return {key: value for key, value in attrs.items() if value}


def read_woocommerce(file: CatalogFile, columns: ColumnMap | None = None) -> Iterator[Product]:
    """Stream the products and variations of a WooCommerce product CSV export."""
    with open_rows(file) as (header, rows):
        reader = _WooReader(file, header)
        for row_no, row in rows:
            product = reader.product(row_no, row)
            if product is not None:
                yield product


WOOCOMMERCE = export_format(
    "woocommerce",
    "WooCommerce product CSV export (ID, SKU, Name, Regular price, Images ...)",
    is_woocommerce_header,
    read_woocommerce,
)
