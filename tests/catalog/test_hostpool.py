"""Fetching from many hosts: one small pool per host, the per-host and total limits hold,
connections are kept per host, and no cookie is kept between responses."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from lookalike.catalog.fetch import ImageFetcher
from lookalike.catalog.hostpool import HostClients
from lookalike.catalog.http import FetchSettings

HOSTS = [f"127.0.0.{2 + i}" for i in range(4)]


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, "JPEG")
    return buffer.getvalue()


class Record:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inflight: dict[str, int] = defaultdict(int)
        self.peak: dict[str, int] = defaultdict(int)
        self.total = self.total_peak = 0
        self.ports: dict[str, set[int]] = defaultdict(set)
        self.cookies: list[str] = []


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[list[str], Record]]:
    record, body = Record(), _jpeg()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            host = self.server.server_address[0]
            with record.lock:
                record.inflight[host] += 1
                record.total += 1
                record.peak[host] = max(record.peak[host], record.inflight[host])
                record.total_peak = max(record.total_peak, record.total)
                record.ports[host].add(self.client_address[1])
                if self.headers.get("Cookie"):
                    record.cookies.append(self.headers["Cookie"])
            time.sleep(0.03)
            with record.lock:
                record.inflight[host] -= 1
                record.total -= 1
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Set-Cookie", "session=abc; Path=/")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    running = []
    for address in HOSTS:
        try:
            server = ThreadingHTTPServer((address, 0), Handler)
        except OSError as exc:
            pytest.skip(f"cannot bind {address} (loopback aliases): {exc}")
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        running.append(server)
    yield [f"http://{s.server_address[0]}:{s.server_address[1]}" for s in running], record
    for server in running:
        server.shutdown()
        server.server_close()


def test_limits_hold_across_many_hosts(servers: tuple[list[str], Record], tmp_path: Path) -> None:
    bases, record = servers
    settings = FetchSettings(allow_private=True, concurrency=6, per_host=2)
    urls = [f"{bases[i % len(bases)]}/img/{i}.jpg" for i in range(48)]
    results = ImageFetcher(tmp_path, settings).fetch_many(urls, progress=False)
    assert all(r.status == "fetched" for r in results.values())
    assert max(record.peak.values()) == 2  # polite to each host
    assert 2 < record.total_peak <= 6  # more than one host at a time, within the total
    # each host kept its own connections: no more than per_host were ever opened to it
    assert all(len(record.ports[h]) <= 2 for h in HOSTS), dict(record.ports)
    assert record.cookies == []  # Set-Cookie was never sent back


def test_idle_clients_beyond_the_limit_are_closed() -> None:
    async def run() -> tuple[int, int]:
        pool = HostClients(FetchSettings(allow_private=True), max_idle=2)
        for host in ("a", "b", "c", "d"):
            async with pool.client(host):
                pass
        idle = len(pool)
        async with pool.client("e"), pool.client("f"), pool.client("g"):
            busy = len(pool)  # clients in use are never closed
        await pool.aclose()
        return idle, busy

    idle, busy = asyncio.run(run())
    assert idle == 2
    assert busy >= 3
