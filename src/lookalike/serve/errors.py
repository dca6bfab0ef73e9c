"""The one place project exceptions become HTTP errors: JSON ``{"detail": ...}`` + status."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from lookalike.errors import (
    ConfigError,
    EmbedError,
    FetchError,
    ImageError,
    LookalikeError,
    NotFoundError,
    VectorIndexError,
    WorkspaceError,
)
from lookalike.serve.bodies import MAX_DETAIL_CHARS, clip_errors
from lookalike.serve.decoding import BusyError

__all__ = ["install_error_handlers", "status_for", "HTML_PREFIXES"]

# Pages people look at get an HTML error page; everything else gets JSON.
HTML_PREFIXES = ("/browse",)

log = logging.getLogger(__name__)

# A fetch failing because of what the client sent is their error; the remote failing is ours.
_FETCH_CLIENT_REASONS = {"bad_url": 422, "refused_address": 422, "too_large": 413}


def status_for(exc: LookalikeError) -> int:
    """The HTTP status for a project error."""
    if isinstance(exc, BusyError):
        return 503
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ImageError):
        return 413 if exc.reason == "too_large" else 415
    if isinstance(exc, FetchError):
        if exc.reason == "not_an_image":
            return 415
        return _FETCH_CLIENT_REASONS.get(exc.reason, 502)
    if isinstance(exc, ConfigError):
        return 422
    if isinstance(exc, WorkspaceError | VectorIndexError | EmbedError):
        return 503
    return 500


def install_error_handlers(app: FastAPI) -> None:
    """Map every :class:`LookalikeError` to a JSON error response."""

    @app.exception_handler(LookalikeError)
    async def _lookalike_error(request: Request, exc: LookalikeError) -> Response:
        status = status_for(exc)
        if status >= 500:
            log.warning("%s %s -> %d: %s", request.method, request.url.path, status, exc)
        if request.url.path.startswith(HTML_PREFIXES):
            from lookalike.serve.templating import templates

            context = {"status": status, "title": HTTPStatus(status).phrase, "detail": str(exc)}
            return templates.TemplateResponse(request, "error.html", context, status_code=status)
        body: dict[str, object] = {"detail": str(exc)[:MAX_DETAIL_CHARS]}
        reason = getattr(exc, "reason", None)
        if reason:
            body["reason"] = reason
        headers = {}
        if isinstance(exc, BusyError):
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's own handler echoes every input in full (a 9 MB query comes back).
        return JSONResponse({"detail": clip_errors(exc.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail[:MAX_DETAIL_CHARS] if isinstance(exc.detail, str) else exc.detail
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)
