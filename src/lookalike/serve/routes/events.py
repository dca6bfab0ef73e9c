"""Impressions and clicks from the widget, into the event log (used by A/B tests).

The widget runs in a sandboxed iframe (an opaque origin), so it posts with ``Origin: null`` and
a ``text/plain`` body (a CORS "simple" request: no preflight); JSON bodies are accepted too.
Browsers may post only from the widget, this server's own pages or the shop's configured
origins. :func:`record_event` is the one place an event is built and stored.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Cookie, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from lookalike.ab.events import Event, EventLog
from lookalike.ab.tokens import RenderToken, TokenError, shown_hash
from lookalike.ab.variants import ShopExperiments
from lookalike.errors import ImageError
from lookalike.serve.bodies import clip_errors, parse_json
from lookalike.serve.deps import EventsDep, SettingsDep, StateDep, key_allows
from lookalike.serve.schemas import EventAccepted, EventIn
from lookalike.serve.settings import ServeSettings
from lookalike.serve.uploads import read_limited

__all__ = ["router", "record_event", "VISITOR_COOKIE", "MAX_EVENT_BYTES"]

router = APIRouter(prefix="/v1/shops/{shop}", tags=["events"])

VISITOR_COOKIE = "lk_visitor"
MAX_EVENT_BYTES = 16 * 1024


def _origin_allowed(request: Request, shop: str, settings: ServeSettings) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":  # not a browser, or the sandboxed widget
        return True
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    return origin.rstrip("/") in (own, *settings.origins_for(shop))


def record_event(
    log: EventLog,
    shop: str,
    body: EventIn,
    *,
    user_agent: str,
    visitor: str,
    experiments: ShopExperiments | None = None,
) -> tuple[bool, str]:
    """Store one event; ``(recorded, event_id)``, ``recorded`` false for a duplicate or a bot.

    ``visitor`` is the widget's visitor id when the body carries none. A client that sends no
    ``event_id`` gets a random one (its retries are then not de-duplicated). With
    ``experiments``, the event keeps its experiment and variant only when they are the
    visitor's current assignment (a client cannot credit a variant it was not shown).
    """
    visitor = body.visitor or visitor
    experiment, variant = body.experiment, body.variant
    if experiments is not None:
        experiment, variant = experiments.attribute(experiment, variant, visitor)
    event = Event(
        type=body.type,
        shop=shop,
        visitor=visitor,
        experiment=experiment,
        variant=variant,
        product_id=body.product_id,
        target_id=body.target_id,
        position=body.position,
        shown=list(body.shown),
        user_agent=user_agent,
        source=body.source,
        event_id=body.event_id,
    )
    return log.record(event), event.event_id


_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": EventIn.model_json_schema()},
            "text/plain": {"schema": {"type": "string", "description": "The same JSON."}},
        },
    }
}


def _client_ip(request: Request) -> str:
    # The socket's peer: X-Forwarded-For is only honoured when uvicorn is told to trust a
    # proxy (LOOKALIKE_TRUST_PROXY_HEADERS), in which case uvicorn rewrites the client here.
    return request.client.host if request.client else ""


def check_token(secret: bytes, shop: str, body: EventIn, visitor: str) -> EventIn:
    """The event as the render token allows it: the visitor, experiment, variant and event id
    come from the token (one impression per render, one click per position), the products
    must be those the render showed. ``TokenError`` otherwise."""
    token = RenderToken.decode(secret, body.token)
    if token.shop != shop or (visitor or token.visitor) != token.visitor:
        raise TokenError("token_mismatch")
    if shown_hash(body.shown) != token.shown:
        raise TokenError("token_mismatch")
    if body.type == "click":
        position = body.position or 0
        if not 1 <= position <= len(body.shown) or body.shown[position - 1] != body.target_id:
            raise TokenError("token_mismatch")
        event_id = Event.stable_id(shop, "click", token.render, position)
    else:
        event_id = Event.stable_id(shop, "impression", token.render)
    return body.model_copy(
        update={
            "visitor": token.visitor,
            "experiment": token.experiment,
            "variant": token.variant,
            "product_id": token.product_id,
            "event_id": event_id,
        }
    )


def _refused(events: EventLog, shop: str, reason: str, status: int) -> JSONResponse:
    events.reject(shop, reason)
    headers = {"Retry-After": "60"} if status == 429 else {}
    body = {"detail": f"event refused: {reason}", "reason": reason}
    return JSONResponse(body, status_code=status, headers=headers)


@router.post(
    "/events",
    response_model=EventAccepted,
    status_code=202,
    openapi_extra=_BODY_DOC,
    responses={403: {}, 429: {}},
)
async def post_event(
    shop: str,
    request: Request,
    state: StateDep,
    settings: SettingsDep,
    events: EventsDep,
    visitor: Annotated[str | None, Query(max_length=128)] = None,
    lk_visitor: Annotated[str | None, Cookie(max_length=128)] = None,
) -> Any:
    """Record an impression or a click (202; ``recorded`` false for duplicates and bots).

    Browsers send the token of the widget render they report (403 without a valid one unless
    the request carries the shop's key); 429 past the per-visitor / per-address limits.
    Every refusal is counted by reason in the shop's A/B report.
    """
    state.registry.info(shop)  # 404 for an unknown shop
    if not _origin_allowed(request, shop, settings):
        raise HTTPException(403, f"origin not allowed to post events for shop {shop!r}")
    try:
        raw = await read_limited(request, MAX_EVENT_BYTES)
    except ImageError as exc:
        raise HTTPException(413, f"an event is at most {MAX_EVENT_BYTES} bytes") from exc
    try:
        body = EventIn.model_validate(parse_json(raw, max_depth=settings.max_json_depth))
    except ValidationError as exc:
        raise HTTPException(422, clip_errors(exc.errors(include_url=False))) from exc
    visitor_id = body.visitor or visitor or lk_visitor or ""
    if not key_allows(settings, shop, request.headers.get("x-api-key", "")):
        if settings.require_event_token:
            try:
                body = check_token(state.secret, shop, body, visitor_id)
            except TokenError as exc:
                return _refused(events, shop, "no_token" if not body.token else exc.reason, 403)
            visitor_id = body.visitor
        refusal = state.limiter.check(visitor_id, _client_ip(request))
        if refusal is not None:
            return _refused(events, shop, refusal, 429)
    # SQLite with synchronous=FULL waits for the disk: keep it off the event loop.
    recorded, event_id = await run_in_threadpool(
        record_event,
        events,
        shop,
        body,
        user_agent=request.headers.get("user-agent", ""),
        visitor=visitor_id,
        experiments=state.experiments[shop],
    )
    return {"recorded": recorded, "event_id": event_id}
