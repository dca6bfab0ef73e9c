"""Google Merchant feeds: RSS 2.0 (``rss/channel/item``) and Atom (``feed/entry``), ``g:`` fields.

Both carry the same ``g:`` (``http://base.google.com/ns/1.0``) elements; plain ``title`` /
``link`` / ``description`` stand in when the ``g:`` ones are missing (Atom's ``link`` is an
``href`` attribute). Every simple ``g:`` element without a field of its own (``g:brand``,
``g:color``, ``g:size``, ``g:gtin``, ...) becomes a product attribute.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from lxml import etree

from lookalike.catalog.formats.base import XML_SUFFIXES, Format
from lookalike.catalog.formats.columns import ColumnMap
from lookalike.catalog.formats.source import CatalogFile
from lookalike.catalog.formats.values import split_price
from lookalike.catalog.formats.xmlsafe import XmlEvents, local_name, release, text_of
from lookalike.catalog.models import Product
from lookalike.errors import FeedError

__all__ = ["GOOGLE_NS", "MERCHANT", "MerchantFeedReader", "read_merchant"]

log = logging.getLogger(__name__)

GOOGLE_NS = "http://base.google.com/ns/1.0"
ATOM_NS = "http://www.w3.org/2005/Atom"

# g: fields with a Product field of their own (the rest go to attrs).
_HANDLED = {
    "id",
    "title",
    "link",
    "image_link",
    "additional_image_link",
    "product_type",
    "price",
    "sale_price",
    "availability",
    "item_group_id",
}


def _in_stock(availability: str) -> bool:
    # Google's values: in_stock, out_of_stock, preorder, backorder (older: "in stock", ...).
    value = availability.strip().lower().replace(" ", "_")
    return value in ("", "in_stock", "instock")


class MerchantFeedReader:
    """Turn the events of a Merchant RSS or Atom document into ``Product``s, item by item."""

    def __init__(self, events: XmlEvents, resolve_image: Callable[[str], str]) -> None:
        self.events = events
        self.resolve_image = resolve_image
        self.record_tag = "entry" if events.root == "feed" else "item"

    def _item(self, item: etree._Element) -> Product | None:
        google: dict[str, list[str]] = {}
        plain: dict[str, str] = {}
        for child in item:
            tag = local_name(child.tag)
            if not tag:
                continue
            namespace = etree.QName(child).namespace
            if namespace == GOOGLE_NS:
                value = text_of(child)
                if value and len(child) == 0:  # g:shipping and such have sub-elements
                    google.setdefault(tag, []).append(value)
            elif tag == "link" and child.get("href"):
                if child.get("rel", "alternate") == "alternate":
                    plain.setdefault("link", child.get("href", "").strip())
            elif namespace in (None, ATOM_NS) and text_of(child):
                plain.setdefault(tag, text_of(child))

        def first(name: str) -> str:
            values = google.get(name)
            return values[0] if values else plain.get(name, "")

        product_id = first("id")
        if not product_id:
            line = item.sourceline
            log.warning("%s line %s: item without g:id skipped", self.events.name, line)
            return None
        images = google.get("image_link", [])[:1] + google.get("additional_image_link", [])
        attrs: dict[str, object] = {
            key: values[0] if len(values) == 1 else values
            for key, values in google.items()
            if key not in _HANDLED
        }
        price, currency = split_price(first("price"))
        sale_text = first("sale_price")
        if sale_text:
            sale, sale_currency = split_price(sale_text)
            if sale is not None:
                attrs["regular_price"] = price
                price, currency = sale, sale_currency or currency
        if currency:
            attrs["currency"] = currency
        description = plain.get("description") or plain.get("summary")  # RSS / Atom
        if description and "description" not in attrs:
            attrs["description"] = description
        category = first("product_type") or first("google_product_category")
        category = " > ".join(part.strip() for part in category.split(">") if part.strip())
        return Product(
            id=product_id,
            title=first("title") or product_id,
            images=list(dict.fromkeys(self.resolve_image(s) for s in images)),
            category=category,
            price=price,
            in_stock=_in_stock(first("availability")),
            url=first("link"),
            group_id=first("item_group_id"),
            attrs=attrs,
        )

    def __iter__(self) -> Iterator[Product]:
        for event, element in self.events:
            if event == "end" and local_name(element.tag) == self.record_tag:
                product = self._item(element)
                release(element)
                if product is not None:
                    yield product


def read_merchant(file: CatalogFile, columns: ColumnMap | None = None) -> Iterator[Product]:
    """Stream the items of a Google Merchant RSS 2.0 or Atom feed (``columns`` unused)."""
    with file.open_binary() as stream:
        events = XmlEvents(stream, file.name)
        if events.root not in ("rss", "feed"):
            raise FeedError(f"{file.name}: not a Google Merchant feed: the root is <{events.root}>")
        yield from MerchantFeedReader(events, file.resolve_image)


MERCHANT = Format(
    name="merchant",
    description="Google Merchant feed (RSS 2.0 <rss> or Atom <feed>)",
    suffixes=XML_SUFFIXES,
    sniff=lambda file: file.xml_root in ("rss", "feed"),
    read=read_merchant,
)
