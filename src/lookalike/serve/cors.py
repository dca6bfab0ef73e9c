"""CORS per shop: a page may call ``/v1/shops/{shop}/...`` from a browser only when its origin is
configured for that shop (``LOOKALIKE_CORS_ORIGINS``). Starlette's CORSMiddleware has one origin
list for the whole app, which would let shop A's pages read shop B's API."""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ShopCORSMiddleware"]

_SHOP_PATH = re.compile(r"^/v1/shops/([^/]+)/")
_METHODS = "GET, POST, OPTIONS"
_HEADERS = "Content-Type, X-API-Key"


class ShopCORSMiddleware:
    """Adds CORS headers for allowed origins and answers preflight requests."""

    def __init__(self, app: ASGIApp, origins_for: Callable[[str], list[str]]):
        self.app = app
        self.origins_for = origins_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _SHOP_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        origin = Headers(scope=scope).get("origin") if match else None
        if match is None or origin is None:
            await self.app(scope, receive, send)
            return
        allowed = origin.rstrip("/") in self.origins_for(match.group(1))
        headers = Headers(scope=scope)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            if not allowed:
                await PlainTextResponse("origin not allowed", 403)(scope, receive, send)
                return
            preflight = PlainTextResponse(
                "",
                204,
                headers={
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": _METHODS,
                    "Access-Control-Allow-Headers": _HEADERS,
                    "Access-Control-Max-Age": "600",
                    "Vary": "Origin",
                },
            )
            await preflight(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.add_vary_header("Origin")
                if allowed:
                    out["Access-Control-Allow-Origin"] = origin
            await send(message)

        await self.app(scope, receive, send_with_cors)
