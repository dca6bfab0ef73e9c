"""Small text rules used across the project, each written once: URLs, ``k=v`` lists, booleans,
and the real location of a path a user typed.

This module sits at the bottom layer: it imports nothing from lookalike but ``errors``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lookalike.errors import ConfigError

__all__ = [
    "FALSE_WORDS",
    "TRUE_WORDS",
    "error_text",
    "is_url",
    "parse_bool",
    "parse_pairs",
    "real_path",
    "split_pair",
]

_HTTP_URL = re.compile(r"^https?://", re.I)
# "<socket.socket fd=3 ...>", "<object at 0x7f...>": Python reprs that mean nothing to a user.
_OBJECT_REPR = re.compile(r"<[^<>]*\bat 0x[0-9a-fA-F]+>|<[\w.]+ object>")

# Words read as a boolean: option values ("on", "off") and the stock flags catalogs use.
TRUE_WORDS = frozenset(
    {"1", "true", "yes", "y", "t", "on", "in stock", "in_stock", "instock", "available", "да"}
)
FALSE_WORDS = frozenset(
    {
        "0",
        "false",
        "no",
        "n",
        "f",
        "off",
        "out of stock",
        "out_of_stock",
        "outofstock",
        "нет",
        "unavailable",
        "preorder",
        "discontinued",
    }
)


def is_url(value: object) -> bool:
    """Whether ``value`` is an http(s) URL string (leading spaces and letter case ignored)."""
    return isinstance(value, str) and bool(_HTTP_URL.match(value.strip()))


def parse_bool(value: Any, default: bool | None = None) -> bool:
    """Read ``"yes"``, ``"off"``, ``"in stock"``, ``0``, ``"3"`` (a count: ``> 0``) as a bool.

    An empty or unknown value gives ``default``; with no default it raises ``ValueError``
    (a ``ConfigError``) naming the value.
    """
    if isinstance(value, bool):
        return value
    text = "" if value is None else str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    try:
        return float(text) > 0
    except ValueError:
        pass
    if default is None:
        raise ConfigError(f"expected true or false, got {value!r}")
    return default


def parse_pairs(
    value: str | Iterable[str] | Mapping[Any, Any] | None,
    *,
    separator: str = ",",
    what: str = "key=value",
) -> dict[str, str]:
    """``"a=1,b=2"`` (or a list of ``"k=v"``, or a mapping) -> ``{"a": "1", "b": "2"}``.

    Keys and values are stripped; empty items are skipped; a later key wins. An item without
    ``=`` or with an empty key raises ``ConfigError`` saying ``what`` was expected.
    """
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k).strip(): str(v).strip() for k, v in value.items()}
    items = value.split(separator) if isinstance(value, str) else list(value)
    out: dict[str, str] = {}
    for item in items:
        if str(item).strip():
            key, val = split_pair(str(item), what=what)
            out[key] = val
    return out


def split_pair(text: str, *, what: str = "key=value") -> tuple[str, str]:
    """``" a = 1 "`` -> ``("a", "1")``; ``ConfigError`` (saying ``what`` was expected) without
    an ``=`` or with an empty key."""
    key, sep, val = text.strip().partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"expected {what}, got {text.strip()!r}")
    return key.strip(), val.strip()


def error_text(exc: BaseException) -> str:
    """An exception as a message for people: its text (the class name when it has none),
    without Python object reprs such as ``<... object at 0x7f...>``."""
    text = " ".join(str(exc).split())
    while isinstance(exc.__context__, BaseException) and not text:
        exc = exc.__context__
        text = " ".join(str(exc).split())
    text = " ".join(_OBJECT_REPR.sub("", text).split()).strip(" :;,")
    return text or type(exc).__name__


def real_path(path: str | Path) -> Path:
    """``path`` (``~`` expanded) made absolute with its symlinks followed, as ``Path.resolve``
    does; a symlink loop, which ``resolve`` raises as a bare RuntimeError, is a ConfigError
    naming the path."""
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError) as exc:
        raise ConfigError(f"cannot follow the path {path}: {exc}") from None
