"""The build's report (what happened, with every failure and its reason) and its manifest."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from lookalike.embed.head import Head
from lookalike.pipeline.options import BuildReport
from lookalike.pipeline.state import BuildState

__all__ = ["build_report", "build_manifest"]


def _failures(state: BuildState) -> list[dict[str, Any]]:
    """One entry per failed image source, with the products that use it."""
    failures: dict[str, dict[str, Any]] = {}
    for product in state.products:
        for source in product.images:
            image = state.images[source]
            if image.reason:
                entry = failures.setdefault(
                    source,
                    {
                        "source": source,
                        "reason": image.reason,
                        "http_status": image.http_status,
                        "error": image.error,
                        "products": [],
                    },
                )
                entry["products"].append(product.id)
    return list(failures.values())


def build_report(state: BuildState, model: str) -> BuildReport:
    """The report of a finished build."""
    assert state.diff is not None and state.vectors is not None
    used = state.used_images()
    images = state.images.values()
    return BuildReport(
        workspace=str(state.ws.root),
        catalog=state.source_name,
        model=model,
        products={
            "total": len(state.products),
            **state.diff.as_dict(),
            "with_vector": len(state.vectors),
            "without_image": sum(1 for p in state.products if not p.images),
        },
        images={
            "total": len(state.images),
            "ok": len(used),
            "failed": sum(1 for i in images if i.reason),
            "embedded": state.embedded,
            "cached": len(used) - state.embedded,
        },
        downloads=state.downloads,
        failures=_failures(state),
        stale=[{"source": i.source, "reason": i.stale} for i in images if i.stale],
        vectors=len(state.vectors),
        index=state.index.info if state.index is not None else {},
        hosts=state.hosts,
        titles=asdict(state.titles) if state.titles else {},
        seconds={k: round(v, 3) for k, v in state.timings.items()}
        | {"total": round(time.perf_counter() - state.started, 3)},
    )


def build_manifest(
    state: BuildState, model: str, key: str, dim: int, head: Head | None
) -> dict[str, Any]:
    """What a reader needs to know about the build: model, dimensions, K, index, defaults."""
    assert state.vectors is not None and state.index is not None
    options = state.options
    return {
        "shop": state.ws.shop,
        "model": model,
        "model_key": key,
        "precision": options.precision,
        "dim": head.dim if head is not None else dim,
        "head": head.record() if head is not None else None,
        "count": len(state.vectors),
        "products": len(state.products),
        "k": options.k,
        "aggregate": options.aggregate,
        "index": state.index.info["kind"],
        "index_recall_at_10": state.index.info["recall_at_10"],
        "index_compression": {"pca": options.pca, "quantize": options.quantize},
        # fitted on the catalog (pipeline/transform.py); image queries get the same
        "transform": dict(state.transform),
        "recommend": {
            "weights": options.weights.as_dict(),
            "exclude_group": options.exclude_group,
            "near_duplicate": options.near_duplicate,
            "near_duplicate_calibration": state.near_duplicate_calibration,
            "titles": options.titles,
        },
        "catalog": state.source_name,
        "engine": options.engine,
        "store": state.published,
        "sync_seq": state.sync_seq,  # catalog-sync changes folded in (the service skips them)
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
