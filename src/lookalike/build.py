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

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.atomic import write_json_atomic
from lookalike.catalog.models import Product
from lookalike.catalog.readers import ColumnMap, read_catalog
from lookalike.catalog.store import CatalogDiff, ImageRecord
from lookalike.embed.head import HEAD_DIR, Head
from lookalike.errors import ImageError
from lookalike.index.compress import QUANTIZE_KINDS
from lookalike.index.factory import ANN_THRESHOLD, INDEX_KINDS, index_neighbors
from lookalike.index.report import IndexBuild, build_saved_index
from lookalike.index.vectors import VectorSet
from lookalike.recommend.aggregate import AGGREGATES, ProductImages, compute_neighbors_max
from lookalike.recommend.filters import DEFAULT_NEAR_DUPLICATE, Weights
from lookalike.recommend.similar import PRODUCT_VECTORS
from lookalike.recommend.topk import Neighbors, compute_neighbors, exclude_from_table
from lookalike.workspace import Workspace

if TYPE_CHECKING:
    from lookalike.catalog.http import FetchSettings

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
    # "auto": apply <workspace>/head/ (from `lookalike train`) when present; "none": ignore it.
    head: str = "auto"
    fetch: FetchSettings | None = None  # timeouts, retries, limits; None = the defaults
    revalidate: bool = True  # ask servers whether cached images changed (304 = no download)
    aggregate: str = "mean"  # product similarity over images: "mean" vector or "max" pair
    # hybrid scoring and default exclusions (the top-K table is built with them)
    titles: bool = True  # embed titles with MiniLM (cached by title hash)
    weights: Weights = field(default_factory=Weights)
    exclude_group: bool = True
    near_duplicate: float | None = DEFAULT_NEAR_DUPLICATE

    def __post_init__(self) -> None:
        from lookalike.errors import ConfigError

        if self.index not in INDEX_KINDS:
            raise ConfigError(f"index must be one of {', '.join(INDEX_KINDS)}, got {self.index!r}")
        if self.pca is not None and self.pca < 1:
            raise ConfigError(f"pca must be a positive number of dimensions, got {self.pca}")
        if self.quantize is not None and self.quantize not in QUANTIZE_KINDS:
            raise ConfigError(f"quantize must be float16 or int8, got {self.quantize!r}")

        if self.head not in ("auto", "none"):
            raise ConfigError(f"head must be 'auto' or 'none', got {self.head!r}")
        if self.weights.title and not self.titles:
            raise ConfigError("a title weight needs title embeddings: do not turn titles off")
        if self.near_duplicate is not None and not -1 <= self.near_duplicate <= 1:
            raise ConfigError(f"near_duplicate must be in [-1, 1], got {self.near_duplicate}")
        if not 1 <= self.k <= 1000:
            raise ConfigError(f"k must be between 1 and 1000, got {self.k}")
        if not 1 <= self.batch_size <= 4096:
            raise ConfigError(f"batch size must be between 1 and 4096, got {self.batch_size}")
        if self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")
        if self.aggregate not in AGGREGATES:
            raise ConfigError(
                f"aggregate must be one of {', '.join(AGGREGATES)}, got {self.aggregate!r}"
            )

    def fetch_settings(self) -> FetchSettings:
        """The settings for image and feed downloads (``allow_private`` folded in)."""
        from lookalike.catalog.http import FetchSettings

        settings = self.fetch or FetchSettings()
        if self.allow_private and not settings.allow_private:
            settings = replace(settings, allow_private=True)
        return settings


@dataclass
class BuildReport:
    """What a build did: product changes, image outcomes with reasons, timings."""

    workspace: str
    catalog: str
    model: str
    products: dict[str, int] = field(default_factory=dict)
    images: dict[str, int] = field(default_factory=dict)
    # where image bytes came from: fetched (200), revalidated (304), reused (cache, no request),
    # stale (request failed, old copy used), local (files), failed; pruned: cache entries of
    # URLs no product uses any more, deleted
    downloads: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    vectors: int = 0
    index: dict[str, Any] = field(default_factory=dict)
    titles: dict[str, int] = field(default_factory=dict)
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
    http_status: int | None = None


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


def _resolve_urls(images: list[_Image], ws: Workspace, options: BuildOptions) -> dict[str, int]:
    """Fetch every URL into the workspace's image cache; returns counts by outcome."""
    from lookalike.catalog.fetch import ImageFetcher, is_transient

    fetcher = ImageFetcher(ws.images_dir, options.fetch_settings())
    results = fetcher.fetch_many(
        [i.source for i in images], progress=options.progress, revalidate=options.revalidate
    )
    counts = dict.fromkeys(("fetched", "revalidated", "reused", "stale", "failed"), 0)
    for image in images:
        result = results[image.source]
        if result.status == "failed" and is_transient(result.reason):
            stale = fetcher.cached(image.source)
            if stale is not None:
                log.warning("using the cached copy of %s: %s", image.source, result.error)
                counts["stale"] += 1
                image.path, image.sha256 = stale.path, stale.sha256
                continue
        if result.status == "failed" or result.path is None:
            counts["failed"] += 1
            image.reason, image.error = result.reason or "fetch_failed", result.error
            image.http_status = result.http_status
            continue
        if result.status == "fetched":
            counts["fetched"] += 1
        else:
            counts["revalidated" if result.attempts else "reused"] += 1
        image.path, image.sha256 = result.path, result.sha256
    return counts


def _prune_image_cache(ws: Workspace, keep: set[str]) -> int:
    """Drop cached images of URLs no product uses any more (after the build succeeded)."""
    if not ws.images_dir.is_dir():
        return 0
    from lookalike.catalog.fetch import ImageFetcher

    return ImageFetcher(ws.images_dir).prune(keep)


def _loader(path: Path) -> Callable[[], bytes]:
    return lambda: _read_limited(path)


def _usable_images(
    products: Iterable[Product], images: dict[str, _Image], cache: VectorSet
) -> dict[str, list[str]]:
    """Product id -> the distinct embedded image hashes of it (products without any left out)."""
    owned: dict[str, list[str]] = {}
    for product in products:
        shas = [
            images[s].sha256
            for s in product.images
            if s in images and images[s].sha256 in cache and not images[s].reason
        ]
        if shas:
            owned[product.id] = list(dict.fromkeys(s for s in shas if s is not None))
    return owned


def _aggregate(owned: dict[str, list[str]], cache: VectorSet) -> VectorSet:
    """One vector per product: the normalised mean of its usable image vectors."""
    ids: list[str] = []
    rows: list[np.ndarray] = []
    for product_id, shas in owned.items():
        mean = np.mean([cache.get(sha) for sha in shas], axis=0)
        norm = float(np.linalg.norm(mean))
        if norm > 0:
            ids.append(product_id)
            rows.append(mean / norm)
    dim = cache.dim
    vectors = np.asarray(rows, dtype=np.float32).reshape(len(rows), dim)
    return VectorSet(ids, vectors)


def _load_head(ws: Workspace, options: BuildOptions, key: str, dim: int) -> Head | None:
    """The trained head to apply, or None; a head trained for another model is an error."""
    from lookalike.errors import ConfigError

    folder = ws.root / HEAD_DIR
    if options.head == "none" or not Head.exists(folder):
        return None
    head = Head.load(folder)
    if head.meta.get("model_key") != key or head.input_dim != dim:
        raise ConfigError(
            f"the head in {folder} was trained on {head.meta.get('model_key')} embeddings "
            f"({head.input_dim}-d), not {key} ({dim}-d): train it again or use --head none"
        )
    return head


def _neighbors(
    vectors: VectorSet,
    owned: dict[str, list[str]],
    cache: VectorSet,
    options: BuildOptions,
    groups: dict[str, str] | None = None,
    built: IndexBuild | None = None,
) -> Neighbors:
    """The top-K table: by product vector (mean) or by best image pair (max), with the default
    exclusions (same ``groups`` variants, near-duplicates) applied. Exact below the ANN
    threshold; above it, through an approximate ``built`` index (no N^2 work)."""
    ann = built is not None and built.approximate and len(vectors) >= ANN_THRESHOLD
    if options.aggregate == "mean" and ann:
        assert built is not None
        # like max below: over-fetch 3x through the index, then drop the excluded entries
        rows, scores = index_neighbors(
            built.index, vectors, 3 * options.k, progress=options.progress
        )
        return exclude_from_table(
            Neighbors(list(vectors.ids), rows, scores),
            options.k,
            groups=groups,
            near_duplicate=options.near_duplicate,
            vectors=np.asarray(vectors.vectors),
        )
    if options.aggregate == "mean":
        return compute_neighbors(
            vectors,
            options.k,
            progress=options.progress,
            groups=groups,
            near_duplicate=options.near_duplicate,
        )
    row_of = cache.row_of()
    images = ProductImages.from_lists(
        vectors.ids, [[row_of[s] for s in owned[pid]] for pid in vectors.ids], cache.vectors
    )
    # max has no deepening search: over-fetch 3x, then drop the excluded entries
    wide = compute_neighbors_max(images, 3 * options.k)
    return exclude_from_table(
        wide,
        options.k,
        groups=groups,
        near_duplicate=options.near_duplicate,
        vectors=np.asarray(vectors.vectors),  # duplicates by product vector, not by one picture
    )


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
    head = _load_head(ws, options, key, embedder.dim)

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
        downloads = {"local": len(images) - len(urls)}
        if urls:
            downloads |= _resolve_urls(urls, ws, options)
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
        if head is not None:  # products get the head's space; the cache stays backbone-only
            cache = VectorSet(cache.ids, head.apply(cache.vectors))
        owned = _usable_images(products, images, cache)
        vectors = _aggregate(owned, cache)  # also kept for max: query by image uses it
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
        neighbors = _neighbors(vectors, owned, cache, options, groups, built)
        neighbors.save(ws.root)
        downloads["pruned"] = _prune_image_cache(ws, {i.source for i in urls})
        timings["topk"] = time.perf_counter() - t0

        # 4. title embeddings for hybrid scoring and query-by-title (model loaded only if needed)
        title_report = None
        if options.titles:
            from lookalike.recommend.text import update_title_vectors

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
