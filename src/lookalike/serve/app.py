"""The FastAPI app: the JSON API, the browse page and the widget over one or several built shops.

Layout: ``routes/*`` (one router each), ``deps`` (dependencies), ``schemas`` (bodies),
``settings`` (environment), ``state`` (shops, event log, metrics), ``errors`` (the one handler
that turns project errors into JSON).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from lookalike import __version__
from lookalike.serve.bodies import BodyLimitMiddleware
from lookalike.serve.cors import ShopCORSMiddleware
from lookalike.serve.docs import install_offline_docs
from lookalike.serve.errors import install_error_handlers
from lookalike.serve.fastpath import ROUTE as SIMILAR_ROUTE
from lookalike.serve.fastpath import PlainSimilarMiddleware
from lookalike.serve.metrics import MetricsMiddleware
from lookalike.serve.paths import EncodedSlashMiddleware
from lookalike.serve.routes import ab, admin, api, browse, discover, events, sync, widget
from lookalike.serve.settings import ServeSettings, load_settings
from lookalike.serve.state import ServeState
from lookalike.serve.uploads import UPLOAD_OVERHEAD

__all__ = ["create_app", "run_server"]

# Routes that take an image upload or a batch: their body may be as large as the upload limit
# (plus form overhead); every other request body is held to LOOKALIKE_MAX_BODY_BYTES.
UPLOAD_PATHS = ("/search", "/search-image", "/recommend", "/sync", "/rules")

_DESCRIPTION = """Visually similar products for one or several shops.

Each shop (a built workspace, named after its folder) lives under `/v1/shops/{shop}/`.
Admin endpoints take the shop's key or the admin key in the `X-API-Key` header.
"""


def create_app(
    workspaces: Sequence[str | Path], *, settings: ServeSettings | None = None
) -> FastAPI:
    """An app serving each workspace as a shop named after its folder.

    The shops are opened here (a broken workspace fails at startup, not on the first request)
    and closed when the app shuts down. ``settings`` default to the environment's.
    """
    state = ServeState(workspaces, settings or load_settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="lookalike",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served offline by install_offline_docs
        redoc_url=None,
    )
    app.state.lookalike = state
    install_error_handlers(app)
    install_offline_docs(app)
    for module in (api, events, widget, admin, browse, ab, sync, discover):
        app.include_router(module.router)
    settings = state.settings
    upload_limit = settings.max_upload_bytes + UPLOAD_OVERHEAD

    def body_limit(path: str) -> int:
        big = path.endswith(UPLOAD_PATHS) or "/products/" in path  # PUT products/{id}: sync
        return upload_limit if big else settings.max_body_bytes

    similar = next(r for r in api.router.routes if getattr(r, "path", "") == SIMILAR_ROUTE)
    app.add_middleware(PlainSimilarMiddleware, route=similar)  # innermost of them all
    app.add_middleware(EncodedSlashMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit)
    # Added last = outermost: metrics time everything, CORS headers go on every response.
    app.add_middleware(ShopCORSMiddleware, origins_for=settings.origins_for)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    return app


def run_server(
    workspaces: Sequence[str | Path],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    settings: ServeSettings | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve with uvicorn until interrupted.

    ``on_ready(url)`` runs once the socket is listening, so a URL printed from it can be opened
    at once. A port already in use ends with uvicorn's one-line error and exit code 1.
    """
    import uvicorn

    settings = settings or load_settings()
    app = create_app(workspaces, settings=settings)

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if on_ready is not None and not self.should_exit:
                on_ready(f"http://{_url_host(host)}:{port}/")

    # X-Forwarded-For decides the client address the per-IP event limits count: trust it only
    # behind a proxy that sets it (uvicorn would otherwise take it from any 127.0.0.1 client).
    config = uvicorn.Config(
        app, host=host, port=port, log_level="info", proxy_headers=settings.trust_proxy_headers
    )
    _Server(config).run()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
