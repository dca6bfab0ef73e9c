"""Plain similar requests answered with the bytes the build stored, before FastAPI's routing.

``GET /v1/shops/{shop}/products/{id}/similar`` with nothing but ``k`` (or nothing) in the query
string and no visitor cookie gets the same answer every time: the stored JSON
(``recommend.answerfile``) with the request's shop and image-URL prefix filled in. This
middleware sends it without dependency solving, pydantic models or a thread hop; anything else
(another parameter, a visitor, an unknown shop or product, rules or synced changes: see
``recommend.plain``) goes on to the routes, which answer it as before. It sits inside the
metrics, CORS and encoded-slash middleware, so those apply as to any route.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic_core import to_json
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from lookalike.errors import LookalikeError
from lookalike.recommend.answerfile import IMAGE_END, IMAGE_START
from lookalike.recommend.plain import plain_template
from lookalike.recommend.query import MAX_K
from lookalike.serve.paths import unescape_segment

__all__ = ["PlainSimilarMiddleware", "ImagePrefixes", "IMAGE_PREFIXES", "render", "ROUTE"]

ROUTE = "/v1/shops/{shop}/products/{product_id}/similar"
_PATH = re.compile(r"/v1/shops/([^/]+)/products/([^/]+)/similar")
_QUERY = re.compile(rb"(?:k=([0-9]{1,3}))?")
_CACHED_HOSTS = 1024  # distinct (scheme, host, root path, shop): bounded against Host spam


def render(template: bytes, shop: bytes, prefix: bytes, suffix: bytes) -> bytes:
    """A stored answer for one request: ``shop``, ``prefix`` and ``suffix`` JSON-escaped."""
    body = b'{"shop":' + shop + template
    return body.replace(IMAGE_START, prefix).replace(IMAGE_END, suffix)


class ImagePrefixes:
    """The JSON-escaped shop name and image-URL prefix and suffix of a request, as
    ``request.url_for("product_image", ...)`` makes them, remembered per host."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], tuple[bytes, bytes, bytes]] = {}

    def __call__(self, request: Request, shop: str) -> tuple[bytes, bytes, bytes]:
        """``(shop, prefix, suffix)`` for ``request``."""
        scope = request.scope
        key = (
            id(scope.get("app")),
            scope.get("scheme"),
            request.headers.get("host"),
            tuple(scope.get("server") or ()),
            scope.get("root_path"),
            shop,
        )
        found = self._cache.get(key)
        if found is None:
            url = str(request.url_for("product_image", shop=shop, product_id="__id__"))
            prefix, _, suffix = url.partition("__id__")
            found = (to_json(shop), to_json(prefix)[1:-1], to_json(suffix)[1:-1])
            if len(self._cache) >= _CACHED_HOSTS:
                self._cache.clear()
            self._cache[key] = found
        return found


IMAGE_PREFIXES = ImagePrefixes()


class PlainSimilarMiddleware:
    """Pure ASGI middleware serving plain similar requests from the stored answers."""

    def __init__(self, app: ASGIApp, route: Any, prefixes: ImagePrefixes = IMAGE_PREFIXES):
        self.app = app
        self.route = route  # the similar route, for the metrics' label
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self._answer(scope) if scope["type"] == "http" else None
        if body is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route  # the metrics label it as the route would
        headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _answer(self, scope: Scope) -> bytes | None:
        if scope["method"] != "GET":
            return None
        path = _PATH.fullmatch(scope["path"])
        query = _QUERY.fullmatch(scope["query_string"])
        if path is None or query is None or _has_visitor(scope):
            return None
        k = int(query.group(1)) if query.group(1) else None
        if k is not None and not 1 <= k <= MAX_K:
            return None  # the route says why
        shop, product_id = path.group(1), unescape_segment(path.group(2))
        state = scope["app"].state.lookalike
        try:
            with state.registry.borrow(shop) as rec:
                template = plain_template(rec, product_id, k)
        except LookalikeError:
            return None  # an unknown shop: the route answers 404
        if template is None:
            return None
        return render(template, *self.prefixes(Request(scope), shop))


def _has_visitor(scope: Scope) -> bool:
    """Whether the request carries the widget's visitor cookie (its A/B variant may answer)."""
    return any(name == b"cookie" and b"lk_visitor" in value for name, value in scope["headers"])
