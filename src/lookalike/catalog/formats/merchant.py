"""Google Merchant feeds: RSS 2.0 (``rss/channel/item``) and Atom (``feed/entry``), ``g:`` fields.

Both carry the same ``g:`` (``http://base.google.com/ns/1.0``) elements; the same fields
written without the prefix count too (many generators drop it), and plain ``title`` / ``link``
/ ``description`` stand in when the ``g:`` ones are missing (Atom's ``link`` is an ``href``
attribute). Every simple ``g:`` element without a field of its own (``g:brand``,
``g:color``, ``g:size``, ``g:gtin``, ...) becomes a product attribute.
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from lookalike.catalog.formats.base import XML_SUFFIXES, Format
from lookalike.catalog.formats.columns import ColumnMap
from lookalike.catalog.formats.source import CatalogFile
from lookalike.catalog.formats.values import category_path, in_stock_from_availability, offer_price
from lookalike.catalog.formats.xmlsafe import XmlEvents, local_name, release, text_of
from lookalike.catalog.models import Product
from lookalike.errors import FeedError

__all__ = ["GOOGLE_NS", "MERCHANT", "MerchantFeedReader", "read_merchant"]

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


# RSS 2.0 / Atom elements of an item: never product attributes.
_FEED_ELEMENTS = {
    "description",
    "summary",
    "content",
    "guid",
    "pubDate",
    "updated",
    "published",
    "author",
    "category",
    "comments",
    "enclosure",
    "source",
    "rights",
    "contributor",
}


def _fields(item: etree._Element) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """An item's simple fields: ``g:`` ones, and those written without the prefix (any other
    namespace, or none); Atom's ``<link href>`` as ``link``."""
    google: dict[str, list[str]] = {}
    plain: dict[str, list[str]] = {}
    for child in item:
        tag = local_name(child.tag)
        if not tag:
            continue
        if tag == "link" and child.get("href"):
            if child.get("rel", "alternate") == "alternate":
                plain.setdefault("link", []).append(child.get("href", "").strip())
            continue
        value = text_of(child)
        if not value or len(child):  # g:shipping and such have sub-elements
            continue
        target = google if etree.QName(child).namespace == GOOGLE_NS else plain
        target.setdefault(tag, []).append(value)
    return google, plain


class MerchantFeedReader:
    """Turn the events of a Merchant RSS or Atom document into ``Product``s, item by item.

    Fields count with or without the ``g:`` prefix (a ``g:`` one wins when both are there).
    """

    def __init__(self, events: XmlEvents, file: CatalogFile) -> None:
        self.events = events
        self.file = file
        self.record_tag = "entry" if events.root == "feed" else "item"

    def _item(self, item: etree._Element) -> Product | None:
        google, plain = _fields(item)

        def values(name: str) -> list[str]:
            return google.get(name) or plain.get(name) or []

        def first(name: str) -> str:
            found = values(name)
            return found[0] if found else ""

        product_id = first("id")
        where = f"line {item.sourceline}"
        if not product_id:
            self.file.problem(where, "item without g:id skipped")
            return None
        images = values("image_link")[:1] + values("additional_image_link")
        extra = {k: v for k, v in plain.items() if k not in _FEED_ELEMENTS}
        attrs: dict[str, object] = {
            key: found[0] if len(found) == 1 else found
            for key, found in (extra | google).items()
            if key not in _HANDLED
        }
        price, price_attrs = offer_price(first("price"), first("sale_price"))
        attrs.update(price_attrs)
        description = first("description") or first("summary")  # RSS / Atom
        if description and "description" not in attrs:
            attrs["description"] = description
        category = first("product_type") or first("google_product_category")
        return Product(
            id=product_id,
            title=first("title") or product_id,
            images=self.file.images(images, product_id, where=where),
            category=category_path(category),
            price=price,
            in_stock=in_stock_from_availability(first("availability")),
            url=first("link"),
            group_id=first("item_group_id"),
            attrs=attrs,
            origin=where,
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
        yield from MerchantFeedReader(events, file)


MERCHANT = Format(
    name="merchant",
    description="Google Merchant feed (RSS 2.0 <rss> or Atom <feed>)",
    suffixes=XML_SUFFIXES,
    sniff=lambda file: file.xml_root in ("rss", "feed"),
    read=read_merchant,
)
