"""The A/B report of a shop's experiment as a page (admin: the shop's key or the admin key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from lookalike.ab.report import render_html, render_png
from lookalike.ab.reporting import collect_report
from lookalike.serve.deps import AdminDep, StateDep

__all__ = ["router"]

router = APIRouter(prefix="/v1/shops/{shop}", tags=["a/b tests"])


@router.get("/ab", response_class=HTMLResponse, response_model=None)
async def ab_report(
    shop: AdminDep,
    state: StateDep,
    experiment: Annotated[
        str | None, Query(max_length=64, description="Default: the active or latest one.")
    ] = None,
    format: Annotated[str, Query(pattern="^(html|json)$")] = "html",
) -> HTMLResponse | JSONResponse:
    """Per variant impressions, clicks, CTR with 95% CI, lift, p-value, P(beat), sample size,
    and the CTR-over-time plot, from the service's own event log. ``format=json`` for data."""
    root = state.registry.info(shop).root
    report = await run_in_threadpool(collect_report, root, experiment, events=state.events)
    if format == "json":
        return JSONResponse(report.to_dict(), headers={"Cache-Control": "no-store"})
    png = await run_in_threadpool(render_png, report)  # matplotlib: off the event loop
    return HTMLResponse(render_html(report, png), headers={"Cache-Control": "no-store"})
