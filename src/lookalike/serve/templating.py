"""Jinja2 templates (autoescaped) for the browse page and the widget; no build step."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from lookalike.textutil import is_url

__all__ = ["templates", "STATIC_DIR", "format_price", "http_url"]

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def format_price(price: float | None) -> str:
    """``1234.5`` -> ``"1,234.50"``; ``""`` for no price."""
    return "" if price is None else f"{price:,.2f}"


def http_url(url: str) -> str:
    """``url`` when it is http(s), else ``""``: a catalog's ``javascript:`` link never renders."""
    return url if is_url(url) else ""


templates = Jinja2Templates(directory=TEMPLATE_DIR)
templates.env.filters["price"] = format_price
templates.env.filters["http_url"] = http_url
