"""The demo shop: a catalog CSV built from the public "clothing-dataset-small" photos (CC0).

The photos come from a local copy when there is one (``$LOOKALIKE_DEMO_DATA`` or
``shared/datasets/clothing-small`` beside the project), else from the public archive, downloaded
once into a cache folder, verified and extracted safely.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from lookalike.atomic import write_bytes_atomic
from lookalike.catalog.http import FetchSettings
from lookalike.catalog.oneshot import fetch_to_file
from lookalike.errors import CatalogError, ConfigError, FetchError

__all__ = [
    "DEMO_ARCHIVE_URL",
    "DEMO_SPLITS",
    "find_shared_clothing",
    "demo_photo_folder",
    "prepare_demo_catalog",
]

DEMO_ARCHIVE_URL = (
    "https://github.com/alexeygrigorev/clothing-dataset-small/archive/refs/heads/master.zip"
)
DEMO_SPLITS = ("validation", "test")
ALL_SPLITS = ("train", "validation", "test")
ENV_VAR = "LOOKALIKE_DEMO_DATA"
SHARED_RELPATH = Path("shared") / "datasets" / "clothing-small"
CSV_COLUMNS = ("id", "title", "image", "category", "price", "in_stock")

ARCHIVE_MAX_BYTES = 200 * 2**20
EXTRACT_MAX_BYTES = 500 * 2**20  # total uncompressed size
EXTRACT_MAX_MEMBERS = 20_000
MIN_IMAGES = 100
# The archive is ~100 MB: a long per-read timeout; the fetcher's own deadline scales with size.
DOWNLOAD_SETTINGS = FetchSettings(timeout=60.0, max_bytes=ARCHIVE_MAX_BYTES)

_IMAGE_SUFFIXES = (".jpg", ".jpeg")
_EXTRACTED_NAME = "clothing-small"
_ARCHIVE_NAME = "clothing-dataset-small.zip"
_HOW_TO_BUILD_YOUR_OWN = (
    "To build your own shop instead: `lookalike build ./my-shop --catalog ./my-photos` "
    "(a folder of images) or `lookalike build ./my-shop --catalog products.csv`."
)


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "lookalike" / "demo"


def _shared_candidates() -> list[Path]:
    cwd = Path.cwd().resolve()
    return [folder / SHARED_RELPATH for folder in (cwd, *cwd.parents)]


def find_shared_clothing() -> Path | None:
    """The local clothing photos: ``$LOOKALIKE_DEMO_DATA`` if set, else the first
    ``shared/datasets/clothing-small`` found in the current folder or one of its parents.

    Returns None when there is none (an explicit ``$LOOKALIKE_DEMO_DATA`` that does not exist
    also gives None: it is not silently replaced by another copy).
    """
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        path = Path(explicit).expanduser()
        return path if path.is_dir() else None
    for candidate in _shared_candidates():
        if candidate.is_dir():
            return candidate
    return None


def _has_splits(root: Path, splits: Sequence[str]) -> bool:
    return all((root / split).is_dir() for split in splits)


def _price_and_stock(product_id: str) -> tuple[str, str]:
    # Derived from a hash so every run (and every machine) gives the same shop.
    digest = hashlib.sha256(product_id.encode("utf-8")).digest()
    cents = 999 + int.from_bytes(digest[:4], "big") % 19_001  # 9.99 .. 199.99
    in_stock = int.from_bytes(digest[4:6], "big") % 10 != 0  # about 90 % in stock
    return f"{cents / 100:.2f}", "true" if in_stock else "false"


def _catalog_rows(root: Path, splits: Sequence[str], limit: int | None) -> list[list[str]]:
    photos: list[Path] = []
    for split in splits:
        folder = root / split
        if not folder.is_dir():
            raise CatalogError(f"the demo photos at {root} have no {split!r} folder")
        photos.extend(
            path
            for category in folder.iterdir()
            if category.is_dir()
            for path in category.iterdir()
            if path.suffix.lower() in _IMAGE_SUFFIXES and path.is_file()
        )
    photos.sort()
    rows: list[list[str]] = []
    seen: set[str] = set()
    for path in photos:
        if limit is not None and len(rows) >= limit:
            break
        product_id, category = path.stem, path.parent.name
        if product_id in seen:  # ids must be unique; a photo in two splits counts once
            continue
        seen.add(product_id)
        price, in_stock = _price_and_stock(product_id)
        title = f"{category.capitalize()} · {product_id[:8]}"
        rows.append([product_id, title, str(path.resolve()), category, price, in_stock])
    return rows


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
    write_bytes_atomic(path, buffer.getvalue().encode("utf-8"))


# --------------------------------------------------------------------------- archive


def _unsafe_member(info: zipfile.ZipInfo) -> str | None:
    """Why this member must not be extracted, or None."""
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in PurePosixPath(name).parts:
        return "'..' in path"
    # Unix file type bits (0 when the zip was not made on Unix, e.g. ZipFile.writestr(name)).
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        return "symbolic link"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "special file"
    return None


def _verify_archive(archive: Path) -> str:
    """Check the archive is a sound zip with the clothing layout; returns its top folder."""
    if not zipfile.is_zipfile(archive):
        raise CatalogError(f"{archive} is not a zip archive")
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > EXTRACT_MAX_MEMBERS:
                raise CatalogError(
                    f"{archive} has {len(infos)} members (max {EXTRACT_MAX_MEMBERS})"
                )
            total = sum(info.file_size for info in infos)
            if total > EXTRACT_MAX_BYTES:
                raise CatalogError(f"{archive} unpacks to {total} bytes (max {EXTRACT_MAX_BYTES})")
            for info in infos:
                problem = _unsafe_member(info)
                if problem is not None:
                    raise CatalogError(f"unsafe member {info.filename!r} in {archive}: {problem}")
            broken = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CatalogError(f"{archive} is a damaged zip archive: {exc}") from exc
    if broken is not None:
        raise CatalogError(f"{archive} is damaged: CRC error in {broken!r}")
    tops = {PurePosixPath(info.filename).parts[0] for info in infos if info.filename.strip("/")}
    if len(tops) != 1:
        raise CatalogError(f"{archive} should hold one top folder, found {sorted(tops)[:5]}")
    images: dict[str, int] = {}
    for info in infos:
        parts = PurePosixPath(info.filename).parts
        if len(parts) == 4 and parts[1] in ALL_SPLITS and parts[3].lower().endswith(".jpg"):
            images[parts[1]] = images.get(parts[1], 0) + 1
    missing = [split for split in ALL_SPLITS if split not in images]
    if missing or sum(images.values()) < MIN_IMAGES:
        raise CatalogError(
            f"{archive} does not look like clothing-dataset-small: expected "
            f"<top>/{{{','.join(ALL_SPLITS)}}}/<category>/*.jpg with at least {MIN_IMAGES} photos, "
            f"found {images or 'none'}"
        )
    return tops.pop()


def _extract(archive: Path, top: str, target: Path) -> None:
    """Extract ``top`` of a verified archive into ``target`` via a temp folder and a rename."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        budget = EXTRACT_MAX_BYTES
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                out = staging / PurePosixPath(info.filename.replace("\\", "/"))
                if not out.resolve().is_relative_to(staging.resolve()):  # belt and braces
                    raise CatalogError(f"unsafe member {info.filename!r} in {archive}")
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "xb") as dst:
                    while chunk := src.read(1 << 20):
                        budget -= len(chunk)
                        if budget < 0:
                            raise CatalogError(f"{archive} unpacks to more than declared")
                        dst.write(chunk)
        if target.exists():  # a stale or half-valid copy from an older run
            shutil.rmtree(target)
        os.replace(staging / top, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _download_demo(url: str, cache_dir: Path, settings: FetchSettings) -> Path:
    """Download, verify and extract the archive into ``cache_dir``; returns the photo root."""
    target = cache_dir / _EXTRACTED_NAME
    archive = cache_dir / _ARCHIVE_NAME
    cache_dir.mkdir(parents=True, exist_ok=True)
    fetch_to_file(url, archive, settings=settings, max_bytes=ARCHIVE_MAX_BYTES)
    try:
        top = _verify_archive(archive)
        _extract(archive, top, target)
    finally:
        archive.unlink(missing_ok=True)  # the extracted folder is the cache, not the zip
    return target


def prepare_demo_catalog(
    dest: Path,
    *,
    source: Path | None = None,
    archive_url: str = DEMO_ARCHIVE_URL,
    cache_dir: Path | None = None,
    settings: FetchSettings | None = None,
    splits: Sequence[str] = DEMO_SPLITS,
    limit: int | None = None,
) -> Path:
    """Write ``dest/catalog.csv`` (id,title,image,category,price,in_stock) for the demo shop.

    Photos come from ``source``, else a local copy (:func:`find_shared_clothing`), else the
    extracted archive in ``cache_dir`` (default ``~/.cache/lookalike/demo``), downloading it
    there once if needed. ``limit`` keeps the first N photos in sorted order. Raises
    ``CatalogError`` when no photos can be had, saying where it looked and why the download
    failed. Returns the CSV path.
    """
    if limit is not None and limit <= 0:
        raise ConfigError(f"limit must be > 0, got {limit}")
    unknown = [split for split in splits if split not in ALL_SPLITS]
    if unknown or not splits:
        raise ConfigError(f"splits must be some of {ALL_SPLITS}, got {tuple(splits)}")
    cache = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    root = Path(source) if source is not None else find_shared_clothing()
    if source is not None and not _has_splits(Path(source), splits):
        raise CatalogError(f"{source} has no {'/'.join(splits)} folders of clothing photos")
    if root is None and _has_splits(cache / _EXTRACTED_NAME, splits):
        root = cache / _EXTRACTED_NAME
    if root is None:
        try:
            root = _download_demo(archive_url, cache, settings or DOWNLOAD_SETTINGS)
        except (FetchError, CatalogError) as exc:
            reason = getattr(exc, "reason", "bad_archive")
            raise CatalogError(_offline_message(cache, archive_url, reason, exc)) from exc
    rows = _catalog_rows(root, splits, limit)
    if not rows:
        raise CatalogError(f"no .jpg photos under {root} in {', '.join(splits)}")
    csv_path = Path(dest) / "catalog.csv"
    _write_csv(csv_path, rows)
    return csv_path


def demo_photo_folder(csv_path: Path) -> Path:
    """The one folder holding every photo of a demo catalog written by ``prepare_demo_catalog``.

    The photos stay where they are (``../shared`` or the extracted archive), outside the
    catalog's own folder, so the demo build allows exactly this folder for local paths.
    """
    with Path(csv_path).open(newline="", encoding="utf-8") as handle:
        images = [row["image"] for row in csv.DictReader(handle)]
    if not images:
        raise CatalogError(f"{csv_path} lists no photos")
    return Path(os.path.commonpath(images))


def _offline_message(cache: Path, url: str, reason: str, exc: Exception) -> str:
    explicit = os.environ.get(ENV_VAR)
    looked = [f"${ENV_VAR}={explicit}" if explicit else f"${ENV_VAR} (not set)"]
    if not explicit:
        looked.append(f"{SHARED_RELPATH} in {Path.cwd()} and its parents")
    looked.append(str(cache / _EXTRACTED_NAME))
    return (
        f"the demo photos are not available: no local copy found (looked at {'; '.join(looked)}) "
        f"and downloading {url} failed ({reason}): {exc}. "
        f"Set {ENV_VAR} to a copy of clothing-dataset-small, or try again when online. "
        + _HOW_TO_BUILD_YOUR_OWN
    )
