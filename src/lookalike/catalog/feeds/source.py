"""Where a feed comes from (local file or http(s) URL) and what it is (by extension and content).

Compression is recognised by its magic bytes, not by the ``.gz`` extension; the format by the
extension when it names one, else by sniffing the first bytes (``<`` XML, ``{`` JSON Lines).
Which XML feed it is (YML, Merchant RSS, Atom) is decided by the root element while parsing.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from lookalike.catalog.http import FetchSettings, fetch_to_file
from lookalike.catalog.readers import resolve_image_source
from lookalike.errors import CatalogError, FeedError, FetchError

__all__ = [
    "FEED_FORMATS",
    "MAX_FEED_BYTES",
    "ImageResolver",
    "downloaded",
    "is_url",
    "open_binary",
    "sniff_format",
]

# A 500k-offer YML feed is a few hundred MB; refuse anything absurdly larger.
MAX_FEED_BYTES = 4 * 2**30
GZIP_MAGIC = b"\x1f\x8b"
FEED_FORMATS = ("xml", "csv", "tsv", "jsonl")
_BY_EXTENSION = {
    ".xml": "xml",
    ".yml": "xml",  # Yandex YML is XML, not YAML
    ".rss": "xml",
    ".atom": "xml",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_URL = re.compile(r"^https?://", re.I)


def is_url(source: object) -> bool:
    """Whether ``source`` is an http(s) URL string."""
    return isinstance(source, str) and bool(_URL.match(source.strip()))


def _suffix(name: str) -> str:
    """The meaningful extension of ``name``: ``shop.yml.gz`` -> ``.yml``."""
    path = PurePosixPath(name.lower())
    if path.suffix == ".gz":
        path = path.with_suffix("")
    return path.suffix


def sniff_format(path: Path, name: str | None = None) -> tuple[str, bool]:
    """``(format, gzipped)`` of the file at ``path``; ``name`` (file name or URL) for its extension.

    Raises ``CatalogError`` when the format cannot be told, ``FeedError`` for broken gzip.
    """
    name = name or path.name
    try:
        with path.open("rb") as handle:
            gzipped = handle.read(2) == GZIP_MAGIC
        with open_binary(path, gzipped) as stream:
            head = stream.read(512)
    except (OSError, EOFError) as exc:
        if isinstance(exc, gzip.BadGzipFile | EOFError):
            raise FeedError(f"{name}: broken gzip data: {exc}") from exc
        raise CatalogError(f"cannot read {name}: {exc}") from exc
    url_path = urllib.parse.urlsplit(name).path if is_url(name) else name
    fmt = _BY_EXTENSION.get(_suffix(url_path))
    if fmt is None:
        start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if start.startswith(b"<"):
            fmt = "xml"
        elif start.startswith(b"{"):
            fmt = "jsonl"
    if fmt is None:
        raise CatalogError(
            f"unknown catalog format for {name}: use a folder of images, .csv, .tsv, .jsonl, "
            "or a YML / Google Merchant XML feed (.xml, .yml, .rss, .atom, optionally gzipped)"
        )
    return fmt, gzipped


def open_binary(path: Path, gzipped: bool) -> BinaryIO:
    """Open ``path`` for reading, decompressing on the fly when ``gzipped``."""
    if gzipped:
        return gzip.open(path, "rb")
    return path.open("rb")


@contextlib.contextmanager
def downloaded(url: str, settings: FetchSettings | None) -> Iterator[Path]:
    """Download ``url`` into a temporary file (removed afterwards); ``FeedError`` on failure.

    Uses the fetcher's HTTP layer: retries, size cap, and the address guard (``allow_private``
    in ``settings`` allows feeds on internal hosts).
    """
    with tempfile.TemporaryDirectory(prefix="lookalike-feed-") as tmp:
        dest = Path(tmp) / "feed"
        try:
            fetch_to_file(url, dest, settings=settings or FetchSettings(), max_bytes=MAX_FEED_BYTES)
        except FetchError as exc:
            raise FeedError(f"cannot download the feed {url}: {exc}") from exc
        yield dest


class ImageResolver:
    """Make an image reference absolute: against the feed's URL, or the feed file's folder."""

    def __init__(self, base: str | Path) -> None:
        self.base = base

    def __call__(self, value: str) -> str:
        value = value.strip()
        if _URL.match(value):
            return value
        if isinstance(self.base, str):
            return urllib.parse.urljoin(self.base, value)
        if value.startswith("//"):  # protocol-relative, common in feeds
            return f"https:{value}"
        return resolve_image_source(value, self.base)
