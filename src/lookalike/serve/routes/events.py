"""Impressions and clicks from the widget, into the event log (used by A/B tests).

The widget runs in a sandboxed iframe (an opaque origin), so it posts with ``Origin: null`` and
a ``text/plain`` body (a CORS "simple" request: no preflight); JSON bodies are accepted too.
Browsers may post only from the widget, this server's own pages or the shop's configured
origins. :func:`record_event` is the one place an event is built and stored.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Cookie, HTTPException, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from lookalike.ab.events import Event, EventLog
from lookalike.ab.variants import ShopExperiments
from lookalike.errors import ImageError
from lookalike.serve.deps import EventsDep, SettingsDep, StateDep
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


@router.post("/events", response_model=EventAccepted, status_code=202, openapi_extra=_BODY_DOC)
async def post_event(
    shop: str,
    request: Request,
    state: StateDep,
    settings: SettingsDep,
    events: EventsDep,
    visitor: Annotated[str | None, Query(max_length=128)] = None,
    lk_visitor: Annotated[str | None, Cookie(max_length=128)] = None,
) -> dict[str, object]:
    """Record an impression or a click (202; ``recorded`` false for duplicates and bots)."""
    state.registry.info(shop)  # 404 for an unknown shop
    if not _origin_allowed(request, shop, settings):
        raise HTTPException(403, f"origin not allowed to post events for shop {shop!r}")
    try:
        raw = await read_limited(request, MAX_EVENT_BYTES)
    except ImageError as exc:
        raise HTTPException(413, f"an event is at most {MAX_EVENT_BYTES} bytes") from exc
    try:
        body = EventIn.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        detail = (
            exc.errors(include_url=False, include_context=False, include_input=False)
            if isinstance(exc, ValidationError)
            else f"not JSON: {exc}"
        )
        raise HTTPException(422, detail) from exc
    # SQLite with synchronous=FULL waits for the disk: keep it off the event loop.
    recorded, event_id = await run_in_threadpool(
        record_event,
        events,
        shop,
        body,
        user_agent=request.headers.get("user-agent", ""),
        visitor=visitor or lk_visitor or "",
        experiments=state.experiments[shop],
    )
    return {"recorded": recorded, "event_id": event_id}
