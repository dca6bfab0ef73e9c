"""Product feeds: Yandex YML, Google Merchant RSS 2.0 / Atom, and CSV/JSONL, local or by URL.

:func:`read_feed` streams ``Product``s from a file or an http(s) URL, gzip-compressed or not.
XML is parsed with :mod:`~lookalike.catalog.feeds.xmlsafe` (no entities, no DTD, no network),
one record at a time, so a 500k-offer feed never sits in memory at once.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from lookalike.catalog.feeds.merchant import GOOGLE_NS, MerchantFeedReader, split_price
from lookalike.catalog.feeds.source import (
    MAX_FEED_BYTES,
    ImageResolver,
    downloaded,
    is_url,
    open_binary,
    sniff_format,
)
from lookalike.catalog.feeds.xmlsafe import XmlEvents
from lookalike.catalog.feeds.yml import CATEGORY_SEPARATOR, YmlFeedReader, category_paths
from lookalike.catalog.http import FetchSettings
from lookalike.catalog.models import Product
from lookalike.catalog.readers import ColumnMap, read_csv, read_jsonl
from lookalike.errors import CatalogError, FeedError

__all__ = [
    "CATEGORY_SEPARATOR",
    "GOOGLE_NS",
    "MAX_FEED_BYTES",
    "MerchantFeedReader",
    "YmlFeedReader",
    "category_paths",
    "is_url",
    "read_feed",
    "sniff_format",
    "split_price",
]

_XML_READERS = {"yml_catalog": YmlFeedReader, "rss": MerchantFeedReader, "feed": MerchantFeedReader}


def read_feed(
    source: str | Path, columns: ColumnMap | None = None, *, settings: FetchSettings | None = None
) -> Iterator[Product]:
    """Stream the products of a feed file or URL (YML, Merchant RSS/Atom, CSV/TSV, JSONL).

    A local file's format is checked at once (``CatalogError`` when unknown); a URL is
    downloaded (with ``settings``) when iteration starts. A malformed or unsafe feed raises
    ``FeedError`` while iterating: consume it inside a transaction to keep the old catalog.
    """
    if is_url(source):
        return _read_url(str(source).strip(), columns, settings)
    path = Path(source).expanduser()
    if not path.is_file():
        raise CatalogError(f"catalog not found: {path}")
    fmt, gzipped = sniff_format(path)
    return _read_file(path, fmt, gzipped, columns, base=path.resolve().parent, name=str(path))


def _read_url(
    url: str, columns: ColumnMap | None, settings: FetchSettings | None
) -> Iterator[Product]:
    with downloaded(url, settings) as path:
        fmt, gzipped = sniff_format(path, name=url)
        yield from _read_file(path, fmt, gzipped, columns, base=url, name=url)


def _read_file(
    path: Path,
    fmt: str,
    gzipped: bool,
    columns: ColumnMap | None,
    *,
    base: str | Path,
    name: str,
) -> Iterator[Product]:
    try:
        if fmt == "xml":
            yield from _read_xml(path, gzipped, base, name)
        else:
            yield from _read_table(path, fmt, gzipped, columns, base, name)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise FeedError(f"{name}: broken gzip data: {exc}") from exc


def _read_xml(path: Path, gzipped: bool, base: str | Path, name: str) -> Iterator[Product]:
    with open_binary(path, gzipped) as stream:
        events = XmlEvents(stream, name)
        reader_class = _XML_READERS.get(events.root)
        if reader_class is None:
            raise FeedError(
                f"{name}: unknown XML feed <{events.root}>: expected a Yandex YML "
                "<yml_catalog>, or a Google Merchant <rss> or Atom <feed>"
            )
        yield from reader_class(events, ImageResolver(base))


def _read_table(
    path: Path,
    fmt: str,
    gzipped: bool,
    columns: ColumnMap | None,
    base: str | Path,
    name: str,
) -> Iterator[Product]:
    reader = read_jsonl if fmt == "jsonl" else read_csv
    base_dir = base if isinstance(base, Path) else None
    if not gzipped and fmt != "tsv":
        yield from reader(path, columns, base_dir=base_dir)
        return
    # The table readers take a path (CSV sniffs its delimiter, TSV goes by extension):
    # decompress to a temporary file next to nothing the user owns.
    with tempfile.TemporaryDirectory(prefix="lookalike-feed-") as tmp:
        plain = Path(tmp) / f"feed.{fmt}"
        with open_binary(path, gzipped) as src, plain.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        yield from reader(plain, columns, base_dir=base_dir)
