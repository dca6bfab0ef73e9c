"""A real HTTP server on 127.0.0.1 (port 0) with the endpoints the fetcher and demo tests need.

Endpoints (``?k=...`` query strings keep per-test state apart: counters are per full path):

- ``/img/<name>.jpg``   a good JPEG
- ``/etag/<name>.jpg``  a JPEG with ETag + Last-Modified; 304 to a matching conditional request
- ``/status/<code>``    that status with a short text body
- ``/flaky``            500 on the first request, then a JPEG
- ``/ratelimited``      429 with ``Retry-After: 1`` on the first request, then a JPEG
- ``/slow``             waits 2 s (or until teardown) before answering
- ``/html``             200 with an HTML page
- ``/big``              1 MB with Content-Length; ``/big-nolength`` the same, close-delimited
- ``/loop``             redirects to itself; ``/chain/<n>`` redirects n times, then a JPEG
- ``/redirect?to=URL``  302 to URL
- ``/truncated.jpg``    the first half of a JPEG
- ``/inflight``         records the peak of simultaneous requests, waits 0.15 s, then a JPEG
- ``/file/<name>``      bytes registered with ``server.files[name] = ...``
- ``/asset/<name>``     bytes of ``files[name]`` with an ETag (hash of the bytes) and
                        Last-Modified; 304 to a matching If-None-Match; 503 while ``name`` is in
                        ``state.broken`` (a shop's CDN, for refresh tests)

``state.route_bytes`` counts body bytes per first path segment (``"asset"``, ``"file"``, ...).
"""

from __future__ import annotations

import collections
import hashlib
import io
import random
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

ETAG = '"v1-abc"'
LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"


def make_jpeg(size: tuple[int, int] = (64, 48), seed: int = 0) -> bytes:
    """A small real JPEG of noise (so most of its bytes are scan data, after the header)."""
    pixels = random.Random(seed).randbytes(size[0] * size[1] * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@dataclass
class ServerState:
    """What the handler saw; read by tests."""

    jpeg: bytes = field(default_factory=make_jpeg)
    files: dict[str, bytes] = field(default_factory=dict)
    hits: collections.Counter[str] = field(default_factory=collections.Counter)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    body_bytes: int = 0
    route_bytes: collections.Counter[str] = field(default_factory=collections.Counter)
    broken: set[str] = field(default_factory=set)
    inflight: int = 0
    peak_inflight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        length: bool = True,
    ) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with self.server.state.lock:
            self.server.state.body_bytes += len(body)
            segment = urllib.parse.urlsplit(self.path).path.split("/")[1]
            self.server.state.route_bytes[segment] += len(body)

    def _image(self) -> None:
        self._send(200, self.server.state.jpeg, {"Content-Type": "image/jpeg"})

    def do_GET(self) -> None:
        state = self.server.state
        parsed = urllib.parse.urlsplit(self.path)
        route = parsed.path
        with state.lock:
            state.hits[self.path] += 1
            hit = state.hits[self.path]
            state.requests.append((self.path, dict(self.headers.items())))
        if route.startswith("/img/"):
            self._image()
        elif route.startswith("/etag/"):
            if self.headers.get("If-None-Match") == ETAG:
                self._send(304, headers={"ETag": ETAG}, length=False)
            else:
                headers = {
                    "ETag": ETAG,
                    "Last-Modified": LAST_MODIFIED,
                    "Content-Type": "image/jpeg",
                }
                self._send(200, state.jpeg, headers)
        elif route.startswith("/status/"):
            code = int(route.rsplit("/", 1)[1])
            self._send(code, b"nope", {"Content-Type": "text/plain"})
        elif route == "/flaky":
            self._send(500, b"oops") if hit == 1 else self._image()
        elif route == "/ratelimited":
            if hit == 1:
                self._send(429, b"slow down", {"Retry-After": "1"})
            else:
                self._image()
        elif route == "/slow":
            state.stop.wait(2.0)
            self._image()
        elif route == "/html":
            self._send(
                200,
                b"<!doctype html><html><body>Not found</body></html>",
                {"Content-Type": "image/jpeg"},
            )  # lies on purpose: content is checked
        elif route in ("/big", "/big-nolength"):
            self._send(
                200, b"\xff" * 1_000_000, {"Content-Type": "image/jpeg"}, length=route == "/big"
            )
        elif route == "/loop":
            self._send(302, headers={"Location": self.path})
        elif route.startswith("/chain/"):
            left = int(route.rsplit("/", 1)[1])
            if left == 0:
                self._image()
            else:
                self._send(302, headers={"Location": f"/chain/{left - 1}"})
        elif route == "/redirect":
            target = urllib.parse.parse_qs(parsed.query)["to"][0]
            self._send(302, headers={"Location": target})
        elif route == "/truncated.jpg":
            self._send(200, state.jpeg[: len(state.jpeg) // 2], {"Content-Type": "image/jpeg"})
        elif route == "/inflight":
            with state.lock:
                state.inflight += 1
                state.peak_inflight = max(state.peak_inflight, state.inflight)
            time.sleep(0.15)
            with state.lock:
                state.inflight -= 1
            self._image()
        elif route.startswith("/asset/") and route[len("/asset/") :] in state.files:
            name = route[len("/asset/") :]
            data = state.files[name]
            etag = f'"{hashlib.sha256(data).hexdigest()[:16]}"'
            if name in state.broken:
                self._send(503, b"try later", {"Content-Type": "text/plain"})
            elif self.headers.get("If-None-Match") == etag:
                self._send(304, headers={"ETag": etag}, length=False)
            else:
                headers = {
                    "ETag": etag,
                    "Last-Modified": LAST_MODIFIED,
                    "Content-Type": "image/jpeg",
                }
                self._send(200, data, headers)
        elif route.startswith("/file/") and route[len("/file/") :] in state.files:
            self._send(
                200,
                state.files[route[len("/file/") :]],
                {"Content-Type": "application/octet-stream"},
            )
        else:
            self._send(404, b"not found")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: ServerState

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that hang up early (size limits, timeouts) are expected here.
        pass


@dataclass
class LocalServer:
    """A running loopback server: ``url(path)`` builds URLs, ``state`` holds what it saw."""

    port: int
    state: ServerState

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    """Start the server on 127.0.0.1 with a free port; stop it after the test."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = ServerState()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield LocalServer(port=server.server_address[1], state=server.state)
    finally:
        server.state.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening (connections are refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
