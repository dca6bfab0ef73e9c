"""The build pipeline: catalog → images → embeddings → product vectors → top-K table.

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
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lookalike.atomic import write_json_atomic
from lookalike.catalog.models import Product
from lookalike.catalog.readers import read_catalog
from lookalike.catalog.store import CatalogDiff, ImageRecord
from lookalike.index.report import build_saved_index
from lookalike.index.vectors import VectorSet
from lookalike.pipeline.images import (
    ImageState,
    file_loader,
    prune_image_cache,
    resolve_local,
    resolve_urls,
    usable_images,
)
from lookalike.pipeline.options import DECODE_REASONS, BuildOptions, BuildReport
from lookalike.pipeline.vectors import aggregate_mean, load_head, neighbor_table
from lookalike.recommend.similar import PRODUCT_VECTORS
from lookalike.workspace import Workspace

__all__ = ["build_workspace"]

log = logging.getLogger(__name__)


def build_workspace(
    workspace: Workspace | str,
    catalog: str | Path | Iterable[Product],
    options: BuildOptions | None = None,
) -> BuildReport:
    """Build (or refresh) a workspace from a catalog; returns the report (also saved as JSON).

    ``catalog`` is a folder of images, a CSV/TSV/JSONL file, a feed (YML, Google Merchant
    RSS/Atom; a file or an http(s) URL, gzipped or not) or products already read.
    Per-image failures are recorded and reported, never raised; a feed that cannot be read
    raises (``FeedError``) and leaves the workspace as it was.
    """
    from lookalike.embed.pipeline import embed_images
    from lookalike.embed.registry import get_embedder, model_key

    options = options or BuildOptions()
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    ws.create()
    timings: dict[str, float] = {}
    started = time.perf_counter()

    source_name = str(catalog) if isinstance(catalog, str | Path) else "<products>"
    products_iter = (
        read_catalog(catalog, options.columns, fetch=options.fetch_settings())
        if isinstance(catalog, str | Path)
        else catalog
    )
    # Load the model before touching the store: a bad --model must not change anything.
    embedder = get_embedder(options.model)
    key = model_key(options.model)
    head = load_head(ws, options, key, embedder.dim)

    with ws.open_store() as store:
        diff: CatalogDiff = store.replace_catalog(products_iter)
        products = list(store.iter_products())
        timings["catalog"] = time.perf_counter() - started

        # 1. images: every distinct source, resolved to bytes on disk + content hash
        t0 = time.perf_counter()
        images = {s: ImageState(s) for p in products for s in p.images}
        urls = [i for i in images.values() if i.source.lower().startswith(("http://", "https://"))]
        url_sources = {i.source for i in urls}
        for image in images.values():
            if image.source not in url_sources:
                resolve_local(image)
        downloads = {"local": len(images) - len(urls)}
        if urls:
            downloads |= resolve_urls(urls, ws, options)
        timings["images"] = time.perf_counter() - t0

        # 2. embeddings, cached by content hash
        t0 = time.perf_counter()
        cache = (
            VectorSet.load(ws.embeddings_dir, key, mmap=False)
            if VectorSet.exists(ws.embeddings_dir, key)
            else VectorSet.empty(embedder.dim)
        )
        known = store.image_records(images)
        todo: dict[str, Path] = {}
        for image in images.values():
            if image.reason or image.sha256 is None or image.sha256 in cache:
                continue
            previous = known.get(image.source)
            if (
                previous is not None
                and previous.status == "failed"
                and previous.sha256 == image.sha256
                and previous.reason in DECODE_REASONS
            ):
                image.reason, image.error = previous.reason, previous.error
                continue
            assert image.path is not None
            todo.setdefault(image.sha256, image.path)
        shas = list(todo)
        result = embed_images(
            [file_loader(todo[s]) for s in shas],
            embedder,
            batch_size=options.batch_size,
            workers=options.workers,
            progress=options.progress,
        )
        new = VectorSet([shas[i] for i in result.ok], result.vectors)
        decode_errors = {shas[i]: message for i, message in result.errors.items()}
        for image in images.values():
            if image.sha256 in decode_errors and not image.reason:
                reason, _, message = decode_errors[image.sha256].partition(": ")
                image.reason, image.error = reason or "corrupt", message or reason
        used = [i.sha256 for i in images.values() if i.sha256 and not i.reason]
        cache = cache.merged(new, keep=used)
        cache.save(ws.embeddings_dir, key)
        timings["embed"] = time.perf_counter() - t0

        store.record_images(
            ImageRecord(i.source, "failed" if i.reason else "ok", i.sha256, i.reason, i.error)
            for i in images.values()
        )
        store.prune_images()

        # 3. product vectors and the top-K table
        t0 = time.perf_counter()
        if head is not None:  # products get the head's space; the cache stays backbone-only
            cache = VectorSet(cache.ids, head.apply(cache.vectors))
        owned = usable_images(products, images, cache)
        vectors = aggregate_mean(owned, cache)  # also kept for max: query by image uses it
        groups = {p.id: p.group_id for p in products} if options.exclude_group else None
        vectors.save(ws.root, PRODUCT_VECTORS)
        built = build_saved_index(
            vectors,
            ws.index_dir,
            kind=options.index,
            pca=options.pca,
            quantize=options.quantize,
            progress=options.progress,
        )
        timings["index"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        neighbors = neighbor_table(vectors, owned, cache, options, groups, built)
        neighbors.save(ws.root)
        downloads["pruned"] = prune_image_cache(ws, {i.source for i in urls})
        timings["topk"] = time.perf_counter() - t0

        # 4. title embeddings for hybrid scoring and query-by-title (model loaded only if needed)
        title_report = None
        if options.titles:
            from lookalike.pipeline.titles import update_title_vectors

            t0 = time.perf_counter()
            title_report = update_title_vectors(
                ws.root, ws.embeddings_dir, products, progress=options.progress
            )
            timings["titles"] = time.perf_counter() - t0

    failures: dict[str, dict[str, Any]] = {}
    for product in products:
        for source in product.images:
            image = images[source]
            if image.reason:
                entry = failures.setdefault(
                    source,
                    {
                        "source": source,
                        "reason": image.reason,
                        "http_status": image.http_status,
                        "error": image.error,
                        "products": [],
                    },
                )
                entry["products"].append(product.id)
    no_image = [p.id for p in products if not p.images]
    report = BuildReport(
        workspace=str(ws.root),
        catalog=source_name,
        model=options.model,
        products={
            "total": len(products),
            **diff.as_dict(),
            "with_vector": len(vectors),
            "without_image": len(no_image),
        },
        images={
            "total": len(images),
            "ok": len(used),
            "failed": sum(1 for i in images.values() if i.reason),
            "embedded": len(result.ok),
            "cached": len(used) - len(result.ok),
        },
        downloads=downloads,
        failures=list(failures.values()),
        vectors=len(vectors),
        index=built.info,
        titles=asdict(title_report) if title_report else {},
        seconds={k: round(v, 3) for k, v in timings.items()}
        | {"total": round(time.perf_counter() - started, 3)},
    )
    write_json_atomic(ws.report_path, report.to_dict())
    ws.write_manifest(
        {
            "shop": ws.shop,
            "model": options.model,
            "model_key": key,
            "dim": head.dim if head is not None else embedder.dim,
            "head": head.record() if head is not None else None,
            "count": len(vectors),
            "products": len(products),
            "k": options.k,
            "aggregate": options.aggregate,
            "index": built.info["kind"],
            "index_recall_at_10": built.info["recall_at_10"],
            "index_compression": {"pca": options.pca, "quantize": options.quantize},
            "recommend": {
                "weights": options.weights.as_dict(),
                "exclude_group": options.exclude_group,
                "near_duplicate": options.near_duplicate,
                "titles": options.titles,
            },
            "catalog": source_name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    log.info("built %s: %d products, %d vectors", ws.root, len(products), len(vectors))
    return report
