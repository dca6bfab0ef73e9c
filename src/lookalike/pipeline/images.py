"""The images stage: every image source resolved to bytes on disk and a content hash."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from lookalike.catalog.models import Product
from lookalike.errors import ImageError
from lookalike.index.vectors import VectorSet
from lookalike.pipeline.options import BuildOptions
from lookalike.pipeline.state import BuildState, ImageState
from lookalike.textutil import is_url
from lookalike.workspace import Workspace

log = logging.getLogger(__name__)

__all__ = [
    "ImageState",
    "images_stage",
    "read_limited",
    "resolve_local",
    "resolve_urls",
    "prune_image_cache",
    "file_loader",
    "usable_images",
]


def is_remote(source: str) -> bool:
    """Whether an image source is fetched over HTTP(S) (else it is a local file)."""
    return is_url(source)


def images_stage(state: BuildState) -> None:
    """Resolve every distinct image of the catalog: local files read and hashed, URLs fetched
    into the image cache (revalidated, stale copies kept on transient failures)."""
    with state.timed("images"):
        state.images = {s: ImageState(s) for p in state.products for s in p.images}
        urls = [i for i in state.images.values() if is_remote(i.source)]
        state.url_sources = {i.source for i in urls}
        for image in state.images.values():
            if image.source not in state.url_sources:
                resolve_local(image)
        state.downloads = {"local": len(state.images) - len(urls)}
        if urls:
            state.downloads |= resolve_urls(urls, state.ws, state.options)


def read_limited(path: Path) -> bytes:
    """The bytes of a local image file (``ImageError`` ``too_large`` above the decode cap)."""
    from lookalike.embed.decode import MAX_IMAGE_BYTES

    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise ImageError(
            f"{path.name} is {size} bytes (limit {MAX_IMAGE_BYTES})", reason="too_large"
        )
    return path.read_bytes()


def resolve_local(image: ImageState) -> None:
    """Read and hash a local image file, or record why it cannot be."""
    path = Path(image.source)
    try:
        data = read_limited(path)
    except ImageError as exc:
        image.reason, image.error = exc.reason, str(exc)
        return
    except OSError as exc:
        image.reason = "missing_file" if isinstance(exc, FileNotFoundError) else "unreadable"
        image.error = f"{path}: {exc.strerror or exc}"
        return
    image.path, image.sha256 = path, hashlib.sha256(data).hexdigest()


def resolve_urls(images: list[ImageState], ws: Workspace, options: BuildOptions) -> dict[str, int]:
    """Fetch every URL into the workspace's image cache; returns counts by outcome."""
    from lookalike.catalog.fetch import ImageFetcher, is_transient

    fetcher = ImageFetcher(ws.images_dir, options.fetch_settings())
    from lookalike.pipeline.engines import fetch_urls

    results = fetch_urls(fetcher, [i.source for i in images], options)
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


def prune_image_cache(ws: Workspace, keep: set[str]) -> int:
    """Drop cached images of URLs no product uses any more (after the build succeeded)."""
    if not ws.images_dir.is_dir():
        return 0
    from lookalike.catalog.fetch import ImageFetcher

    return ImageFetcher(ws.images_dir).prune(keep)


def file_loader(path: Path) -> Callable[[], bytes]:
    """A zero-argument reader of ``path`` for the embed workers."""
    return lambda: read_limited(path)


def usable_images(
    products: Iterable[Product], images: dict[str, ImageState], cache: VectorSet
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
