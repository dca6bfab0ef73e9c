"""The build pipeline: catalog → images → embed → vectors → index → top-K table → titles.

Every build writes a complete new generation (``generations/<id>/``: a products snapshot,
product and title vectors, index, top-K table, head, manifest), fsyncs it and publishes it by
replacing ``CURRENT`` (``publish.py``): a crash or a refused build leaves the previous
generation served, untouched. The publish guard refuses an empty catalog, a build where no
product got a vector, or one that loses more than ``max_shrink`` of the products with vectors.

Incremental by construction: image embeddings are cached by the SHA-256 of the image bytes, so a
rebuild embeds only new or changed images. Image URLs are revalidated (ETag / Last-Modified)
unless ``revalidate=False``; an image that worked before and now fails (HTTP error, timeout) keeps
its cached copy for ``stale_grace_days`` ("stale" in the report).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from lookalike.atomic import write_json_atomic
from lookalike.embed.base import Embedder
from lookalike.embed.head import Head
from lookalike.errors import PublishError, VectorIndexError, WorkspaceError
from lookalike.pipeline.answers import answers_stage
from lookalike.pipeline.catalog import CatalogSource, catalog_stage, local_policy, open_catalog
from lookalike.pipeline.embed import EmbedderLoader, EmbedStage
from lookalike.pipeline.gem import gem_is_auto, pick_gem_stage, recorded_model
from lookalike.pipeline.images import images_stage, prune_image_cache
from lookalike.pipeline.index import index_stage
from lookalike.pipeline.neardup import NearDuplicateStage
from lookalike.pipeline.options import BuildOptions, BuildReport, resolve_model
from lookalike.pipeline.precision import embedding_key, load_build_embedder, needs_calibration
from lookalike.pipeline.publish import build_lock, check_publish, new_generation_id, publish, sweep
from lookalike.pipeline.report import build_manifest, build_report
from lookalike.pipeline.snapshot import snapshot_stage
from lookalike.pipeline.state import BuildState
from lookalike.pipeline.store_publish import store_commit, store_recover, store_stage
from lookalike.pipeline.table import table_stage
from lookalike.pipeline.titles import titles_stage
from lookalike.pipeline.transform import transform_stage
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
        embedder = factory(options.model_name)
        return (lambda files: embedder), f"custom-{embedder.name}", embedder.name, embedder.dim
    from lookalike.embed.registry import get_embedder

    key = embedding_key(options.model_name, options.precision)  # checks the model name
    cache = ws.embeddings(key)
    # The vector width comes from the cache when there is one, so a rebuild with nothing new
    # loads no model at all; the first build loads it here (it is needed anyway).
    try:
        dim = cache.load().dim if cache.exists() else get_embedder(options.model_name).dim
    except VectorIndexError:  # a damaged cache is rebuilt, not trusted
        dim = get_embedder(options.model_name).dim

    def load(files: Sequence[Path]) -> Embedder:
        return load_build_embedder(ws, options.model_name, options.precision, files)

    return load, key, options.model_name, dim


class _Setup(NamedTuple):
    """The embedder side of a build, known once the model name is final."""

    load: EmbedderLoader
    key: str
    model: str
    dim: int
    head: Head | None
    fresh: bool


def _setup(ws: Workspace, options: BuildOptions, factory: EmbedderFactory | None) -> _Setup:
    fresh = factory is None and needs_calibration(ws, options.model_name, options.precision)
    load, key, model, dim = _embedder(ws, options, factory)
    return _Setup(load, key, model, dim, load_head(ws, options, key, dim), fresh)


def build_workspace(
    workspace: Workspace | str,
    catalog: CatalogSource,
    options: BuildOptions | None = None,
    *,
    embedder_factory: EmbedderFactory | None = None,
) -> BuildReport:
    """Build (or refresh) a workspace from a catalog and publish it; returns the report (also
    saved as JSON).

    ``catalog`` is a folder of images, a CSV/TSV/JSONL file, a feed (YML, Google Merchant
    RSS/Atom; a file or an http(s) URL, gzipped or not) or products already read.
    ``embedder_factory`` maps the model name to an embedder (default: the registry), so a test
    or an embedding service can supply its own. Per-image failures are recorded and reported,
    never raised; a feed that cannot be read raises (``FeedError``), a build the guard refuses
    raises ``PublishError``; both leave the published generation as it was.
    """
    options = options or BuildOptions()
    ws = Workspace(workspace.root if isinstance(workspace, Workspace) else workspace).create()
    options = _resolve_tuned(ws, options)
    source_name, products = open_catalog(catalog, options)
    # no --model: the workspace's own model (kept when the default changes), else the default
    options = replace(options, model=resolve_model(options.model, _published_manifest(ws)))
    # Check the model before touching anything: a bad --model must not change anything.
    requested = options.model_name
    if embedder_factory is None:
        embedding_key(requested, options.precision)
    pick = embedder_factory is None and gem_is_auto(requested)
    earlier = _published_manifest(ws) if pick else None
    recorded = recorded_model(requested, earlier)
    if recorded is not None:  # p chosen by an earlier build of this workspace: keep it
        options, pick = replace(options, model=recorded), False
    setup = None if pick else _setup(ws, options, embedder_factory)
    with build_lock(ws):
        sweep(ws)
        store_recover(ws, options)
        previous = _published_manifest(ws)
        generation = new_generation_id()
        staging = Workspace(ws.root, generation=ws.staging_dir(generation))
        staging.served_dir.mkdir(parents=True)
        with ws.open_build_store() as store:
            state = BuildState(staging, options, store, source_name)
            state.local_roots, state.remote_catalog = local_policy(catalog, options)
            catalog_stage(state, products)
            images_stage(state)
            if setup is None:  # gem without p: choose it on this catalog's images
                options = replace(options, model=pick_gem_stage(state, requested))
                state.options = options
                setup = _setup(ws, options, embedder_factory)
            elif recorded is not None and earlier is not None:
                state.gem_choice = earlier.get("gem_choice")
            load, key, model, dim, head, fresh = setup
            embed = EmbedStage(load, key, dim, fresh=fresh)
            embed(state)
            vectors_stage(state, head)
            _guard(state, previous, model)
            NearDuplicateStage(embed)(state, head)  # in the model's space, before transforms
            transform_stage(state)
            index_stage(state)
            table_stage(state)
            store_stage(state)
            titles_stage(state)
            snapshot_stage(state, head)
            answers_stage(state)
        report = build_report(state, model)
        report.generation = generation
        manifest = build_manifest(state, model, key, dim, head) | {
            "model_requested": requested,
            "gem_choice": state.gem_choice,
        }
        staging.write_manifest(manifest | {"generation": generation, "previous": ws.current_id()})
        publish(ws, generation)
        store_commit(ws, state)
        sweep(ws)  # the new generation and the one it replaced stay
        embed.prune(state)
        report.downloads["pruned"] = prune_image_cache(ws, set(state.images))
        write_json_atomic(ws.report_path, report.to_dict())
    log.info("built %s: %d products, %d vectors", ws.root, report.products["total"], report.vectors)
    return report


def _resolve_tuned(ws: Workspace, options: BuildOptions) -> BuildOptions:
    """``--model tuned``: the shop's adopted fine-tuned model file (``train --method partial``)."""
    if options.model != "tuned":  # train.partial.TUNED, not imported by every build
        return options
    from lookalike.train.partial import tuned_model

    return replace(options, model=str(tuned_model(ws)))


def _published_manifest(ws: Workspace) -> dict[str, Any] | None:
    """The served generation's manifest, or None (never built, or unreadable: then there is
    nothing to protect and the guard compares with nothing)."""
    try:
        return Workspace(ws.root).manifest()
    except WorkspaceError:
        return None


def _guard(state: BuildState, previous: dict[str, Any] | None, model: str) -> None:
    """The publish guard; a refusal still writes its report (with the reason) to report.json."""
    assert state.vectors is not None
    try:
        check_publish(len(state.products), len(state.vectors), previous, state.options)
    except PublishError as exc:
        report = build_report(state, model)
        report.refused = str(exc)
        write_json_atomic(state.ws.report_path, report.to_dict())
        raise
