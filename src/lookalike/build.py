"""The build pipeline: catalog → images → embeddings → product vectors → top-K table.

Incremental by construction: image embeddings are cached by the SHA-256 of the image bytes, so a
rebuild embeds only new or changed images, and products removed from the catalog drop out of the
vectors and of every recommendation list. Each output file is replaced atomically and the manifest
is written last, so a crash leaves the previous build usable.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.atomic import write_json_atomic
from lookalike.catalog.models import Product
from lookalike.catalog.readers import ColumnMap, read_catalog
from lookalike.catalog.store import CatalogDiff, ImageRecord
from lookalike.errors import ImageError
from lookalike.index.compress import QUANTIZE_KINDS
from lookalike.index.factory import ANN_THRESHOLD, INDEX_KINDS, index_neighbors
from lookalike.index.report import build_saved_index
from lookalike.index.vectors import VectorSet
from lookalike.recommend.similar import PRODUCT_VECTORS
from lookalike.recommend.topk import Neighbors, compute_neighbors
from lookalike.workspace import Workspace

__all__ = ["BuildOptions", "BuildReport", "build_workspace", "DEFAULT_K"]

log = logging.getLogger(__name__)

DEFAULT_K = 20
# Decode failures are properties of the bytes: the same bytes are not decoded again next build.
_DECODE_REASONS = {"not_an_image", "truncated", "too_large", "corrupt"}


@dataclass(frozen=True, kw_only=True)
class BuildOptions:
    """How to build a workspace. Validated on construction."""

    model: str = "lite0"
    k: int = DEFAULT_K
    batch_size: int = 32
    workers: int = 2
    progress: bool = True
    columns: ColumnMap | None = None
    allow_private: bool = False
    index: str = "auto"  # exact | flat | hnsw | ivfpq | auto (exact below 50k products)
    pca: int | None = None  # reduce stored vectors to this many dimensions
    quantize: str | None = None  # None | float16 | int8

    def __post_init__(self) -> None:
        from lookalike.errors import ConfigError

        if self.index not in INDEX_KINDS:
            raise ConfigError(f"index must be one of {', '.join(INDEX_KINDS)}, got {self.index!r}")
        if self.pca is not None and self.pca < 1:
            raise ConfigError(f"pca must be a positive number of dimensions, got {self.pca}")
        if self.quantize is not None and self.quantize not in QUANTIZE_KINDS:
            raise ConfigError(f"quantize must be float16 or int8, got {self.quantize!r}")

        if not 1 <= self.k <= 1000:
            raise ConfigError(f"k must be between 1 and 1000, got {self.k}")
        if not 1 <= self.batch_size <= 4096:
            raise ConfigError(f"batch size must be between 1 and 4096, got {self.batch_size}")
        if self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")


@dataclass
class BuildReport:
    """What a build did: product changes, image outcomes with reasons, timings."""

    workspace: str
    catalog: str
    model: str
    products: dict[str, int] = field(default_factory=dict)
    images: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    vectors: int = 0
    index: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``ok``, ``partial`` (some images failed) or ``failed`` (no product got a vector)."""
        if self.products.get("total", 0) and not self.vectors:
            return "failed"
        return "partial" if self.failures else "ok"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the status."""
        return {**asdict(self), "status": self.status}


@dataclass
class _Image:
    source: str
    sha256: str | None = None
    path: Path | None = None
    reason: str | None = None
    error: str | None = None


def _read_limited(path: Path) -> bytes:
    from lookalike.embed.decode import MAX_IMAGE_BYTES

    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise ImageError(
            f"{path.name} is {size} bytes (limit {MAX_IMAGE_BYTES})", reason="too_large"
        )
    return path.read_bytes()


def _resolve_local(image: _Image) -> None:
    path = Path(image.source)
    try:
        data = _read_limited(path)
    except ImageError as exc:
        image.reason, image.error = exc.reason, str(exc)
        return
    except OSError as exc:
        image.reason = "missing_file" if isinstance(exc, FileNotFoundError) else "unreadable"
        image.error = f"{path}: {exc.strerror or exc}"
        return
    image.path, image.sha256 = path, hashlib.sha256(data).hexdigest()


def _resolve_urls(images: list[_Image], ws: Workspace, options: BuildOptions) -> None:
    from lookalike.catalog.fetch import FetchSettings, ImageFetcher

    fetcher = ImageFetcher(ws.images_dir, FetchSettings(allow_private=options.allow_private))
    results = fetcher.fetch_many([i.source for i in images], progress=options.progress)
    for image in images:
        result = results[image.source]
        if result.status == "failed" or result.path is None:
            image.reason, image.error = result.reason or "fetch_failed", result.error
        else:
            image.path, image.sha256 = result.path, result.sha256


def _loader(path: Path) -> Callable[[], bytes]:
    return lambda: _read_limited(path)


def _aggregate(
    products: Iterable[Product], images: dict[str, _Image], cache: VectorSet
) -> VectorSet:
    """One vector per product: the normalised mean of its usable image vectors."""
    ids: list[str] = []
    rows: list[np.ndarray] = []
    for product in products:
        shas = [
            images[s].sha256
            for s in product.images
            if s in images and images[s].sha256 in cache and not images[s].reason
        ]
        if not shas:
            continue
        mean = np.mean([cache.get(sha) for sha in dict.fromkeys(shas)], axis=0)
        norm = float(np.linalg.norm(mean))
        if norm > 0:
            ids.append(product.id)
            rows.append(mean / norm)
    dim = cache.dim
    vectors = np.asarray(rows, dtype=np.float32).reshape(len(rows), dim)
    return VectorSet(ids, vectors)


def build_workspace(
    workspace: Workspace | str,
    catalog: str | Path | Iterable[Product],
    options: BuildOptions | None = None,
) -> BuildReport:
    """Build (or refresh) a workspace from a catalog; returns the report (also saved as JSON).

    ``catalog`` is a folder of images, a CSV/TSV/JSONL file, or products already read.
    Per-image failures are recorded and reported, never raised.
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
        read_catalog(catalog, options.columns) if isinstance(catalog, str | Path) else catalog
    )
    # Load the model before touching the store: a bad --model must not change anything.
    embedder = get_embedder(options.model)
    key = model_key(options.model)

    with ws.open_store() as store:
        diff: CatalogDiff = store.replace_catalog(products_iter)
        products = list(store.iter_products())
        timings["catalog"] = time.perf_counter() - started

        # 1. images: every distinct source, resolved to bytes on disk + content hash
        t0 = time.perf_counter()
        images = {s: _Image(s) for p in products for s in p.images}
        urls = [i for i in images.values() if i.source.lower().startswith(("http://", "https://"))]
        url_sources = {i.source for i in urls}
        for image in images.values():
            if image.source not in url_sources:
                _resolve_local(image)
        if urls:
            _resolve_urls(urls, ws, options)
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
                and previous.reason in _DECODE_REASONS
            ):
                image.reason, image.error = previous.reason, previous.error
                continue
            assert image.path is not None
            todo.setdefault(image.sha256, image.path)
        shas = list(todo)
        result = embed_images(
            [_loader(todo[s]) for s in shas],
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
        vectors = _aggregate(products, images, cache)
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
        # Exact table below the ANN threshold; above it, through the index (no N^2 work).
        if len(vectors) < ANN_THRESHOLD or not built.approximate:
            neighbors = compute_neighbors(vectors, options.k, progress=options.progress)
        else:
            rows, scores = index_neighbors(
                built.index, vectors, options.k, progress=options.progress
            )
            neighbors = Neighbors(list(vectors.ids), rows, scores)
        neighbors.save(ws.root)
        timings["topk"] = time.perf_counter() - t0

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
        failures=list(failures.values()),
        vectors=len(vectors),
        index=built.info,
        seconds={k: round(v, 3) for k, v in timings.items()}
        | {"total": round(time.perf_counter() - started, 3)},
    )
    write_json_atomic(ws.report_path, report.to_dict())
    ws.write_manifest(
        {
            "shop": ws.shop,
            "model": options.model,
            "model_key": key,
            "dim": embedder.dim,
            "count": len(vectors),
            "products": len(products),
            "k": options.k,
            "aggregate": "mean",
            "index": built.info["kind"],
            "index_recall_at_10": built.info["recall_at_10"],
            "index_compression": {"pca": options.pca, "quantize": options.quantize},
            "catalog": source_name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    log.info("built %s: %d products, %d vectors", ws.root, len(products), len(vectors))
    return report
