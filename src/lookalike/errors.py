"""The project's exception tree.

Per-item problems (one image that fails to download or decode) are recorded as data and
counted; these exceptions are for a whole operation that cannot go on. The CLI and the
service map them to a clear message (and an HTTP status), never a traceback.

LookalikeError
├── ConfigError          bad option or combination of options
├── CatalogError         catalog/feed cannot be read
│   └── FeedError        malformed or unsafe feed (XML entities, bad gzip, ...)
├── FetchError           a URL cannot be fetched (status, timeout, refused address, too large)
├── ImageError           bytes are not a usable image (corrupt, truncated, bomb, too large)
├── EmbedError           the model cannot be loaded, exported or run
├── VectorIndexError     the index/vector store is missing, inconsistent or incompatible
├── NotFoundError        unknown product, shop or title
└── WorkspaceError       the workspace folder is missing or was never built
"""

from __future__ import annotations

__all__ = [
    "LookalikeError",
    "ConfigError",
    "CatalogError",
    "FeedError",
    "FetchError",
    "ImageError",
    "EmbedError",
    "VectorIndexError",
    "NotFoundError",
    "WorkspaceError",
    "QUOTE_LIMIT",
    "quote_input",
]

QUOTE_LIMIT = 200


def quote_input(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr`` of untrusted input for an error message, cut to ``limit`` characters of the
    input (a 9 MB URL must not come back in a 9 MB error)."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"... ({len(text)} characters)"


class LookalikeError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(LookalikeError, ValueError):
    """An option or a combination of options is invalid."""


class CatalogError(LookalikeError):
    """A catalog file or folder cannot be read."""


class FeedError(CatalogError):
    """A product feed is malformed or unsafe."""


class FetchError(LookalikeError):
    """A URL could not be fetched; ``reason`` is a short machine-readable cause."""

    def __init__(self, message: str, *, reason: str = "error", status: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.status = status


class ImageError(LookalikeError):
    """Bytes that are not a usable image: corrupt, truncated, too large or a decompression bomb."""

    def __init__(self, message: str, *, reason: str = "not_an_image"):
        super().__init__(message)
        self.reason = reason


class EmbedError(LookalikeError):
    """The embedding model cannot be loaded, exported or run."""


class VectorIndexError(LookalikeError):
    """The vector store or index is missing, inconsistent or incompatible."""


class NotFoundError(LookalikeError, KeyError):
    """An unknown product, shop or title."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "not found"


class WorkspaceError(LookalikeError):
    """The workspace folder is missing or has not been built yet."""
