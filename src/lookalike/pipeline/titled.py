"""Which products have a real title: the title stage embeds only those.

Readers fill ``Product.title`` for display even when a catalog has none: the folder reader
invents ``"<Category> <file stem>"``, the CSV/JSONL readers fall back to the product id. Those
strings carry no meaning a text model could use (embedding 10k of them cost 74 s per build
and loaded MiniLM for nothing), so they are recognised here and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePath

from lookalike.catalog.models import Product

__all__ = ["has_real_title", "titled_products"]

# A bare file name ("IMG_0042.jpg"), or a token of digits/hex/uuid/sku punctuation only.
_FILE_NAME = re.compile(r"^[\w.-]+\.(jpe?g|png|webp|gif|bmp|tiff?|avif)$", re.IGNORECASE)
# The digit is required: "Bed" or "Cafe" are hex letters but real titles.
_ID_LIKE = re.compile(r"^(?=.*\d)[0-9a-f_\-.:/]+$", re.IGNORECASE)


def _norm(text: str) -> str:
    return " ".join(text.replace("-", " ").replace("_", " ").casefold().split())


def has_real_title(product: Product) -> bool:
    """False when the title is empty, the id, a file name, an id-like token, or only the
    category plus the id / an image's file stem (what the folder reader makes up)."""
    title = product.title.strip()
    if not title or _FILE_NAME.match(title) or _ID_LIKE.match(title):
        return False
    # Local file stems only: a shop's image URL is often named after the title (SEO).
    local = [s for s in product.images if not s.lower().startswith(("http://", "https://"))]
    made_up = {product.id, *(PurePath(s).stem for s in local)}
    words: list[str | None] = list(_norm(title).split())
    for token in sorted({_norm(t) for t in made_up} - {""}, key=len, reverse=True):
        # whole words only: an id "1" must not eat the digits of "Size 10 dress"
        words = _without(words, token.split())
    rest = " ".join(w for w in words if w is not None)
    return bool(rest) and rest != _norm(product.category)


def _without(words: list[str | None], token: list[str]) -> list[str | None]:
    """``words`` with each run equal to ``token`` replaced by one gap (None), left to right;
    a later token never matches across a gap. (A regex per product did the same, but compiling
    one per product cost ~0.3 ms: 3 s of a 10,000-photo build.)"""
    out: list[str | None] = []
    i, n = 0, len(token)
    while i < len(words):
        if words[i : i + n] == token:
            out.append(None)
            i += n
        else:
            out.append(words[i])
            i += 1
    return out


def titled_products(products: Iterable[Product]) -> list[Product]:
    """The products whose title is worth embedding (see :func:`has_real_title`)."""
    return [p for p in products if has_real_title(p)]
