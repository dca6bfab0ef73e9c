"""Meta (Facebook / Instagram) catalog data feeds as CSV or TSV, and the Merchant text feed.

Meta's fields: ``id``, ``title``, ``description``, ``availability`` (in stock, out of stock,
available for order, discontinued, preorder), ``price`` with its currency ("9.99 USD"),
``sale_price``, ``link``, ``image_link``, ``additional_image_link`` (several URLs separated by
commas), ``item_group_id``, ``product_type`` / ``google_product_category``, and attribute
fields (``brand``, ``color``, ``size``, ``condition`` ...), which become product attributes.
Google Merchant's tab-separated feed uses the same field names; ``g:`` prefixes are ignored.
"""

from __future__ import annotations

from collections.abc import Iterator

from lookalike.catalog.formats.cells import Columns
from lookalike.catalog.formats.columns import ColumnMap
from lookalike.catalog.formats.delimited import export_format, open_rows
from lookalike.catalog.formats.source import CatalogFile
from lookalike.catalog.formats.values import (
    category_path,
    in_stock_from_availability,
    offer_price,
    split_images,
)
from lookalike.catalog.models import Product

__all__ = ["META", "is_meta_header", "read_meta"]

_CATEGORY = ("product_type", "google_product_category", "fb_product_category")
_HANDLED = (
    "id",
    "title",
    "link",
    "image_link",
    "additional_image_link",
    "availability",
    "price",
    "sale_price",
    "item_group_id",
    *_CATEGORY,
)


def is_meta_header(header: tuple[str, ...] | list[str]) -> bool:
    """``id``, ``title`` and ``image_link``, with ``availability``, ``price`` or ``link``."""
    columns = Columns(header, prefix="g:")
    return (
        columns.has("id")
        and columns.has("title")
        and columns.has("image_link")
        and (columns.has("availability", "price", "link"))
    )


def _product(columns: Columns, file: CatalogFile, row_no: int, row: dict[str, str]) -> Product:
    cell = columns.cell
    where = f"row {row_no}"
    product_id = cell(row, "id")
    if not product_id:
        raise ValueError("no id")
    # additional_image_link: comma-separated (Meta), or the generic | ; separators
    extra = [
        part
        for cell_part in cell(row, "additional_image_link").split(",")
        for part in split_images(cell_part)
    ]
    images = [cell(row, "image_link"), *extra]
    price, attrs = offer_price(cell(row, "price"), cell(row, "sale_price"))
    used = columns.used(*_HANDLED)
    for column, value in row.items():
        if column and column not in used and value and value.strip():
            name = column.strip()
            attrs.setdefault(name[2:] if name.lower().startswith("g:") else name, value.strip())
    return Product(
        id=product_id,
        title=cell(row, "title") or product_id,
        images=file.images(images, product_id, where=where),
        category=category_path(cell(row, *_CATEGORY)),
        price=price,
        in_stock=in_stock_from_availability(cell(row, "availability")),
        url=cell(row, "link"),
        group_id=cell(row, "item_group_id"),
        attrs=attrs,
        origin=where,
    )


def read_meta(file: CatalogFile, columns: ColumnMap | None = None) -> Iterator[Product]:
    """Stream the products of a Meta catalog CSV/TSV (or a Merchant text feed)."""
    with open_rows(file) as (header, rows):
        table = Columns(header, prefix="g:")
        for row_no, row in rows:
            try:
                yield _product(table, file, row_no, row)
            except ValueError as exc:
                file.problem(f"row {row_no}", f"skipped: {exc}")


META = export_format(
    "meta",
    "Meta (Facebook) catalog feed or Merchant text feed, CSV/TSV (id, title, "
    "image_link, availability, price ...)",
    is_meta_header,
    read_meta,
)
