"""Yandex YML feeds: ``yml_catalog/shop/{categories,offers}`` streamed offer by offer.

Categories come before offers in YML, so their ``parentId`` tree is complete by the first offer
and ``categoryId`` resolves to a path such as ``"Одежда > Платья"``. A parent missing from the
feed ends the path there; a cycle of parents is cut where it repeats.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

from lxml import etree

from lookalike.catalog.formats.base import XML_SUFFIXES, Format
from lookalike.catalog.formats.columns import ColumnMap
from lookalike.catalog.formats.source import CatalogFile
from lookalike.catalog.formats.values import CATEGORY_SEPARATOR, parse_price
from lookalike.catalog.formats.xmlsafe import XmlEvents, local_name, release, text_of
from lookalike.catalog.models import Product
from lookalike.errors import FeedError
from lookalike.textutil import is_url, parse_bool

__all__ = ["CATEGORY_SEPARATOR", "YML", "YmlFeedReader", "category_paths", "read_yml"]

# Offer children with a meaning of their own; every other simple child becomes an attribute.
_HANDLED = {
    "url",
    "price",
    "picture",
    "categoryId",
    "name",
    "param",
    "model",
    "typePrefix",
    "available",
}


def category_paths(categories: dict[str, tuple[str, str]]) -> dict[str, str]:
    """``{id: (name, parent_id)}`` -> ``{id: "Root > ... > Name"}``."""
    paths: dict[str, str] = {}
    for category_id in categories:
        names: list[str] = []
        seen: set[str] = set()
        current: str | None = category_id
        while current and current in categories and current not in seen:
            seen.add(current)
            name, parent = categories[current]
            names.append(name)
            current = parent
        paths[category_id] = CATEGORY_SEPARATOR.join(reversed(names))
    return paths


def _offer_title(offer: etree._Element, fields: dict[str, str]) -> str:
    name = fields.get("name", "")
    if name and offer.get("type") != "vendor.model":
        return name
    # type="vendor.model": the title is typePrefix + vendor + model.
    parts = [fields.get("typePrefix", ""), fields.get("vendor", ""), fields.get("model", "")]
    composed = " ".join(p for p in parts if p)
    return composed or name


class YmlFeedReader:
    """Turn the events of a ``yml_catalog`` document into ``Product``s, one offer at a time."""

    def __init__(self, events: XmlEvents, file: CatalogFile) -> None:
        self.events = events
        self.file = file
        self._categories: dict[str, tuple[str, str]] = {}
        self._paths: dict[str, str] | None = None
        self._shop_url = ""

    def _picture(self, value: str) -> str:
        # Site-relative pictures ("/images/a.jpg") belong to the shop's <url>, when it has one.
        if self._shop_url and not is_url(value):
            return urllib.parse.urljoin(self._shop_url, value)
        return self.file.resolve_image(value)

    def _category(self, category_id: str) -> str:
        if self._paths is None:  # recomputed only after new categories (normally once)
            self._paths = category_paths(self._categories)
        return self._paths.get(category_id, "")

    def _offer(self, offer: etree._Element) -> Product | None:
        offer_id = (offer.get("id") or "").strip()
        where = f"line {offer.sourceline}"
        if not offer_id:
            self.file.problem(where, "offer without id skipped")
            return None
        fields: dict[str, str] = {}
        attrs: dict[str, object] = {}
        images: list[str] = []
        for child in offer:
            tag = local_name(child.tag)
            value = text_of(child)
            if tag == "picture":
                if value:
                    images.append(value)
            elif tag == "param":
                name = (child.get("name") or "").strip()
                unit = (child.get("unit") or "").strip()
                if name and value:
                    attrs[name] = f"{value} {unit}" if unit else value
            elif tag and value and len(child) == 0:
                fields.setdefault(tag, value)
                if tag not in _HANDLED:
                    attrs.setdefault(tag, value)
        currency = fields.get("currencyId")
        if currency:
            attrs["currencyId"] = currency
        return Product(
            id=offer_id,
            title=_offer_title(offer, fields) or offer_id,
            images=self.file.images(images, offer_id, where=where, resolve=self._picture),
            category=self._category(fields.get("categoryId", "")),
            price=parse_price(fields.get("price")),
            # available="false" as an attribute, or <available>false</available> as a child
            in_stock=parse_bool(offer.get("available") or fields.get("available"), default=True),
            url=fields.get("url", ""),
            group_id=(offer.get("group_id") or "").strip(),
            attrs=attrs,
            origin=where,
        )

    def __iter__(self) -> Iterator[Product]:
        for event, element in self.events:
            if event != "end":
                continue
            tag = local_name(element.tag)
            if tag == "category":
                category_id = (element.get("id") or "").strip()
                if category_id:
                    parent = (element.get("parentId") or "").strip()
                    self._categories[category_id] = (text_of(element), parent)
                    self._paths = None
            elif tag == "url" and local_name(element.getparent().tag) == "shop":
                url = text_of(element)
                if is_url(url):
                    self._shop_url = url
            elif tag == "offer":
                product = self._offer(element)
                release(element)
                if product is not None:
                    yield product


def read_yml(file: CatalogFile, columns: ColumnMap | None = None) -> Iterator[Product]:
    """Stream the offers of a Yandex YML feed (``columns`` does not apply to XML feeds)."""
    with file.open_binary() as stream:
        events = XmlEvents(stream, file.name)
        if events.root != "yml_catalog":
            raise FeedError(f"{file.name}: not a YML feed: the root is <{events.root}>")
        yield from YmlFeedReader(events, file)


YML = Format(
    name="yml",
    description="Yandex YML feed (<yml_catalog>)",
    suffixes=XML_SUFFIXES,
    sniff=lambda file: file.xml_root == "yml_catalog",
    read=read_yml,
)
