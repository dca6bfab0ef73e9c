"""The JSON API of a shop: similar products by id, page title, page URL or image; products."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Cookie, Depends, Path, Query, Request
from fastapi.responses import FileResponse, Response

from lookalike.ab.variants import Served, ShopExperiments
from lookalike.catalog.models import Product
from lookalike.errors import ConfigError, NotFoundError
from lookalike.recommend.plain import plain_template
from lookalike.recommend.query import SimilarQuery, SimilarQueryParams
from lookalike.recommend.similar import Recommendation, Recommender
from lookalike.serve import queries
from lookalike.serve.deps import ExperimentsDep, SettingsDep, ShopDep, StateDep
from lookalike.serve.fastpath import IMAGE_PREFIXES, render
from lookalike.serve.images import media_type, product_image_file
from lookalike.serve.jsoncache import ResponseCache
from lookalike.serve.paths import unescape_segment
from lookalike.serve.schemas import (
    ImageUrlSearch,
    ProductOut,
    ProductPage,
    SimilarResponse,
)
from lookalike.serve.uploads import image_from_request

__all__ = ["router", "image_url_for", "OptionsDep"]

router = APIRouter(prefix="/v1/shops/{shop}", tags=["products"])

PAGE_SIZE = 24
_CACHE = ResponseCache()
# a product with an image: its URL under this host tells the image URL prefix of a response
_ANY_IMAGE = Product(id="_", images=["_"])


def image_url_for(request: Request, shop: str) -> queries.ImageUrl:
    """Absolute URLs of product images on this server (``None`` for a product without one)."""
    # One route lookup per response, not per product: fill the id into a template URL.
    base = str(request.url_for("product_image", shop=shop, product_id="__id__"))
    prefix, _, suffix = base.partition("__id__")

    def url(product: Product) -> str | None:
        return f"{prefix}{quote(product.id, safe='')}{suffix}" if product.images else None

    return url


# One schema for every similar-products request (``SimilarQuery``): FastAPI reads it from the
# query string and documents each field with its description in the OpenAPI schema.
OptionsDep = Annotated[SimilarQueryParams, Query()]


def product_id_param(
    product_id: Annotated[str, Path(description="The product id, percent-encoded ('/' = %2F).")],
) -> str:
    """The product id of the path (``%2F`` in a segment is a ``/`` of the id)."""
    return unescape_segment(product_id)


ProductIdDep = Annotated[str, Depends(product_id_param)]


def _response(
    request: Request,
    shop: str,
    query: Product | None,
    results: list[Recommendation],
    query_model: SimilarQuery,
    source: str,
    served: Served | None = None,
) -> dict[str, Any]:
    image_url = image_url_for(request, shop)
    return {
        "shop": shop,
        "query": None if query is None else queries.product_json(query, image_url),
        "metric": query_model.metric or "cosine",
        "source": source,
        "results": [queries.recommendation_json(r, image_url) for r in results],
        "experiment": served.experiment if served else "",
        "variant": served.variant if served else "",
    }


def visitor_id(
    visitor: Annotated[
        str | None,
        Query(max_length=128, description="Visitor id: puts the request in the shop's A/B test."),
    ] = None,
    lk_visitor: Annotated[str | None, Cookie(max_length=128)] = None,
) -> str:
    """The visitor id of a request (query parameter, else the widget's cookie), or ''."""
    return visitor or lk_visitor or ""


VisitorDep = Annotated[str, Depends(visitor_id)]


def _similar(
    rec: Recommender,
    experiments: ShopExperiments,
    product_id: str,
    options: SimilarQuery,
    visitor: str,
) -> tuple[list[Recommendation], str, Served | None]:
    # An A/B variant decides plain requests of a known visitor; a filtered or non-default-metric
    # request asks for something specific, so it is answered as asked and not attributed.
    if visitor and queries.plain_query(options):
        served = experiments.similar(rec, product_id, visitor, options.size)
        if served.experiment:
            return served.recommendations, "variant", served
    results, source = queries.similar_to_product(rec, product_id, options)
    return results, source, None


@router.get("/products/{product_id}/similar", response_model=SimilarResponse)
def similar(
    shop: str,
    product_id: ProductIdDep,
    rec: ShopDep,
    options: OptionsDep,
    experiments: ExperimentsDep,
    visitor: VisitorDep,
    request: Request,
) -> Any:
    """The ``k`` products most similar to a catalog product (itself excluded).

    With a ``visitor`` id while the shop runs an A/B experiment, the visitor's variant picks
    the list (``source`` "variant", ``experiment`` and ``variant`` set; empty for the holdout).
    """
    if queries.plain_query(options) and (not visitor or experiments.assign(visitor) is None):
        template = plain_template(rec, product_id, options.k)  # stored by the build
        if template is not None:
            body = render(template, *IMAGE_PREFIXES(request, shop))
            return Response(body, media_type="application/json")

        # Always the same answer: serialise it once, then send the bytes (no pydantic work).
        def build() -> bytes:
            product = rec.product(product_id)
            results, source = queries.similar_to_product(rec, product_id, options)
            body = _response(request, shop, product, results, options, source)
            return SimilarResponse.model_validate(body).model_dump_json().encode()

        # a synced product or a rules change makes a new answer: the version is in the key
        host = image_url_for(request, shop)(_ANY_IMAGE) or ""
        key = (product_id, options.size, f"{host}#{rec.version}")
        return Response(_CACHE.get_or_build(rec, key, build), media_type="application/json")
    product = rec.product(product_id)
    results, source, served = _similar(rec, experiments, product_id, options, visitor)
    return _response(request, shop, product, results, options, source, served)


@router.get("/similar", response_model=SimilarResponse)
def similar_by_page(
    shop: str,
    rec: ShopDep,
    options: OptionsDep,
    experiments: ExperimentsDep,
    visitor: VisitorDep,
    request: Request,
    title: Annotated[
        str | None, Query(max_length=1000, description="Product or page title.")
    ] = None,
    url: Annotated[str | None, Query(max_length=4096, description="Product page URL.")] = None,
) -> dict[str, Any]:
    """Similar products for the product a page shows, found by its title or its URL."""
    if (title is None) == (url is None):
        raise ConfigError("give exactly one of title= or url=")
    product = queries.find_by_title(rec, title) if title is not None else None
    if product is None:
        product = queries.find_by_url(rec, url or "")
    results, source, served = _similar(rec, experiments, product.id, options, visitor)
    return _response(request, shop, product, results, options, source, served)


_SEARCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "image": {"type": "string", "format": "binary"},
                        "url": {"type": "string"},
                    },
                }
            },
            "application/json": {"schema": ImageUrlSearch.model_json_schema()},
        },
    }
}


@router.post("/search", response_model=SimilarResponse, openapi_extra=_SEARCH_BODY)
async def search_by_image(
    shop: str,
    rec: ShopDep,
    settings: SettingsDep,
    state: StateDep,
    options: OptionsDep,
    request: Request,
) -> dict[str, Any]:
    """Products similar to a new photo: an upload (field ``image``) or an image URL (``url``).
    ``category=same`` has no product to compare with here; a list of categories works.

    413 when the image is over the size limit, 415 when it is not an image, 422 for a URL this
    server may not fetch, 502 when the URL's server fails, 503 (with ``Retry-After``) when
    every decode slot is taken. Size limits are checked from the image header.
    """
    data = await image_from_request(request, settings)
    results = await state.decoder.run_image(data, queries.similar_to_image, rec, data, options)
    return _response(request, shop, None, results, options, "image")


@router.get("/products/{product_id}", response_model=ProductOut)
def product(shop: str, product_id: ProductIdDep, rec: ShopDep, request: Request) -> dict[str, Any]:
    """One product."""
    return queries.product_json(rec.product(product_id), image_url_for(request, shop))


@router.get("/products", response_model=ProductPage)
def products(
    shop: str,
    rec: ShopDep,
    request: Request,
    query: Annotated[str, Query(max_length=200, description="Id or title substring.")] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = PAGE_SIZE,
) -> dict[str, Any]:
    """Products whose id or title contains ``query``, in catalog order, paged."""
    found = rec.search_products(query, limit=page_size + 1, offset=(page - 1) * page_size)
    image_url = image_url_for(request, shop)
    return {
        "shop": shop,
        "query": query,
        "page": page,
        "page_size": page_size,
        "has_more": len(found) > page_size,
        "items": [queries.product_json(p, image_url) for p in found[:page_size]],
    }


@router.get(
    "/products/{product_id}/image",
    response_class=FileResponse,
    name="product_image",
    responses={200: {"content": {"image/jpeg": {}}}},
)
def product_image(product_id: ProductIdDep, rec: ShopDep) -> FileResponse:
    """The product's main image: a product synced since the build, else the cached copy the
    build decoded; never a path taken from the catalog."""
    path = rec.overlay.image_file(product_id)  # uploaded through catalog sync
    if path is None or not path.is_file():
        path = product_image_file(rec.workspace, rec.store, rec.product(product_id))
    kind = media_type(path) if path is not None else None
    if path is None or kind is None:
        raise NotFoundError(f"product {product_id!r} has no image on this server")
    return FileResponse(
        path,
        media_type=kind,
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
