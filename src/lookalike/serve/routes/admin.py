"""Operations: health, Prometheus metrics, and per-shop admin (reload, stats) behind a key."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from lookalike.serve.deps import AdminDep, StateDep
from lookalike.serve.schemas import Health, ReloadResult, ShopStats

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz(state: StateDep) -> dict[str, object]:
    """Liveness: the process answers and lists its shops."""
    return {"status": "ok", "shops": state.registry.names}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(state: StateDep) -> PlainTextResponse:
    """Prometheus text format: requests, latency histogram, index size per shop."""
    return PlainTextResponse(
        state.metrics.render(state.index_sizes()),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )


@router.post("/v1/shops/{shop}/reload", response_model=ReloadResult)
async def reload(shop: AdminDep, state: StateDep) -> dict[str, object]:
    """Pick up a rebuilt workspace without downtime (requests in flight finish on the old one)."""
    info = await run_in_threadpool(state.registry.reload, shop)
    with state.registry.borrow(shop) as rec:
        vectors = len(rec.vectors)
    return {"shop": shop, "vectors": vectors, "loaded_at": info.loaded_at, "reloads": info.reloads}


@router.get("/v1/shops/{shop}/stats", response_model=ShopStats)
def stats(shop: AdminDep, state: StateDep) -> dict[str, object]:
    """What the shop serves: counts, model, build time, reloads."""
    info = state.registry.info(shop)
    with state.registry.borrow(shop) as rec:
        return {
            "shop": shop,
            "workspace": str(info.root),
            "model": str(rec.manifest.get("model", "")),
            "products": rec.store.count(),
            "vectors": len(rec.vectors),
            "k": rec.neighbors.k,
            "built": rec.manifest.get("created"),
            "loaded_at": info.loaded_at,
            "reloads": info.reloads,
            "catalog": rec.store.stats(),
        }
