"""Where a catalog comes from (file, folder or http(s) URL) and what its first bytes say.

Compression is recognised by its magic bytes, not by the ``.gz`` extension. A
:class:`CatalogFile` is what every reader gets: the local file (a URL is downloaded first), the
name to show in messages, what relative image references resolve against, and lazily the
facts format detection looks at (extension, first bytes, CSV header row, XML root element).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import logging
import tempfile
import urllib.parse
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import BinaryIO, TextIO, cast

from lookalike.catalog.formats.problems import Problem, ProblemSink
from lookalike.catalog.formats.values import ImageResolver, image_problem
from lookalike.catalog.formats.xmlsafe import XmlEvents
from lookalike.catalog.http import FetchSettings
from lookalike.catalog.oneshot import fetch_to_file
from lookalike.errors import CatalogError, FeedError, FetchError
from lookalike.textutil import is_url, real_path

__all__ = ["GZIP_MAGIC", "HEAD_BYTES", "MAX_FEED_BYTES", "CatalogFile", "downloaded"]

# A 500k-offer YML feed is a few hundred MB; refuse anything absurdly larger.
MAX_FEED_BYTES = 4 * 2**30
GZIP_MAGIC = b"\x1f\x8b"
# How much of a file's (decompressed) start format detection reads.
HEAD_BYTES = 64 * 1024
_DELIMITERS = ",;\t|"

log = logging.getLogger("lookalike.catalog.formats")


@dataclass(frozen=True)
class CatalogFile:
    """A catalog file (or folder) to read; the facts about it are read on first use.

    ``name`` is the path or URL the user gave (for messages and the extension); ``base`` is
    what relative image references resolve against: the feed's URL or the file's folder.
    ``on_problem`` receives each per-record problem a reader reports (they are logged too).
    """

    path: Path
    name: str
    base: str | Path
    on_problem: ProblemSink | None = field(default=None, compare=False)

    @classmethod
    def local(cls, path: Path, on_problem: ProblemSink | None = None) -> CatalogFile:
        """A file or folder on disk; relative images resolve against its folder."""
        real = real_path(path)
        base = real if path.is_dir() else real.parent
        return cls(path=path, name=str(path), base=base, on_problem=on_problem)

    def problem(self, where: str, message: str, product: str = "") -> None:
        """Report a problem of one record (a skipped row, a refused image): logged and sunk."""
        found = Problem(where=where, message=message, product=product)
        log.warning("%s %s", self.name, found)
        if self.on_problem is not None:
            self.on_problem(found)

    def images(
        self,
        references: Iterable[str],
        product: str = "",
        *,
        where: str,
        resolve: Callable[[str], str] | None = None,
    ) -> list[str]:
        """Image references made absolute, without duplicates; a reference that cannot be an
        image (site root, no path, ftp:// ...) is left out and reported for this record."""
        resolve = resolve or self.resolve_image
        kept: dict[str, None] = {}
        for raw in references:
            if not raw.strip():
                continue
            resolved = resolve(raw)
            reason = image_problem(raw) or image_problem(resolved)
            if reason:
                self.problem(where, reason, product)
            else:
                kept.setdefault(resolved)
        return list(kept)

    @cached_property
    def suffix(self) -> str:
        """The meaningful extension of ``name``: ``shop.yml.gz`` -> ``.yml``."""
        name = urllib.parse.urlsplit(self.name).path if is_url(self.name) else self.name
        path = PurePosixPath(name.lower())
        if path.suffix == ".gz":
            path = path.with_suffix("")
        return path.suffix

    @cached_property
    def gzipped(self) -> bool:
        """Whether the file starts with the gzip magic bytes."""
        with self._reading():
            with self.path.open("rb") as handle:
                return handle.read(2) == GZIP_MAGIC

    @cached_property
    def head(self) -> bytes:
        """The first ``HEAD_BYTES`` of the (decompressed) content."""
        with self._reading(), self.open_binary() as stream:
            return stream.read(HEAD_BYTES)

    @cached_property
    def text_start(self) -> str:
        """The first non-blank character of the content (``""`` when there is none)."""
        start = self.head.lstrip(b"\xef\xbb\xbf \t\r\n")
        return start[:1].decode("latin-1")

    @cached_property
    def delimiter(self) -> str:
        """The CSV delimiter: a tab for ``.tsv``, else sniffed from the first bytes."""
        if self.suffix == ".tsv":
            return "\t"
        try:
            return csv.Sniffer().sniff(self._head_text(), delimiters=_DELIMITERS).delimiter
        except csv.Error:
            return ","

    @cached_property
    def header(self) -> tuple[str, ...]:
        """The first row read as CSV with :attr:`delimiter` (stripped cells)."""
        rows = csv.reader(io.StringIO(self._head_text()), delimiter=self.delimiter)
        first = next(rows, [])
        return tuple(cell.strip() for cell in first)

    @cached_property
    def xml_root(self) -> str:
        """The root element's local name when the content is XML, else ``""``.

        Parsed with the defused reader, so an unsafe DOCTYPE is refused here already.
        """
        if self.text_start != "<":
            return ""
        with self._reading(), self.open_binary() as stream:
            return XmlEvents(stream, self.name).root

    def resolve_image(self, value: str) -> str:
        """An image reference made absolute against :attr:`base`."""
        return ImageResolver(self.base)(value)

    def open_binary(self) -> BinaryIO:
        """The content as bytes, decompressed on the fly when gzipped."""
        if self.gzipped:
            return cast(BinaryIO, gzip.open(self.path, "rb"))
        return self.path.open("rb")

    def open_text(self) -> TextIO:
        """The content as UTF-8 text (a BOM skipped), newlines left to the csv module."""
        return io.TextIOWrapper(self.open_binary(), encoding="utf-8-sig", newline="")

    def _head_text(self) -> str:
        decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        return decoder.decode(self.head)  # an incomplete last character is held back

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise FeedError(f"{self.name}: broken gzip data: {exc}") from exc
        except OSError as exc:
            raise CatalogError(f"cannot read {self.name}: {exc.strerror or exc}") from exc


@contextlib.contextmanager
def downloaded(
    url: str, settings: FetchSettings | None, on_problem: ProblemSink | None = None
) -> Iterator[CatalogFile]:
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
        yield CatalogFile(path=dest, name=url, base=url, on_problem=on_problem)
