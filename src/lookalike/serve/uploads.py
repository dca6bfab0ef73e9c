"""The image of an image search: an uploaded file (multipart) or a URL (JSON or form field),
read with the size limit enforced while the body streams in."""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message

from lookalike.catalog.http import FetchSettings
from lookalike.catalog.oneshot import fetch_bytes
from lookalike.errors import ConfigError, ImageError, quote_input
from lookalike.serve.bodies import parse_json
from lookalike.serve.settings import ServeSettings
from lookalike.textutil import is_url

__all__ = [
    "read_limited",
    "image_from_request",
    "fetch_image",
    "IMAGE_FIELD",
    "URL_FIELD",
    "UPLOAD_OVERHEAD",
]

IMAGE_FIELD = "image"
URL_FIELD = "url"
# Room for multipart boundaries, part headers and a URL field around the image itself.
UPLOAD_OVERHEAD = 64 * 1024


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body; ``ImageError(reason="too_large")`` as soon as it passes ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ImageError(
            f"the request body is {int(declared)} bytes, over the {limit}-byte limit",
            reason="too_large",
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:  # a lying or absent Content-Length stops here
            raise ImageError(f"the request body is over the {limit}-byte limit", reason="too_large")
    return bytes(body)


def _replay(request: Request, body: bytes) -> Request:
    """A request over the same scope whose body is ``body`` (already read)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


def fetch_image(url: str, settings: ServeSettings) -> bytes:
    """An image URL's bytes through the project's fetcher (size cap, timeouts, private
    addresses refused unless ``allow_private``)."""
    if not url.lower().startswith(("http://", "https://")):
        raise ConfigError(f"the image URL must be http(s), got {url[:200]!r}")
    fetch_settings = FetchSettings(
        allow_private=settings.allow_private,
        timeout=settings.fetch_timeout,
        retries=1,
        max_bytes=settings.max_upload_bytes,
    )
    return fetch_bytes(url, settings=fetch_settings)


async def image_from_request(request: Request, settings: ServeSettings) -> bytes:
    """The image bytes of an image search request.

    Accepts ``multipart/form-data`` with a file field ``image`` (or a text field ``url``),
    ``application/x-www-form-urlencoded`` with ``url``, or JSON ``{"url": ...}``. URLs are
    fetched with the project's fetcher (size cap, timeouts, private addresses refused unless
    ``allow_private``). Raises ``ConfigError`` (422) for a request without an image.
    """
    from starlette.concurrency import run_in_threadpool

    limit = settings.max_upload_bytes
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_limited(request, limit + UPLOAD_OVERHEAD)
    url: object = None
    if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        async with _replay(request, body).form(max_files=1, max_fields=8) as form:
            upload = form.get(IMAGE_FIELD)
            if isinstance(upload, UploadFile) and (upload.filename or upload.size):
                data = await upload.read(limit + 1)
                if len(data) > limit:
                    raise ImageError(
                        f"the image is over the {limit}-byte limit", reason="too_large"
                    )
                if not data:
                    raise ImageError("the uploaded file is empty", reason="not_an_image")
                return data
            url = form.get(URL_FIELD)
    elif kind == "application/json":
        payload = parse_json(body, max_depth=settings.max_json_depth)
        url = payload.get(URL_FIELD) if isinstance(payload, dict) else None
    else:
        raise ConfigError(
            "send an image as multipart/form-data (field 'image') or an image URL as JSON or "
            f"a form field ('url'); got content type {quote_input(kind or 'none')}"
        )
    if not isinstance(url, str) or not url.strip():
        raise ConfigError("no image: send a file in field 'image' or an image URL in 'url'")
    url = url.strip()
    if not is_url(url):
        raise ConfigError(f"the image URL must be http(s), got {quote_input(url)}")
    return await run_in_threadpool(fetch_image, url, settings)
