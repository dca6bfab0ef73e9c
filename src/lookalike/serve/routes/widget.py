"""The embeddable widget: ``/widget.js`` (the one line a shop pastes) and the iframe page.

``widget.js`` runs on the shop's page: it keeps a visitor id in the shop's localStorage and
inserts an iframe sandboxed without ``allow-same-origin``, so the strip can neither read nor be
read by the shop's page. The iframe page renders the strip, posts an impression and clicks to
the event endpoint and tells widget.js its height through ``postMessage``.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Cookie, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from lookalike.ab.events import Event
from lookalike.ab.experiments import HOLDOUT
from lookalike.ab.tokens import RenderToken, shown_hash
from lookalike.ab.variants import Served, ShopExperiments
from lookalike.catalog.models import Product
from lookalike.errors import ConfigError, NotFoundError
from lookalike.recommend.query import SimilarQuery
from lookalike.recommend.similar import Recommender
from lookalike.recommend.steer import resolve, similar_for_product
from lookalike.serve import queries
from lookalike.serve.deps import EventsDep, ExperimentsDep, SettingsDep, ShopDep, StateDep
from lookalike.serve.routes.api import image_url_for
from lookalike.serve.routes.events import VISITOR_COOKIE
from lookalike.serve.templating import STATIC_DIR, http_url, templates

__all__ = ["router"]

router = APIRouter(tags=["widget"])


@router.get("/widget.js", include_in_schema=False)
def widget_js() -> FileResponse:
    """The loader script shops embed."""
    return FileResponse(
        STATIC_DIR / "widget.js",
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


def _product_link(request: Request, shop: str, product: Product) -> str:
    if http_url(product.url):
        return product.url
    # No page in the catalog: the product's page on this server's browse view.
    return f"{request.base_url}browse/{quote(shop)}?id={quote(product.id, safe='')}"


def _widget_results(
    rec: Recommender,
    experiments: ShopExperiments,
    product: Product,
    raw: SimilarQuery,
    visitor_id: str,
) -> Served:
    """The visitor's A/B variant for a plain widget, else the shop-steered list."""
    query = resolve(rec, raw, "widget")
    if queries.plain_query(raw) and experiments.assign(visitor_id) is not None:
        served = experiments.similar(rec, product.id, visitor_id, query.size)
        if query.in_stock:  # a variant's list obeys the widget's stock default too
            kept = [r for r in served.recommendations if r.product.in_stock]
            served = Served(kept, served.experiment, served.variant)
        return served
    answer = similar_for_product(rec, product.id, raw, "widget")
    return Served(answer.results)


def _find_product(rec: Recommender, product_id: str | None, title: str | None) -> Product | None:
    """The page's product: by id, or by its title above the shop's confidence threshold (a
    page that is not a product page, "Contact us", finds none and shows nothing)."""
    try:
        if product_id:
            return rec.product(product_id)
        return queries.find_by_title(rec, title or "", rec.config.title_confidence)
    except NotFoundError:
        return None


class WidgetLook(BaseModel):
    """How the strip looks (``data-*`` attributes over ``shop.toml [display]``)."""

    model_config = ConfigDict(extra="ignore")
    headline: str | None = Field(None, max_length=80, description="The strip's title.")
    currency: str | None = Field(None, max_length=8, description="Shown with prices: EUR.")
    accent: str | None = Field(None, max_length=20, description="Price colour (#rgb, name).")
    text: str | None = Field(None, max_length=20, description="Text colour.")
    background: str | None = Field(None, max_length=20, description="Background colour.")


@router.get("/v1/shops/{shop}/widget", response_class=HTMLResponse)
def widget_page(
    shop: str,
    rec: ShopDep,
    settings: SettingsDep,
    experiments: ExperimentsDep,
    events: EventsDep,
    state: StateDep,
    request: Request,
    look: Annotated[WidgetLook, Query()],
    product_id: Annotated[str | None, Query(max_length=512)] = None,
    title: Annotated[str | None, Query(max_length=1000)] = None,
    visitor: Annotated[str | None, Query(max_length=128)] = None,
    widget: Annotated[str, Query(max_length=64, description="widget.js's frame id.")] = "",
    lk_visitor: Annotated[str | None, Cookie(max_length=128)] = None,
) -> HTMLResponse:
    """The "Similar products" strip for a product (by id, or by the page title).

    The similar-products query parameters (``SimilarQuery``: k, category, in_stock, attr, ...)
    come from the widget's ``data-*`` attributes over the shop's ``[widget]`` defaults
    (out-of-stock products are hidden unless ``in_stock=false``). When the shop runs an A/B
    experiment the visitor's variant picks a plain widget's list; a holdout visitor gets an
    empty strip, whose exposure is logged here since the page sends none.
    """
    if product_id is None and title is None:
        raise ConfigError("give product_id= or title=")
    raw = queries.query_from_params(request.query_params, request.query_params.getlist)
    visitor_id = visitor or lk_visitor or uuid.uuid4().hex
    product = _find_product(rec, product_id, title)
    served = Served([])
    if product is not None:
        served = _widget_results(rec, experiments, product, raw, visitor_id)
    results = served.recommendations
    if product is not None and served.variant == HOLDOUT:
        events.record(
            Event(
                "impression",
                shop,
                visitor=visitor_id,
                experiment=served.experiment,
                variant=HOLDOUT,
                product_id=product.id,
                user_agent=request.headers.get("user-agent", ""),
                source="widget",
                event_id=Event.stable_id(shop, served.experiment, visitor_id, product.id, widget),
            )
        )
    image_url = image_url_for(request, shop)
    items = [
        {
            **queries.recommendation_json(r, image_url),
            "href": _product_link(request, shop, r.product),
        }
        for r in results
    ]
    token = RenderToken(
        shop=shop,
        visitor=visitor_id,
        render=uuid.uuid4().hex,
        shown=shown_hash([r.product.id for r in results]),
        product_id=product.id if product else "",
        experiment=served.experiment,
        variant=served.variant,
        exp=time.time() + settings.event_token_ttl,
    )
    config = {
        "token": token.encode(state.secret),
        "shop": shop,
        "product_id": product.id if product else "",
        "visitor": visitor_id,
        "experiment": served.experiment,
        "variant": served.variant,
        "widget": widget,
        "events_url": str(request.url_for("post_event", shop=shop)),
    }
    display = rec.config.display.overridden(**look.model_dump())
    response = templates.TemplateResponse(
        request,
        "widget.html",
        {"items": items, "config": config, "display": display},
        status_code=200 if product else 404,
    )
    origins = settings.origins_for(shop)
    if origins:  # only the shop's own pages may frame its widget
        response.headers["Content-Security-Policy"] = "frame-ancestors " + " ".join(origins)
    if lk_visitor != visitor_id:
        response.set_cookie(VISITOR_COOKIE, visitor_id, max_age=365 * 86400, httponly=True)
    return response
