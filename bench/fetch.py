"""Image fetch throughput from a local server that adds latency to every request.

Starts a 127.0.0.1 HTTP/1.1 server whose every response waits ``--latency`` ms (a far-away CDN),
then fetches ``--images`` distinct JPEGs with ``ImageFetcher`` into a fresh cache per setting:
one request at a time, the defaults (32 at once, 4 per host) on one host, 16 per host, and the
defaults with the images spread over ``--hosts`` loopback servers (127.0.0.2, ...), as a shop's
CDN hosts would be. Prints images/s, the ratio to one at a time and the fetcher's CPU
milliseconds per image (user + system, robust to other load), and the load average. Nothing
leaves the machine.

    .venv/bin/python bench/fetch.py --images 200 --latency 50
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import random
import resource
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image

from lookalike.catalog.fetch import ImageFetcher
from lookalike.catalog.http import DEFAULT_CONCURRENCY, DEFAULT_PER_HOST, FetchSettings


def make_jpegs(count: int) -> list[bytes]:
    """``count`` distinct 200x150 JPEGs (~20 KB of noise each)."""
    out = []
    for seed in range(count):
        pixels = random.Random(seed).randbytes(200 * 150 * 3)
        buffer = io.BytesIO()
        Image.frombytes("RGB", (200, 150), pixels).save(buffer, "JPEG", quality=80)
        out.append(buffer.getvalue())
    return out


def start_server(
    jpegs: list[bytes], latency: float, address: str = "127.0.0.1"
) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a CDN would

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            time.sleep(latency)
            body = jpegs[int(self.path.rsplit("/", 1)[1].split(".")[0])]
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((address, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{address}:{server.server_address[1]}"


def serve_all(
    jpegs: list[bytes], latency: float, addresses: list[str], queue: multiprocessing.Queue
) -> None:
    """Run one server per address until terminated; put their base URLs on ``queue``."""
    queue.put([start_server(jpegs, latency, address)[1] for address in addresses])
    threading.Event().wait()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(urls: list[str], settings: FetchSettings) -> tuple[float, float]:
    """Seconds and CPU seconds to fetch every URL into an empty cache (all must succeed)."""
    with tempfile.TemporaryDirectory() as cache:
        fetcher = ImageFetcher(Path(cache), settings)
        start, cpu = time.perf_counter(), cpu_seconds()
        results = fetcher.fetch_many(urls, progress=False)
        elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    failed = [r for r in results.values() if r.status != "fetched"]
    if failed:
        raise SystemExit(f"{len(failed)} fetches failed, e.g. {failed[0].error}")
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--latency", type=float, default=50.0, help="ms added per request")
    parser.add_argument("--hosts", type=int, default=8, help="loopback hosts 127.0.0.2...")
    args = parser.parse_args()

    jpegs = make_jpegs(args.images)
    # The servers run in another process, so their threads do not share the fetcher's GIL.
    # A shop's images usually sit on a few CDN hosts: one server per loopback address
    # (127.0.0.0/8 is all loopback on Linux), images spread over them round-robin.
    addresses = ["127.0.0.1", *(f"127.0.0.{2 + h}" for h in range(args.hosts))]
    queue: multiprocessing.Queue[list[str]] = multiprocessing.Queue()
    servers = multiprocessing.Process(
        target=serve_all, args=(jpegs, args.latency / 1000, addresses, queue), daemon=True
    )
    servers.start()
    base, *hosts = queue.get(timeout=60)
    urls = [f"{base}/img/{i}.jpg" for i in range(args.images)]
    spread = [f"{hosts[i % len(hosts)]}/img/{i}.jpg" for i in range(args.images)]
    default = f"default ({DEFAULT_CONCURRENCY}, {DEFAULT_PER_HOST}/host)"
    cases = [
        ("1 at a time, 1 host", urls, FetchSettings(allow_private=True, concurrency=1, per_host=1)),
        (f"{default}, 1 host", urls, FetchSettings(allow_private=True)),
        (
            "16, 16/host, 1 host",
            urls,
            FetchSettings(allow_private=True, concurrency=16, per_host=16),
        ),
        (f"{default}, {args.hosts} hosts", spread, FetchSettings(allow_private=True)),
    ]
    try:
        measure(urls[:4], cases[0][2])  # warm-up: imports, first connection
        rows = []
        for name, u, s in cases:
            elapsed, cpu = measure(u, s)
            rows.append((name, args.images / elapsed, 1000 * cpu / args.images))
    finally:
        servers.terminate()
        servers.join()
    kb = sum(map(len, jpegs)) / len(jpegs) / 1024
    print(
        f"{args.images} images of ~{kb:.0f} KB, {args.latency:g} ms latency per request, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'setting':<34}{'images/s':>10}{'ratio':>8}{'CPU ms/image':>14}")
    for name, rate, cpu in rows:
        print(f"{name:<34}{rate:>10.1f}{rate / rows[0][1]:>8.1f}{cpu:>14.2f}")
    bound = min(DEFAULT_CONCURRENCY, DEFAULT_PER_HOST * args.hosts) / (args.latency / 1000)
    cpu_bound = 1000 / rows[-1][2]
    print(
        f"bounds with {args.hosts} hosts: the network, min(concurrency, per_host x hosts) / "
        f"latency = {bound:.0f} images/s; the fetcher's one event-loop thread, 1 / CPU per "
        f"image = {cpu_bound:.0f} images/s if it had a core to itself"
    )


if __name__ == "__main__":
    main()
