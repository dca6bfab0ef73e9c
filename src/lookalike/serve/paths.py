"""Ids with ``/`` in URL paths. Starlette decodes ``%2F`` before routing, so a product id
such as ``shoes/red.jpg`` (the folder reader makes them) would split into two path segments
and miss its route. This middleware routes on the raw path instead: each segment is decoded,
then only ``%`` and ``/`` are escaped again, so a segment stays one segment; the routes turn
it back into the id with :func:`unescape_segment`."""

from __future__ import annotations

from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["EncodedSlashMiddleware", "unescape_segment", "ENCODED_PREFIXES"]

ENCODED_PREFIXES = ("/v1/shops/",)


def _segment(raw: str) -> str:
    return unquote(raw, errors="surrogateescape").replace("%", "%25").replace("/", "%2F")


def unescape_segment(value: str) -> str:
    """The id a path segment carried (``%2F`` -> ``/``, ``%25`` -> ``%``)."""
    return unquote(value, errors="surrogateescape")


class EncodedSlashMiddleware:
    """Pure ASGI middleware rewriting ``scope["path"]`` of API paths from ``raw_path``."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") if scope["type"] == "http" else None
        if raw and scope["path"].startswith(ENCODED_PREFIXES):
            text = raw.decode("latin-1").split("?", 1)[0]
            # In place: outer middleware (metrics) reads the matched route from this same dict.
            scope["path"] = "/".join(_segment(part) for part in text.split("/"))
        await self.app(scope, receive, send)
