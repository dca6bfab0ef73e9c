"""Request size and shape limits: a body cap on every request (413 JSON before the app reads
more than the cap), JSON with a nesting limit (422, never a RecursionError), and the error
texts that quote what the client sent cut to 200 characters."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lookalike.errors import QUOTE_LIMIT, ConfigError

__all__ = ["BodyLimitMiddleware", "parse_json", "json_depth", "clip_errors", "MAX_DETAIL_CHARS"]

MAX_DETAIL_CHARS = 1000  # the longest error text sent back, whatever it quotes


class _TooLarge(Exception):
    pass


def json_depth(value: object) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), without recursion."""
    depth, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth = max(depth, level)
        stack.extend((child, level + 1) for child in children)
    return depth


def parse_json(raw: bytes | str, *, max_depth: int) -> Any:
    """``json.loads`` with a nesting limit; ``ConfigError`` (422) for bad or too-deep JSON."""
    try:
        value = json.loads(raw)
    except RecursionError as exc:
        raise ConfigError(f"the JSON is nested more than {max_depth} levels deep") from exc
    except ValueError as exc:
        raise ConfigError(f"not JSON: {str(exc)[:QUOTE_LIMIT]}") from exc
    if json_depth(value) > max_depth:
        raise ConfigError(f"the JSON is nested more than {max_depth} levels deep")
    return value


def _clip(value: object) -> object:
    if isinstance(value, str) and len(value) > QUOTE_LIMIT:
        return value[:QUOTE_LIMIT] + f"... ({len(value)} characters)"
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    text = repr(value)
    return value if len(text) <= QUOTE_LIMIT else text[:QUOTE_LIMIT] + "..."


def clip_errors(errors: Any) -> list[dict[str, Any]]:
    """Pydantic/FastAPI validation errors with every quoted input cut to 200 characters."""
    out = []
    for error in errors:
        item = {k: v for k, v in dict(error).items() if k not in ("url", "ctx")}
        if "input" in item:
            item["input"] = _clip(item["input"])
        if isinstance(item.get("msg"), str):
            item["msg"] = item["msg"][:MAX_DETAIL_CHARS]
        out.append(item)
    return out


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps(
        {"detail": f"the request body is over the {limit}-byte limit", "reason": "too_large"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Pure ASGI middleware: ``limit_for(path)`` bytes at most per request body."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > limit:
            await _send_413(send, limit)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # a lying or absent Content-Length stops here
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_413(send, limit)
