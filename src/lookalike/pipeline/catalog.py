"""The catalog stage: read the products and replace the store's catalog with them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lookalike.catalog.models import Product
from lookalike.catalog.readers import read_catalog
from lookalike.pipeline.options import BuildOptions
from lookalike.pipeline.state import BuildState

__all__ = ["CatalogSource", "catalog_stage", "open_catalog"]

CatalogSource = str | Path | Iterable[Product]


def open_catalog(catalog: CatalogSource, options: BuildOptions) -> tuple[str, Iterable[Product]]:
    """The catalog's name for the report and its products (read lazily, as the store takes
    them, so a feed that cannot be read fails inside the catalog transaction)."""
    if isinstance(catalog, str | Path):
        return str(catalog), read_catalog(catalog, options.columns, fetch=options.fetch_settings())
    return "<products>", catalog


def catalog_stage(state: BuildState, products: Iterable[Product]) -> None:
    """Replace the stored catalog with ``products``; the diff and the products go on ``state``."""
    with state.timed("catalog"):
        state.diff = state.store.replace_catalog(products)
        state.products = list(state.store.iter_products())
