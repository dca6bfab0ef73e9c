"""Streaming, defused XML: ``iterparse`` that never expands entities, loads a DTD or goes online.

A feed is untrusted input. lxml is configured so that entity references are never substituted,
no DTD is loaded and nothing is fetched from the network; on top of that (as defusedxml does),
a document whose DOCTYPE declares any entity is refused outright with a :class:`FeedError`
before a single product is read. A plain ``<!DOCTYPE yml_catalog SYSTEM "shops.dtd">``, which
real YML feeds carry, is accepted (and its DTD is not loaded).

Elements are handed out on their ``end`` event; callers clear what they have read with
:func:`release`, so memory stays bounded by one record, whatever the feed's size.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from lxml import etree

from lookalike.errors import FeedError

__all__ = ["PROLOGUE_PEEK", "XmlEvents", "local_name", "release", "text_of"]

# How much of the start of a feed is scanned for a DOCTYPE before lxml sees it.
PROLOGUE_PEEK = 64 * 1024
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.I)
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.I)
# defusedxml's rules as lxml parser options: no entity expansion, no network, no DTD, no
# unbounded trees; comments and processing instructions are dropped.
_SAFE_PARSING: dict[str, bool] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}


def local_name(tag: object) -> str:
    """``{namespace}name`` -> ``name``; comments and processing instructions -> ``""``."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def text_of(element: etree._Element | None) -> str:
    """The stripped text of ``element`` (``""`` when missing or empty)."""
    if element is None or element.text is None:
        return ""
    return element.text.strip()


def release(element: etree._Element) -> None:
    """Free a processed element and the siblings before it (keeps iterparse memory flat)."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


class _PeekingReader:
    """A binary stream whose first ``PROLOGUE_PEEK`` bytes were read ahead for inspection."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.head = stream.read(PROLOGUE_PEEK)
        self._offset = 0

    def read(self, size: int = -1) -> bytes:
        if self._offset < len(self.head):
            if size < 0:
                size = len(self.head) - self._offset
            chunk = self.head[self._offset : self._offset + size]
            self._offset += len(chunk)
            return chunk
        return self._stream.read(size)


def _check_prologue(head: bytes, name: str) -> None:
    """Refuse a DOCTYPE that declares entities (billion laughs, external entities)."""
    doctype = _DOCTYPE.search(head)
    if doctype is not None and _ENTITY_DECL.search(head, doctype.end()):
        raise FeedError(
            f"{name}: refused: the feed's DOCTYPE declares XML entities (entity expansion and "
            "external entities are not allowed in feeds)"
        )


class XmlEvents:
    """Iterate ``(event, element)`` of a feed safely; ``root`` is its root element's name.

    Errors become :class:`FeedError` with the line number. Events are ``start`` and ``end``.
    """

    def __init__(self, stream: BinaryIO, name: str) -> None:
        self.name = name
        reader = _PeekingReader(stream)
        _check_prologue(reader.head, name)
        self._events = etree.iterparse(reader, events=("start", "end"), **_SAFE_PARSING)
        first = self._next()
        if first is None:
            raise FeedError(f"{name}: the feed is empty")
        _, root = first
        self._check_dtd(root)
        self.root_element = root
        self.root = local_name(root.tag)

    def _next(self) -> tuple[str, etree._Element] | None:
        try:
            return next(self._events)
        except StopIteration:
            return None
        except etree.XMLSyntaxError as exc:
            line = exc.lineno if exc.lineno is not None else "?"
            raise FeedError(f"{self.name}: malformed XML at line {line}: {exc.msg}") from exc
        except etree.LxmlError as exc:
            raise FeedError(f"{self.name}: cannot parse the feed: {exc}") from exc

    def _check_dtd(self, root: etree._Element) -> None:
        # The byte scan above misses a DOCTYPE past the peek window or in another encoding:
        # lxml has parsed the internal subset by the first start event, so ask it as well.
        dtd = root.getroottree().docinfo.internalDTD
        if dtd is not None and any(True for _ in dtd.iterentities()):
            raise FeedError(
                f"{self.name}: refused: the feed's DOCTYPE declares XML entities (entity "
                "expansion and external entities are not allowed in feeds)"
            )

    def __iter__(self) -> Iterator[tuple[str, etree._Element]]:
        while True:
            item = self._next()
            if item is None:
                return
            yield item
