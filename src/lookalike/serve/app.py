"""The FastAPI app: a browse page and a small JSON API over one or several built shops."""

from __future__ import annotations

import html
import random
from collections.abc import Sequence
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse

from lookalike.errors import LookalikeError, NotFoundError
from lookalike.recommend.similar import Recommendation, Recommender
from lookalike.serve.images import image_file
from lookalike.workspace import Workspace

__all__ = ["create_app", "run_server"]

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>
body{{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#222}}
header{{background:#1f2937;color:#fff;padding:12px 24px;display:flex;gap:16px;align-items:center}}
header a{{color:#fff}} main{{padding:24px;max-width:1200px;margin:auto}}
.query{{display:flex;gap:24px;align-items:flex-start;margin-bottom:24px}}
.query img{{width:280px;height:280px;object-fit:contain;background:#fff;border-radius:8px}}
.grid{{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:16px}}
.card{{background:#fff;border-radius:8px;padding:8px;box-shadow:0 1px 3px #0002}}
.card img{{width:100%;height:170px;object-fit:contain}}
.card a{{text-decoration:none;color:inherit}} .muted{{color:#666;font-size:13px}}
</style></head><body><header><strong>lookalike</strong> <span>{shop}</span>
<a href="{random_link}">random product</a></header><main>{body}</main></body></html>"""


def _card(shop: str, rec: Recommendation) -> str:
    p = rec.product
    pid = quote(p.id, safe="")
    price = f" · {p.price:.2f}" if p.price is not None else ""
    return (
        f'<div class="card"><a href="/?shop={quote(shop)}&id={pid}">'
        f'<img loading="lazy" src="/shops/{quote(shop)}/images/{pid}" alt="{html.escape(p.title)}">'
        f"<div>{html.escape(p.title)}</div></a>"
        f'<div class="muted">{html.escape(p.category)}{price} · score {rec.score:.3f}</div></div>'
    )


def create_app(workspaces: Sequence[str]) -> FastAPI:
    """An app serving each workspace as a shop named after its folder."""
    shops: dict[str, Recommender] = {}
    for name in workspaces:
        rec = Recommender(Workspace(name))
        shops[rec.workspace.shop] = rec
    if not shops:
        raise LookalikeError("no workspace to serve")
    default_shop = next(iter(shops))
    app = FastAPI(title="lookalike", version="0.1.0")

    def shop_of(shop: str) -> Recommender:
        if shop not in shops:
            raise HTTPException(404, f"unknown shop {shop!r}")
        return shops[shop]

    @app.exception_handler(NotFoundError)
    async def _not_found(_request, exc: NotFoundError) -> JSONResponse:  # type: ignore[no-untyped-def]
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.get("/healthz")
    def healthz() -> dict[str, object]:
        return {"status": "ok", "shops": sorted(shops)}

    @app.get("/v1/shops/{shop}/products/{product_id}/similar")
    def similar(shop: str, product_id: str, k: int = Query(10, ge=1, le=100)) -> dict[str, object]:
        rec = shop_of(shop)
        query = rec.product(product_id)
        return {
            "product": query.to_dict(),
            "similar": [r.to_dict() for r in rec.similar(product_id, k)],
        }

    @app.get("/shops/{shop}/images/{product_id}")
    def image(shop: str, product_id: str) -> FileResponse:
        rec = shop_of(shop)
        product = rec.product(product_id)
        for source in product.images:
            path = image_file(rec.workspace, source)
            if path is not None:
                return FileResponse(path, media_type="image/jpeg")
        raise HTTPException(404, f"product {product_id!r} has no image on this server")

    @app.get("/", response_class=HTMLResponse, response_model=None)
    def browse(
        shop: str = default_shop, id: str | None = None, k: int = Query(12, ge=1, le=100)
    ) -> HTMLResponse | RedirectResponse:
        rec = shop_of(shop)
        random_link = f"/?shop={quote(shop)}"
        if id is None:
            ids = rec.neighbors.ids
            if not ids:
                return HTMLResponse(
                    _PAGE.format(
                        title="lookalike",
                        shop=html.escape(shop),
                        random_link=random_link,
                        body="<p>No product has an image yet.</p>",
                    )
                )
            pick = random.choice(ids)
            return RedirectResponse(f"/?shop={quote(shop)}&id={quote(pick, safe='')}")
        query = rec.product(id)
        results = rec.similar(id, k)
        pid = quote(query.id, safe="")
        body = (
            f'<section class="query"><img src="/shops/{quote(shop)}/images/{pid}" '
            f'alt="{html.escape(query.title)}"><div><h1>{html.escape(query.title)}</h1>'
            f'<p class="muted">id {html.escape(query.id)} · {html.escape(query.category)}</p>'
            f"</div></section><h2>Similar products</h2>"
            f'<div class="grid">{"".join(_card(shop, r) for r in results)}</div>'
        )
        return HTMLResponse(
            _PAGE.format(
                title=f"{html.escape(query.title)} · lookalike",
                shop=html.escape(shop),
                random_link=random_link,
                body=body,
            )
        )

    return app


def run_server(workspaces: Sequence[str], *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(workspaces), host=host, port=port, log_level="info")
