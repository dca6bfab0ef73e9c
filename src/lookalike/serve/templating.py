"""Jinja2 templates (autoescaped) for the browse page and the widget; no build step."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from lookalike.textutil import is_url

__all__ = ["templates", "STATIC_DIR", "format_price", "http_url"]

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "RUB": "₽", "INR": "₹"}


def format_price(price: float | None, currency: str = "") -> str:
    """``1234.5`` -> ``"1,234.50"`` (``"€1,234.50"`` for EUR, ``"1,234.50 CHF"`` for another
    code); ``""`` for no price."""
    if price is None:
        return ""
    text = f"{price:,.2f}"
    code = currency.strip().upper()
    if code in _SYMBOLS:
        return _SYMBOLS[code] + text
    return f"{text} {currency.strip()}" if currency.strip() else text


def http_url(url: str) -> str:
    """``url`` when it is http(s), else ``""``: a catalog's ``javascript:`` link never renders."""
    return url if is_url(url) else ""


templates = Jinja2Templates(directory=TEMPLATE_DIR)
templates.env.filters["price"] = format_price
templates.env.filters["http_url"] = http_url
