"""Which products have a real title: the title stage embeds only those.

The one source is ``Product.title_invented`` (set by the reader that made a title up, or by
the rule in :mod:`lookalike.catalog.titles`, and kept in the product store): an invented title
is shown to shoppers but never used as text signal (title vectors, hybrid scoring, mining).
"""

from __future__ import annotations

from collections.abc import Iterable

from lookalike.catalog.models import Product

__all__ = ["has_real_title", "titled_products"]


def has_real_title(product: Product) -> bool:
    """False when the product's title is empty or invented (``Product.title_invented``)."""
    return bool(product.title.strip()) and not product.title_invented


def titled_products(products: Iterable[Product]) -> list[Product]:
    """The products whose title is worth embedding (see :func:`has_real_title`)."""
    return [p for p in products if has_real_title(p)]
