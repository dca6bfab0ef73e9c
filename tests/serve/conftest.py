"""Two small shops built from real photos, the app over them, and a live uvicorn server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI

from lookalike.catalog.models import Product
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.serve.app import create_app
from lookalike.serve.settings import ServeSettings

K_STORED = 6
QUIET = BuildOptions(progress=False, k=K_STORED)
SHOPS = {
    "alpha": ("dress", "hat", "pants"),
    "beta": ("shoes", "t-shirt", "shorts"),
}
PER_CATEGORY = 5
KEYS = {"alpha": "alpha-key", "beta": "beta-key"}
ADMIN_KEY = "admin-key"
ALPHA_ORIGIN = "http://shop-alpha.test"
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)


def shop_products(shop: str, clothing: Path, per_category: int = PER_CATEGORY) -> list[Product]:
    """Products of a test shop: real photos, titles, prices and page URLs."""
    products = []
    for category in SHOPS[shop]:
        photos = sorted((clothing / "test" / category).glob("*.jpg"))[:per_category]
        for i, photo in enumerate(photos, 1):
            pid = f"{shop[0]}-{category}-{i}"
            products.append(
                Product(
                    id=pid,
                    title=f"{shop.title()} {category} number {i}",
                    images=[str(photo)],
                    category=category,
                    price=10.0 * i + len(category),
                    url=f"https://{shop}.example/p/{pid}",
                    in_stock=i != 4,  # number 4 of each category is sold out
                )
            )
    return products


@dataclass(frozen=True)
class Shops:
    root: Path
    alpha: Path
    beta: Path
    products: dict[str, list[Product]]


@pytest.fixture(scope="session")
def shops(clothing_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Shops:
    root = tmp_path_factory.mktemp("shops")
    products = {}
    for shop in SHOPS:
        products[shop] = shop_products(shop, clothing_dir)
        report = build_workspace(root / shop, products[shop], QUIET)
        assert report.status == "ok", report.failures
    return Shops(root, root / "alpha", root / "beta", products)


def make_settings(tmp: Path, **overrides: object) -> ServeSettings:
    values: dict[str, object] = {
        "api_keys": dict(KEYS),
        "admin_key": ADMIN_KEY,
        "cors_origins": {"alpha": [ALPHA_ORIGIN]},
        "max_upload_bytes": 2 * 2**20,
        "events_db": tmp / "events.sqlite",
        # Most tests post raw events; test_event_limits.py covers tokens and rate limits.
        "require_event_token": False,
        **overrides,
    }
    return ServeSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def app(shops: Shops, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    app = create_app(
        [shops.alpha, shops.beta], settings=make_settings(tmp_path_factory.mktemp("ev"))
    )
    yield app
    app.state.lookalike.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """uvicorn serving an app on 127.0.0.1 in a background thread (the app's owner closes it:
    lifespan is off so that a session-wide app survives the server)."""

    def __init__(self, app: FastAPI):
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


class StaticServer:
    """A tiny HTTP server on 127.0.0.1 serving fixed ``path -> (status, type, body)`` routes."""

    def __init__(self, routes: dict[str, tuple[int, str, bytes]], port: int = 0):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                status, kind, body = routes.get(self.path, (404, "text/plain", b"not found"))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> StaticServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)
