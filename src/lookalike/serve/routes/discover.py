"""More like these (examples query) and the duplicate-listing report of a shop."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from lookalike.recommend.duplicates import find_duplicates
from lookalike.recommend.examples import recommend_from_examples
from lookalike.recommend.exclusions import DEFAULT_NEAR_DUPLICATE
from lookalike.recommend.similar import Recommender
from lookalike.serve import queries
from lookalike.serve.deps import AdminDep, SettingsDep, ShopDep, StateDep
from lookalike.serve.routes.api import OptionsDep, image_url_for
from lookalike.serve.schemas import SimilarResponse
from lookalike.serve.settings import ServeSettings
from lookalike.serve.templating import templates
from lookalike.serve.uploads import fetch_image

__all__ = ["router"]

router = APIRouter(prefix="/v1/shops/{shop}")

MAX_EXAMPLES = 50


class ExamplesIn(BaseModel):
    """Positive and negative examples: catalog product ids and/or image URLs."""

    positive: list[str] = Field(default_factory=list, max_length=MAX_EXAMPLES)
    negative: list[str] = Field(default_factory=list, max_length=MAX_EXAMPLES)
    positive_images: list[str] = Field(
        default_factory=list, max_length=5, description="Image URLs to fetch as positives."
    )
    negative_images: list[str] = Field(
        default_factory=list, max_length=5, description="Image URLs to fetch as negatives."
    )
    strategy: str = Field(
        "average_vector",
        description="average_vector (one query vector: avg(pos) + (avg(pos) - avg(neg))) or "
        "best_score (each product's best positive cosine; closer to a negative: sinks).",
    )


def _examples(
    rec: Recommender, body: ExamplesIn, options: Any, settings: ServeSettings
) -> list[Any]:
    pos = [rec.embed_image(fetch_image(u, settings)) for u in body.positive_images]
    neg = [rec.embed_image(fetch_image(u, settings)) for u in body.negative_images]
    return recommend_from_examples(
        rec,
        options,
        positive=body.positive,
        negative=body.negative,
        positive_images=pos,
        negative_images=neg,
        strategy=body.strategy,
    )


@router.post("/recommend", response_model=SimilarResponse, tags=["products"])
async def recommend(
    shop: str,
    rec: ShopDep,
    settings: SettingsDep,
    options: OptionsDep,
    request: Request,
    body: Annotated[ExamplesIn, Body()],
) -> dict[str, Any]:
    """Products like the ``positive`` examples and unlike the ``negative`` ones (ids and/or
    image URLs), with the same query parameters (filters, k, threshold) as ``/similar``."""
    results = await run_in_threadpool(_examples, rec, body, options, settings)
    image_url = image_url_for(request, shop)
    return {
        "shop": shop,
        "query": None,
        "metric": "cosine",
        "source": "index",
        "results": [queries.recommendation_json(r, image_url) for r in results],
        "experiment": "",
        "variant": "",
    }


Threshold = Annotated[
    float, Query(ge=0, le=1, description="Cosine from which two photos count as the same.")
]


def _report(state: Any, shop: str, threshold: float) -> list[dict[str, Any]]:
    with state.registry.borrow(shop) as rec:
        return [c.to_dict() for c in find_duplicates(rec, threshold)]


@router.get("/duplicates", tags=["operations"])
async def duplicates(
    shop: AdminDep, state: StateDep, threshold: Threshold = DEFAULT_NEAR_DUPLICATE
) -> dict[str, Any]:
    """Clusters of products that show the same or a near-identical photo under different ids."""
    clusters = await run_in_threadpool(_report, state, shop, threshold)
    return {"shop": shop, "threshold": threshold, "clusters": clusters}


@router.get("/duplicates.html", response_class=HTMLResponse, tags=["operations"])
async def duplicates_page(
    shop: AdminDep,
    state: StateDep,
    request: Request,
    threshold: Threshold = DEFAULT_NEAR_DUPLICATE,
) -> HTMLResponse:
    """The duplicate-listing report as a page: one image grid per cluster."""
    clusters = await run_in_threadpool(_report, state, shop, threshold)
    image_url = str(request.url_for("product_image", shop=shop, product_id="__id__"))
    return templates.TemplateResponse(
        request,
        "duplicates.html",
        {"shop": shop, "threshold": threshold, "clusters": clusters, "image_url": image_url},
    )
