"""The browse page: server-rendered HTML to look at a shop's recommendations (no JavaScript).

Pick a random product, search by id or title, see a product with its nearest products and a
side-by-side top 5 per distance metric, or upload a photo (a plain form POST).
"""

from __future__ import annotations

import base64
import io
import random
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from lookalike.errors import NotFoundError
from lookalike.recommend.query import SimilarQuery
from lookalike.recommend.similar import Recommender
from lookalike.recommend.steer import resolve
from lookalike.serve import queries
from lookalike.serve.deps import SettingsDep, ShopDep, StateDep
from lookalike.serve.templating import templates
from lookalike.serve.uploads import image_from_request

__all__ = ["router", "COMPARE_TOP"]

router = APIRouter(include_in_schema=False)

BROWSE_K = 12
COMPARE_TOP = 5
PAGE_SIZE = 24


def _page(
    request: Request, rec: Recommender, shop: str, template: str, **context: Any
) -> HTMLResponse:
    state = request.app.state.lookalike
    return templates.TemplateResponse(
        request,
        template,
        {
            "shop": shop,
            "shops": state.registry.names,
            "products_total": rec.store.count(),
            **context,
        },
    )


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
def home(state: StateDep, request: Request) -> Any:
    """The first shop's catalog page, served here (200, HEAD too) so ``curl -I /`` checks it."""
    shop = state.registry.names[0]
    with state.registry.borrow(shop) as rec:
        return _catalog_page(request, rec, shop, query="", page=1)


@router.get("/browse/{shop}/random")
def random_product(shop: str, rec: ShopDep) -> RedirectResponse:
    """A random product that has recommendations."""
    ids = rec.neighbors.ids or rec.store.ids()
    target = f"/browse/{quote(shop)}"
    if ids:
        target += f"?id={quote(random.choice(ids), safe='')}"
    return RedirectResponse(target, status_code=303)


@router.api_route("/browse/{shop}", methods=["GET", "HEAD"], response_class=HTMLResponse)
def browse(
    shop: str,
    rec: ShopDep,
    request: Request,
    id: Annotated[str | None, Query(max_length=512)] = None,
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Any:
    """A product and its nearest products, or a page of the catalog (filtered by ``q``).

    A product page takes every similar-products query parameter (``SimilarQuery``) over the
    shop's ``[browse]`` defaults: ``/browse/demo?id=SKU&category=same&in_stock=true``.
    """
    if id is not None:
        wanted = queries.query_from_params(request.query_params, request.query_params.getlist)
        return _product_page(request, rec, shop, id, wanted)
    query = q.strip()
    if query:
        try:  # an exact id goes straight to the product
            rec.product(query)
        except NotFoundError:
            pass
        else:
            return RedirectResponse(
                f"/browse/{quote(shop)}?id={quote(query, safe='')}", status_code=303
            )
        exact = rec.store.find_by_title(query)
        if len(exact) == 1:
            return RedirectResponse(
                f"/browse/{quote(shop)}?id={quote(exact[0].id, safe='')}", status_code=303
            )
    return _catalog_page(request, rec, shop, query=query, page=page)


def _catalog_page(
    request: Request, rec: Recommender, shop: str, *, query: str, page: int
) -> HTMLResponse:
    found = rec.store.search(query, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return _page(
        request,
        rec,
        shop,
        "browse_list.html",
        q=query,
        page=page,
        has_more=len(found) > PAGE_SIZE,
        products=found[:PAGE_SIZE],
    )


def _product_page(
    request: Request, rec: Recommender, shop: str, product_id: str, query: SimilarQuery
) -> Any:
    product = rec.product(product_id)
    query = resolve(rec, query, "browse")
    results, _ = queries.similar_to_product(rec, product_id, query, "browse")
    k = query.size
    # The three metrics side by side, under the same query (only the metric changes).
    columns = {
        metric: results[:COMPARE_TOP]
        if metric == (query.metric or "cosine") and k >= COMPARE_TOP
        else queries.similar_to_product(
            rec, product_id, query.model_copy(update={"metric": metric, "k": COMPARE_TOP}), "browse"
        )[0]
        for metric in queries.METRICS
    }
    return _page(
        request,
        rec,
        shop,
        "browse_product.html",
        q="",
        product=product,
        results=results,
        columns=columns,
        k=k,
    )


@router.post("/browse/{shop}/search-image", response_class=HTMLResponse)
async def search_image(
    shop: str, rec: ShopDep, settings: SettingsDep, state: StateDep, request: Request
) -> Any:
    """Results for an uploaded photo (multipart form, field ``image``)."""
    data = await image_from_request(request, settings)
    query = queries.query_from_params(request.query_params, request.query_params.getlist)
    results, thumbnail = await state.decoder.run_image(data, _search, rec, data, query)
    return _page(
        request,
        rec,
        shop,
        "browse_image.html",
        q="",
        results=results,
        thumbnail=thumbnail,
    )


def _search(rec: Recommender, data: bytes, query: SimilarQuery) -> tuple[list[Any], str]:
    """The results and the thumbnail of an upload: one decode-pool job."""
    return queries.similar_to_image(rec, data, query, "browse"), _thumbnail(data)


def _thumbnail(data: bytes, side: int = 320) -> str:
    """A small JPEG of the uploaded photo as a data: URL (nothing is stored on the server)."""
    from lookalike.embed.decode import load_image

    image = load_image(data)
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
