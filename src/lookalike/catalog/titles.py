"""Which titles a reader made up: the rule behind ``Product.title_invented``.

Readers fill ``Product.title`` for display even when a catalog has none: the folder reader
invents ``"<Category> <file stem>"``, the CSV/JSONL readers fall back to the product id. Those
strings carry no meaning a text model could use, and a category inside an invented title would
leak the label into "label-free" signals. A reader that invents a title says so
(``title_invented=True``); this rule catches the rest (and old stores, which have no flag).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePath

__all__ = ["looks_invented"]

# A bare file name ("IMG_0042.jpg"), or a token of digits/hex/uuid/sku punctuation only.
_FILE_NAME = re.compile(r"^[\w.-]+\.(jpe?g|png|webp|gif|bmp|tiff?|avif)$", re.IGNORECASE)
# The digit is required: "Bed" or "Cafe" are hex letters but real titles.
_ID_LIKE = re.compile(r"^(?=.*\d)[0-9a-f_\-.:/]+$", re.IGNORECASE)


def _norm(text: str) -> str:
    return " ".join(text.replace("-", " ").replace("_", " ").casefold().split())


def looks_invented(product_id: str, title: str, images: Iterable[str], category: str) -> bool:
    """True when ``title`` is empty, the id, a file name, an id-like token, or only the
    category plus the id / an image's file stem (what the folder reader makes up)."""
    title = title.strip()
    if not title or _FILE_NAME.match(title) or _ID_LIKE.match(title):
        return True
    # Local file stems only: a shop's image URL is often named after the title (SEO).
    local = [s for s in images if not s.lower().startswith(("http://", "https://"))]
    made_up = {product_id, *(PurePath(s).stem for s in local)}
    rest = _norm(title)
    for token in sorted({_norm(t) for t in made_up} - {""}, key=len, reverse=True):
        # whole words only: an id "1" must not eat the digits of "Size 10 dress"
        rest = re.sub(rf"(?:^|(?<=\s)){re.escape(token)}(?=\s|$)", " ", rest)
    rest = " ".join(rest.split())
    return not rest or rest == _norm(category)
