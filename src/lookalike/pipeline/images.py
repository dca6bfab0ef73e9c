"""The images stage: every image source resolved to bytes on disk and a content hash."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lookalike.atomic import write_bytes_atomic
from lookalike.catalog.models import Product
from lookalike.crashpoints import crash_point
from lookalike.embed.ortconfig import usable_cores
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
    """Resolve every distinct image of the catalog: local files checked against the path
    policy, read, hashed and copied into the image cache; URLs fetched into it (revalidated,
    cached copies kept within the stale grace when a refresh fails)."""
    with state.timed("images"):
        state.images = {s: ImageState(s) for p in state.products for s in p.images}
        urls = [i for i in state.images.values() if is_remote(i.source)]
        state.url_sources = {i.source for i in urls}
        local = [i for i in state.images.values() if i.source not in state.url_sources]
        sync = state.ws.sync_images_dir.resolve()  # once per build, not per image
        with ThreadPoolExecutor(local_readers(), thread_name_prefix="lookalike-local") as pool:
            for _ in pool.map(lambda image: _local(image, state, sync), local):
                pass
        state.downloads = {"local": len(state.images) - len(urls)}
        if urls:
            counts, state.hosts = resolve_urls(urls, state.ws, state.options)
            state.downloads |= counts
    crash_point("images.done")


def local_readers() -> int:
    """Threads reading, hashing and copying local image files: one per usable core.

    hashlib and file I/O release the GIL, so threads overlap them; but with the photos in the
    page cache (a rebuild, or files just written) the work is CPU, in the kernel and in
    Python, and threads beyond the cores only queue on the GIL: on 2 cores, 8 threads took
    ~1.5x the wall time of 2 for the first build's copies of 2,000 photos.
    """
    return max(usable_cores(), 2)


def _local(image: ImageState, state: BuildState, sync: Path) -> None:
    refused = local_refusal(image.source, state, sync)
    if refused:
        image.reason, image.error = "local_path_refused", refused
    else:
        resolve_local(image, state.ws)


def local_refusal(source: str, state: BuildState, sync: Path) -> str | None:
    """Why a local image path may not be read, or None: a catalog fetched by URL references
    only http(s) images; ``file:`` URLs never; other paths only inside the catalog's folder
    (or ``--allow-local-paths DIR``). ``sync``: the resolved folder of catalog-sync uploads."""
    if source.lower().startswith("file:"):
        return f"{source}: file: URLs are not allowed (give a path inside the catalog's folder)"
    try:
        path = Path(source).resolve()  # once: the checks below compare the real location
    except (OSError, RuntimeError) as exc:  # e.g. a symlink loop
        return f"{source}: {exc}"
    if path.is_relative_to(sync):
        return None  # bytes uploaded through catalog sync, kept by the service itself
    if state.remote_catalog:
        return f"{source}: a catalog fetched by URL may only reference http(s) images"
    if state.local_roots is None:
        return None
    if any(path.is_relative_to(root) for root in state.local_roots):
        return None
    return (
        f"{source} is outside the catalog's folder {state.local_roots[0]} "
        "(--allow-local-paths DIR allows another folder)"
    )


def read_limited(path: Path) -> bytes:
    """The bytes of a local image file (``ImageError`` ``too_large`` above the decode cap)."""
    from lookalike.embed.decode import MAX_IMAGE_BYTES

    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise ImageError(
            f"{path.name} is {size} bytes (limit {MAX_IMAGE_BYTES})", reason="too_large"
        )
    return path.read_bytes()


def resolve_local(image: ImageState, ws: Workspace) -> None:
    """Read and hash a local image file and copy it into the image cache (what the service
    serves), or record why it cannot be."""
    path = Path(image.source)
    if not path.is_file():  # also refuses devices, fifos and folders
        image.reason = "missing_file" if not path.exists() else "unreadable"
        image.error = f"{path}: {'no such file' if not path.exists() else 'not a regular file'}"
        return
    try:
        data = read_limited(path)
    except ImageError as exc:
        image.reason, image.error = exc.reason, str(exc)
        return
    except OSError as exc:
        image.reason = "missing_file" if isinstance(exc, FileNotFoundError) else "unreadable"
        image.error = f"{path}: {exc.strerror or exc}"
        return
    digest = hashlib.sha256(data).hexdigest()
    copy = ws.image_cache_file(image.source)
    if not (copy.is_file() and hashlib.sha256(copy.read_bytes()).hexdigest() == digest):
        # not fsynced: every build checks the copy against the file, as just above
        write_bytes_atomic(copy, data, durable=False)
    image.path, image.sha256 = copy, digest


def resolve_urls(
    images: list[ImageState], ws: Workspace, options: BuildOptions
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Fetch every URL into the workspace's image cache; returns counts by outcome and the
    hosts whose remaining URLs were skipped."""
    from lookalike.catalog.fetch import ImageFetcher

    fetcher = ImageFetcher(ws.images_dir, options.fetch_settings())
    from lookalike.pipeline.engines import fetch_urls

    results = fetch_urls(fetcher, [i.source for i in images], options)
    counts = dict.fromkeys(("fetched", "revalidated", "reused", "stale", "failed"), 0)
    grace = options.stale_grace_days * 86400
    for image in images:
        result = results[image.source]
        if result.status == "failed" and is_refresh_failure(result.reason):
            stale = fetcher.cached(image.source, max_age=grace)
            if stale is not None:
                log.warning("using the cached copy of %s: %s", image.source, result.error)
                counts["stale"] += 1
                image.path, image.sha256 = stale.path, stale.sha256
                image.stale = f"{result.reason}: {result.error}"
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
    return counts, fetcher.skipped_hosts


def is_refresh_failure(reason: str | None) -> bool:
    """Failures that do not say the image is bad: any HTTP error status, a timeout, a
    connection error, a host skipped for failing too often."""
    return bool(reason) and (
        str(reason).startswith("http_") or reason in ("timeout", "connection", "host_skipped")
    )


def prune_image_cache(ws: Workspace, keep: set[str]) -> int:
    """Drop cached images of sources no product uses any more (after the build published)."""
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
