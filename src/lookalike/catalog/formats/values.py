"""Cell values every reader shares: prices (with their currency) and image references."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path
from typing import Any

from lookalike.textutil import is_url

__all__ = [
    "CATEGORY_SEPARATOR",
    "ImageResolver",
    "category_path",
    "image_problem",
    "in_stock_from_availability",
    "offer_price",
    "parse_price",
    "resolve_image_source",
    "split_images",
    "split_price",
]

# Several images in one cell are separated by "|", ";" or newlines (commas occur in URLs).
_IMAGE_SPLIT = re.compile(r"[|;\n]+")
_PRICE = re.compile(r"^\s*([\d.,\s]+)\s*([A-Za-z]{3})?\s*$")
# "scheme:" of a URL (two letters at least, so that a Windows drive "C:" is a path).
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
# Availability values of Google Merchant and Meta catalogs that mean "can be bought now".
_AVAILABLE = {"", "in_stock", "instock", "available_for_order"}


def parse_price(value: Any) -> float | None:
    """Parse ``"1 299,00 RUB"``, ``"12.50 USD"``, ``12.5`` to a float; ``None`` when unparsable."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = re.sub(r"[^\d,.\-]", "", str(value))
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    else:
        text = text.replace(",", "")
    try:
        return float(text)
    except ValueError:
        return None


def split_price(text: str) -> tuple[float | None, str]:
    """``"12.50 USD"`` -> ``(12.5, "USD")``; ``"1 299,00 RUB"`` -> ``(1299.0, "RUB")``."""
    match = _PRICE.match(text or "")
    if match is None:
        return parse_price(text), ""
    return parse_price(match.group(1)), (match.group(2) or "").upper()


CATEGORY_SEPARATOR = " > "


def category_path(text: str, separator: str = ">") -> str:
    """``"Home>Kitchen >  Mugs"`` -> ``"Home > Kitchen > Mugs"`` (empty levels dropped)."""
    parts = (part.strip() for part in text.split(separator))
    return CATEGORY_SEPARATOR.join(part for part in parts if part)


def offer_price(price_text: str, sale_text: str = "") -> tuple[float | None, dict[str, Any]]:
    """Merchant/Meta ``price`` and ``sale_price`` ("12.50 USD") -> the price paid and the attrs
    that keep the rest: ``currency`` and, when on sale, ``regular_price``."""
    price, currency = split_price(price_text)
    attrs: dict[str, Any] = {}
    if sale_text:
        sale, sale_currency = split_price(sale_text)
        if sale is not None:
            attrs["regular_price"] = price
            price, currency = sale, sale_currency or currency
    if currency:
        attrs["currency"] = currency
    return price, attrs


def in_stock_from_availability(availability: str) -> bool:
    """Merchant / Meta ``availability``: ``in stock`` (or ``in_stock``, ``available for
    order``, empty) is in stock; ``out of stock``, ``preorder``, ``backorder``,
    ``discontinued`` are not."""
    return availability.strip().lower().replace(" ", "_") in _AVAILABLE


def image_problem(reference: str) -> str | None:
    """Why an (absolute) image reference cannot be an image, or ``None`` when it may be one.

    Refused: a scheme other than http(s) (``ftp://``, ``data:``, ``javascript:``), and an
    http(s) URL without a host or without a path (the bare site root).
    """
    if is_url(reference):
        parts = urllib.parse.urlsplit(reference.strip())
        if not parts.hostname:
            return f"image URL without a host: {reference}"
        if parts.path in ("", "/") and not parts.query:
            return f"image URL is the site root (no path to an image): {reference}"
        return None
    match = _SCHEME.match(reference.strip())
    if match and match.group(1).lower() != "file":
        scheme = match.group(1).lower()
        return f"image URL scheme {scheme} is not supported (only http and https): {reference}"
    return None


def split_images(value: Any) -> list[str]:
    """A cell's image references: a list as is, a string split on ``|``, ``;`` or newlines."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in _IMAGE_SPLIT.split(str(value)) if part.strip()]


def resolve_image_source(source: str, base_dir: Path) -> str:
    """An http(s) URL as is; a path made absolute against ``base_dir``. A ``file:`` URL is
    kept as it is, for the build to refuse (image paths stay inside the catalog's folder)."""
    source = source.strip()
    if is_url(source) or source.lower().startswith("file:"):
        return source
    path = Path(source).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # a symlink loop: the build refuses it, with the reason
        return str(path)


class ImageResolver:
    """Make an image reference absolute: against the feed's URL, or the feed file's folder."""

    def __init__(self, base: str | Path) -> None:
        self.base = base

    def __call__(self, value: str) -> str:
        value = value.strip()
        if is_url(value):
            return value
        if isinstance(self.base, str):
            return urllib.parse.urljoin(self.base, value)
        if value.startswith("//"):  # protocol-relative, common in feeds
            return f"https:{value}"
        return resolve_image_source(value, self.base)
