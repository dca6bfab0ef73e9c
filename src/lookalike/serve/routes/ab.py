"""The A/B report of a shop's experiment as a page, for the shop's key or the admin key.

Programs send the key in the ``X-API-Key`` header. People open the page in a browser: without
a key it answers with a login form (401); posting the key there sets a signed, expiring,
HttpOnly session cookie scoped to this page, so the key never appears in a URL (or in the
access logs that record URLs).
"""

from __future__ import annotations

import html
import time
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from lookalike.ab.report import render_html, render_png
from lookalike.ab.reporting import collect_report
from lookalike.ab.tokens import TokenError, sign, verify
from lookalike.serve.deps import SettingsDep, StateDep, key_allows
from lookalike.serve.state import ServeState

__all__ = ["router", "SESSION_COOKIE"]

router = APIRouter(prefix="/v1/shops/{shop}", tags=["a/b tests"])

SESSION_COOKIE = "lk_ab_session"
_LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>A/B report: sign in</title><style>body{{font:16px system-ui,sans-serif;max-width:28em;
margin:4em auto;padding:0 1em}}input{{font:inherit;padding:.4em;width:100%;box-sizing:border-box;
margin:.4em 0}}.error{{color:#b00020}}</style></head><body>
<h1>A/B report of {shop}</h1><p class="error">{message}</p>
<form method="post" action="{action}"><label>Shop or admin key
<input type="password" name="key" autocomplete="current-password" required autofocus></label>
<input type="hidden" name="next" value="{next}"><input type="submit" value="Open the report">
</form></body></html>"""


def _page_path(shop: str) -> str:
    return f"/v1/shops/{shop}/ab"


def _login_page(shop: str, status: int, message: str = "", next_query: str = "") -> HTMLResponse:
    body = _LOGIN_PAGE.format(
        shop=html.escape(shop),
        message=html.escape(message),
        action=html.escape(_page_path(shop) + "/login"),
        next=html.escape(next_query),
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _session_ok(state: ServeState, shop: str, cookie: str | None) -> bool:
    if not cookie:
        return False
    try:
        payload = verify(state.secret, cookie)
    except TokenError:
        return False
    return payload.get("s") == shop and payload.get("k") == "ab"


@router.get("/ab", response_class=HTMLResponse, response_model=None, responses={401: {}})
async def ab_report(
    shop: str,
    request: Request,
    state: StateDep,
    settings: SettingsDep,
    experiment: Annotated[
        str | None, Query(max_length=64, description="Default: the active or latest one.")
    ] = None,
    format: Annotated[str, Query(pattern="^(html|json)$")] = "html",
) -> Response:
    """Per variant impressions, clicks, CTR with 95% CI, lift, p-value, P(beat), sample size,
    the CTR-over-time plot and the events rejected (by reason), from the service's own event
    log. ``format=json`` for data. Without a key or session: the login form (401)."""
    key = request.headers.get("x-api-key")
    if key is not None:
        if not key_allows(settings, shop, key):
            raise HTTPException(403, f"this key is not allowed to administer shop {shop!r}")
    elif not _session_ok(state, shop, request.cookies.get(SESSION_COOKIE)):
        if format == "json":
            raise HTTPException(401, "missing X-API-Key header", {"WWW-Authenticate": "ApiKey"})
        return _login_page(shop, 401, next_query=request.url.query)
    root = state.registry.info(shop).root  # 404 for an unknown shop, after the key check
    report = await run_in_threadpool(collect_report, root, experiment, events=state.events)
    if format == "json":
        return JSONResponse(report.to_dict(), headers={"Cache-Control": "no-store"})
    png = await run_in_threadpool(render_png, report)  # matplotlib: off the event loop
    return HTMLResponse(render_html(report, png), headers={"Cache-Control": "no-store"})


@router.post("/ab/login", response_class=HTMLResponse, response_model=None)
async def ab_login(
    shop: str,
    request: Request,
    state: StateDep,
    settings: SettingsDep,
    key: Annotated[str, Form(max_length=512)],
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    """Sign in to the A/B page with the shop's key (a form post, not a URL): a session cookie
    for this page only, then back to the report."""
    address = request.client.host if request.client else ""
    if not state.login_limiter.hit(address, time.time()):
        return _login_page(shop, 429, "too many attempts: wait a minute")
    if not key_allows(settings, shop, key):
        return _login_page(shop, 403, "this key is not allowed for this shop")
    state.registry.info(shop)
    target = _page_path(shop) + (f"?{next}" if next and "\n" not in next else "")
    response = RedirectResponse(target, status_code=303)
    token = sign(state.secret, {"s": shop, "k": "ab", "exp": time.time() + settings.ab_session_ttl})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.ab_session_ttl),
        path=_page_path(shop),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response
