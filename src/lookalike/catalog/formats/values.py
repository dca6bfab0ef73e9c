"""Cell values every reader shares: prices (with their currency) and image references."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path
from typing import Any

from lookalike.textutil import is_url

__all__ = ["ImageResolver", "parse_price", "resolve_image_source", "split_images", "split_price"]

# Several images in one cell are separated by "|", ";" or newlines (commas occur in URLs).
_IMAGE_SPLIT = re.compile(r"[|;\n]+")
_PRICE = re.compile(r"^\s*([\d.,\s]+)\s*([A-Za-z]{3})?\s*$")


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


def split_images(value: Any) -> list[str]:
    """A cell's image references: a list as is, a string split on ``|``, ``;`` or newlines."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in _IMAGE_SPLIT.split(str(value)) if part.strip()]


def resolve_image_source(source: str, base_dir: Path) -> str:
    """An http(s) URL as is; a path (or ``file://``) made absolute against ``base_dir``."""
    source = source.strip()
    if is_url(source):
        return source
    if source.lower().startswith("file://"):
        source = source[7:]
    path = Path(source).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return str(path.resolve())


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
