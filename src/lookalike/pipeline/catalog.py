"""The catalog stage: read the products and replace the store's catalog with them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lookalike.catalog.formats import read_catalog
from lookalike.catalog.formats.problems import ProblemSink
from lookalike.catalog.models import Product
from lookalike.crashpoints import crash_point
from lookalike.pipeline.options import BuildOptions
from lookalike.pipeline.state import BuildState
from lookalike.recommend.overlay import SyncJournal, fold_products
from lookalike.textutil import real_path

__all__ = ["CatalogSource", "catalog_stage", "local_policy", "open_catalog"]

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
    crash_point("catalog.done")


def local_policy(catalog: CatalogSource, options: BuildOptions) -> tuple[list[Path] | None, bool]:
    """Where local image paths may point, and whether the catalog came from a URL.

    A catalog file or folder: inside its folder (plus ``allow_local_paths``). A catalog fetched
    by URL: no local path at all. Products handed over in code: anywhere (the caller's own
    data), unless ``allow_local_paths`` narrows it."""
    extra = [real_path(options.allow_local_paths)] if options.allow_local_paths else []
    if not isinstance(catalog, str | Path):
        return (extra or None), False
    text = str(catalog)
    if text.lower().startswith(("http://", "https://")):
        return [], True
    path = real_path(text)
    return [path if path.is_dir() else path.parent, *extra], False
