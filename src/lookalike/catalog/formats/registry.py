"""The one table of catalog formats, and :func:`read_catalog`, which picks one and reads it.

A source is a folder, a file or an http(s) URL (downloaded first); gzip is recognised by its
magic bytes. Which format a file is: its extension narrows the candidates, then each
candidate's ``sniff`` looks at the content, in the order of :data:`FORMATS` (specific formats
before generic ones). ``format=NAME`` skips detection.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from lookalike.catalog.formats.base import Format
from lookalike.catalog.formats.columns import ColumnMap
from lookalike.catalog.formats.delimited import CSV, TSV
from lookalike.catalog.formats.folder import FOLDER
from lookalike.catalog.formats.jsonl import JSONL
from lookalike.catalog.formats.merchant import MERCHANT
from lookalike.catalog.formats.meta import META
from lookalike.catalog.formats.problems import ProblemSink
from lookalike.catalog.formats.shopify import SHOPIFY
from lookalike.catalog.formats.source import CatalogFile, downloaded
from lookalike.catalog.formats.woocommerce import WOOCOMMERCE
from lookalike.catalog.formats.yml import YML
from lookalike.catalog.http import FetchSettings
from lookalike.catalog.models import Product
from lookalike.errors import CatalogError, ConfigError, FeedError
from lookalike.textutil import is_url

__all__ = ["FORMATS", "detect_format", "get_format", "read_catalog"]

# Order matters: the first format whose sniff accepts a file reads it, so the platform
# exports (told by their header row) come before the generic CSV/TSV readers.
FORMATS: tuple[Format, ...] = (FOLDER, YML, MERCHANT, JSONL, SHOPIFY, WOOCOMMERCE, META, TSV, CSV)


def get_format(name: str, formats: Sequence[Format] = FORMATS) -> Format:
    """The format called ``name``; ``ConfigError`` listing the known names otherwise."""
    for fmt in formats:
        if fmt.name == name.strip().lower():
            return fmt
    raise ConfigError(
        f"unknown catalog format {name!r}: use one of {', '.join(f.name for f in formats)}"
    )


def detect_format(file: CatalogFile, formats: Sequence[Format] = FORMATS) -> Format:
    """The format of ``file`` (a folder or a file), from its extension and content.

    Raises ``CatalogError`` when no format fits (``FeedError`` for XML of an unknown kind).
    """
    if file.path.is_dir():
        return next(f for f in formats if f.folder)
    claimed = [f for f in formats if file.suffix in f.suffixes]
    for fmt in claimed or [f for f in formats if not f.folder]:
        if fmt.sniff(file):
            return fmt
    if file.xml_root:
        raise FeedError(
            f"{file.name}: unknown XML feed <{file.xml_root}>: expected a Yandex YML "
            "<yml_catalog>, or a Google Merchant <rss> or Atom <feed>"
        )
    raise CatalogError(
        f"unknown catalog format for {file.name}: use a folder of images, .csv, .tsv, .jsonl, "
        "or a YML / Google Merchant XML feed (.xml, .yml, .rss, .atom, optionally gzipped), "
        f"or name the format with --format ({', '.join(f.name for f in formats)})"
    )


def read_catalog(
    source: str | Path,
    columns: ColumnMap | None = None,
    *,
    fetch: FetchSettings | None = None,
    format: str | None = None,
    on_problem: ProblemSink | None = None,
) -> Iterator[Product]:
    """Stream the products of a catalog folder, file or URL.

    A local source's format is checked at once (``CatalogError`` when unknown or missing); a
    URL is downloaded (with ``fetch``: ``allow_private`` for internal hosts) when iteration
    starts. A malformed or unsafe feed raises ``FeedError`` while iterating: consume it
    inside a transaction to keep the old catalog. ``format`` names the format to use;
    ``on_problem`` receives every per-record problem (skipped row, refused image).
    """
    chosen = get_format(format) if format else None
    if is_url(source):
        return _read_url(str(source).strip(), columns, fetch, chosen, on_problem)
    path = Path(source).expanduser()
    if not path.exists():
        raise CatalogError(f"catalog not found: {path}")
    file = CatalogFile.local(path, on_problem)
    fmt = chosen or detect_format(file)
    if fmt.folder != path.is_dir():
        kind = "a folder" if path.is_dir() else "a file"
        raise CatalogError(f"{path} is {kind}: it cannot be read as {fmt.name}")
    return _read(fmt, file, columns)


def _read_url(
    url: str,
    columns: ColumnMap | None,
    fetch: FetchSettings | None,
    chosen: Format | None,
    on_problem: ProblemSink | None,
) -> Iterator[Product]:
    with downloaded(url, fetch, on_problem) as file:
        yield from _read(chosen or detect_format(file), file, columns)


def _read(fmt: Format, file: CatalogFile, columns: ColumnMap | None) -> Iterator[Product]:
    """Run the reader, turning I/O and decoding failures into one-line catalog errors."""
    try:
        yield from fmt.read(file, columns)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise FeedError(f"{file.name}: broken gzip data: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{file.name}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise CatalogError(f"cannot read {file.name}: {exc.strerror or exc}") from exc
