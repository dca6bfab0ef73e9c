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

from lookalike.ab.events import Event
from lookalike.ab.experiments import HOLDOUT
from lookalike.ab.tokens import RenderToken, shown_hash
from lookalike.ab.variants import Served
from lookalike.catalog.models import Product
from lookalike.errors import ConfigError, NotFoundError
from lookalike.serve import queries
from lookalike.serve.deps import EventsDep, ExperimentsDep, SettingsDep, ShopDep, StateDep
from lookalike.serve.routes.api import image_url_for
from lookalike.serve.routes.events import VISITOR_COOKIE
from lookalike.serve.templating import STATIC_DIR, http_url, templates

__all__ = ["router", "DEFAULT_WIDGET_K"]

router = APIRouter(tags=["widget"])

DEFAULT_WIDGET_K = 8


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


@router.get("/v1/shops/{shop}/widget", response_class=HTMLResponse)
def widget_page(
    shop: str,
    rec: ShopDep,
    settings: SettingsDep,
    experiments: ExperimentsDep,
    events: EventsDep,
    state: StateDep,
    request: Request,
    product_id: Annotated[str | None, Query(max_length=512)] = None,
    title: Annotated[str | None, Query(max_length=1000)] = None,
    k: Annotated[int, Query(ge=1, le=queries.MAX_K)] = DEFAULT_WIDGET_K,
    visitor: Annotated[str | None, Query(max_length=128)] = None,
    widget: Annotated[str, Query(max_length=64, description="widget.js's frame id.")] = "",
    lk_visitor: Annotated[str | None, Cookie(max_length=128)] = None,
) -> HTMLResponse:
    """The "Similar products" strip for a product (by id, or by the page title).

    When the shop runs an A/B experiment the visitor's variant picks the list, and the page's
    events carry the experiment and variant. A holdout visitor gets an empty strip; its
    exposure is logged here (an impression that showed nothing) since the page sends none.
    """
    if product_id is None and title is None:
        raise ConfigError("give product_id= or title=")
    visitor_id = visitor or lk_visitor or uuid.uuid4().hex
    product: Product | None
    served = Served([])
    try:
        product = rec.product(product_id) if product_id else queries.find_by_title(rec, title or "")
        served = experiments.similar(rec, product.id, visitor_id, k)
    except NotFoundError:
        product = None  # render an empty strip: the shop page shows nothing
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
    response = templates.TemplateResponse(
        request,
        "widget.html",
        {"items": items, "config": config},
        status_code=200 if product else 404,
    )
    origins = settings.origins_for(shop)
    if origins:  # only the shop's own pages may frame its widget
        response.headers["Content-Security-Policy"] = "frame-ancestors " + " ".join(origins)
    if lk_visitor != visitor_id:
        response.set_cookie(VISITOR_COOKIE, visitor_id, max_age=365 * 86400, httponly=True)
    return response
