"""The catalog stage: read the products and replace the store's catalog with them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lookalike.catalog.formats import read_catalog
from lookalike.catalog.formats.problems import ProblemSink
from lookalike.catalog.models import Product
from lookalike.pipeline.options import BuildOptions
from lookalike.pipeline.state import BuildState
from lookalike.recommend.overlay import SyncJournal, fold_products

__all__ = ["CatalogSource", "catalog_stage", "open_catalog"]

CatalogSource = str | Path | Iterable[Product]


def open_catalog(
    catalog: CatalogSource, options: BuildOptions, on_problem: ProblemSink | None = None
) -> tuple[str, Iterable[Product]]:
    """The catalog's name for the report and its products (read lazily, as the store takes
    them, so a feed that cannot be read fails inside the catalog transaction).

    ``on_problem`` receives each per-record problem (``lookalike catalog check`` lists them).
    """
    if isinstance(catalog, str | Path):
        products = read_catalog(
            catalog,
            options.columns,
            fetch=options.fetch_settings(),
            format=options.catalog_format,
            on_problem=on_problem,
        )
        return str(catalog), products
    return "<products>", catalog


def catalog_stage(state: BuildState, products: Iterable[Product]) -> None:
    """Replace the stored catalog with ``products``; the diff and the products go on ``state``."""
    with state.timed("catalog"):
        journal = SyncJournal(state.ws.sync_journal)
        if journal.path.exists():  # changes synced over HTTP since: folded into this build
            products, state.sync_seq = fold_products(products, journal)
        state.diff = state.store.replace_catalog(products)
        state.products = list(state.store.iter_products())
