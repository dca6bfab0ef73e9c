"""The build pipeline: catalog → images → embed → vectors → index → top-K table → titles.

Incremental by construction: image embeddings are cached by the SHA-256 of the image bytes, so a
rebuild embeds only new or changed images, and products removed from the catalog drop out of the
vectors and of every recommendation list. Each output file is replaced atomically and the manifest
is written last, so a crash leaves the previous build usable. A feed that cannot be read (malformed,
unsafe, unreachable) fails inside the catalog transaction, before anything is written.

Image URLs are revalidated with the server (ETag / Last-Modified, so an unchanged image costs a
304 and no download) unless ``revalidate=False``, which reuses every cached image without any
request. When a refresh cannot reach an image that worked before (timeout, connection error,
429, 5xx), the cached copy is used rather than dropping the product ("stale" in the report).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from lookalike.atomic import write_json_atomic
from lookalike.embed.base import Embedder
from lookalike.pipeline.catalog import CatalogSource, catalog_stage, open_catalog
from lookalike.pipeline.embed import EmbedderLoader, EmbedStage
from lookalike.pipeline.images import images_stage, prune_image_cache
from lookalike.pipeline.index import index_stage
from lookalike.pipeline.options import BuildOptions, BuildReport
from lookalike.pipeline.precision import embedding_key, load_build_embedder, needs_calibration
from lookalike.pipeline.report import build_manifest, build_report
from lookalike.pipeline.state import BuildState
from lookalike.pipeline.store_publish import store_stage
from lookalike.pipeline.table import table_stage
from lookalike.pipeline.titles import titles_stage
from lookalike.pipeline.vectors import load_head, vectors_stage
from lookalike.workspace import Workspace

__all__ = ["build_workspace", "EmbedderFactory"]

log = logging.getLogger(__name__)

# model name -> embedder; the default is the registry (``lookalike.embed.get_embedder``)
EmbedderFactory = Callable[[str], Embedder]


def _embedder(
    ws: Workspace, options: BuildOptions, factory: EmbedderFactory | None
) -> tuple[EmbedderLoader, str, str, int]:
    """How to get the embedder (called only when an image needs embedding), its
    embedding-cache key, the model name the manifest records and the vector width."""
    if factory is not None:
        embedder = factory(options.model)
        return (lambda files: embedder), f"custom-{embedder.name}", embedder.name, embedder.dim
    from lookalike.embed.registry import get_embedder

    key = embedding_key(options.model, options.precision)  # checks the model name
    cache = ws.embeddings(key)
    # The vector width comes from the cache when there is one, so a rebuild with nothing new
    # loads no model at all; the first build loads it here (it is needed anyway).
    dim = cache.load().dim if cache.exists() else get_embedder(options.model).dim

    def load(files: Sequence[Path]) -> Embedder:
        return load_build_embedder(ws, options.model, options.precision, files)

    return load, key, options.model, dim


def build_workspace(
    workspace: Workspace | str,
    catalog: CatalogSource,
    options: BuildOptions | None = None,
    *,
    embedder_factory: EmbedderFactory | None = None,
) -> BuildReport:
    """Build (or refresh) a workspace from a catalog; returns the report (also saved as JSON).

    ``catalog`` is a folder of images, a CSV/TSV/JSONL file, a feed (YML, Google Merchant
    RSS/Atom; a file or an http(s) URL, gzipped or not) or products already read.
    ``embedder_factory`` maps the model name to an embedder (default: the registry), so a test
    or an embedding service can supply its own. Per-image failures are recorded and reported,
    never raised; a feed that cannot be read raises (``FeedError``) and changes nothing.
    """
    options = options or BuildOptions()
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    ws.create()
    source_name, products = open_catalog(catalog, options)
    # Check the model before touching the store: a bad --model must not change anything.
    fresh = embedder_factory is None and needs_calibration(ws, options.model, options.precision)
    load, key, model, dim = _embedder(ws, options, embedder_factory)
    head = load_head(ws, options, key, dim)

    with ws.open_store() as store:
        state = BuildState(ws, options, store, source_name)
        catalog_stage(state, products)
        images_stage(state)
        EmbedStage(load, key, dim, fresh=fresh)(state)
        vectors_stage(state, head)
        index_stage(state)
        table_stage(state)
        store_stage(state)
        with state.timed("topk"):
            state.downloads["pruned"] = prune_image_cache(ws, state.url_sources)
        titles_stage(state)

    report = build_report(state, model)
    write_json_atomic(ws.report_path, report.to_dict())
    ws.write_manifest(build_manifest(state, model, key, dim, head))
    log.info("built %s: %d products, %d vectors", ws.root, report.products["total"], report.vectors)
    return report
