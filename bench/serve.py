"""Service throughput and latency on 127.0.0.1: cached similar (the precomputed top-K), similar
through the index (k above the stored K, or a filter), and image search (upload, embedded on the
server).

The server runs as `lookalike serve` in its own process; clients are threads with one
keep-alive ``http.client`` connection each (a light client: the figures are the server's, not
a client library's), running a bounded loop (a request count and a time limit). Besides the
latencies it prints the server's CPU milliseconds per request (from /proc, robust to other
load on the machine) and the load average.

    .venv/bin/python bench/serve.py [--images 300] [--clients 4] [--requests 2000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "clothing-small"


def photos(data: Path, split: str, n: int) -> list[Path]:
    return sorted(data.glob(f"{split}/*/*.jpg"))[:n]


def build(workspace: Path, files: list[Path]) -> None:
    from lookalike.catalog.models import Product
    from lookalike.pipeline import BuildOptions, build_workspace

    products = [
        Product(
            id=f.stem,
            title=f"{f.parent.name} {f.stem[:8]}",
            images=[str(f)],
            category=f.parent.name,
        )
        for f in files
    ]
    report = build_workspace(workspace, products, BuildOptions(progress=False, k=20))
    print(f"built {workspace.name}: {report.vectors} vectors in {report.seconds['total']:.1f} s")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Request = tuple[str, str, bytes, dict[str, str]]  # method, path, body, headers
BOUNDARY = "lookalike-bench-boundary"


def upload(data: bytes) -> tuple[bytes, dict[str, str]]:
    """A multipart body with one ``image`` field, and its headers."""
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="q.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def server_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(
    port: int,
    make_request: Callable[[int], Request],
    clients: int,
    requests: int,
    seconds: float,
) -> dict[str, float]:
    """Run ``requests`` requests (or until ``seconds``) from ``clients`` threads."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(requests))
    deadline = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in counter:
            if time.monotonic() > deadline:
                break
            method, path, body, headers = make_request(i)
            t0 = time.perf_counter()
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                errors += response.status != 200
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {
        "requests": len(latencies),
        "errors": errors,
        "per_s": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": p99 * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--images", type=int, default=300, help="catalog size")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=2000, help="per scenario (image: /10)")
    parser.add_argument("--seconds", type=float, default=20.0, help="time limit per scenario")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"no photos at {args.data}")
    catalog = photos(args.data, "train", args.images)
    queries = photos(args.data, "test", 50)  # photos that are not in the catalog
    uploads = [q.read_bytes() for q in queries]
    ids = [f.stem for f in catalog]

    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "bench"
        build(workspace, catalog)
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "LOOKALIKE_EVENTS_DB": f"{tmp}/ev.db"}
        server = subprocess.Popen(
            [sys.executable, "-m", "lookalike", "serve", str(workspace), "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base) as probe:
                for _ in range(600):
                    try:
                        probe.get("/healthz")
                        break
                    except httpx.ConnectError:
                        time.sleep(0.1)
                # Warm-up: the model loads on the first image search.
                probe.post(
                    "/v1/shops/bench/search", files={"image": ("q.jpg", uploads[0])}, timeout=120
                )
            bodies = [upload(u) for u in uploads]
            similar = "/v1/shops/bench/products/{}/similar?k={}"
            scenarios: dict[str, tuple[Callable[[int], Request], int]] = {
                "similar, cached top-K (k=10)": (
                    lambda i: ("GET", similar.format(ids[i % len(ids)], 10), b"", {}),
                    args.requests,
                ),
                "similar, index search (k=50)": (
                    lambda i: ("GET", similar.format(ids[i % len(ids)], 50), b"", {}),
                    args.requests,
                ),
                "similar, filtered (category=same)": (
                    lambda i: (
                        "GET",
                        similar.format(ids[i % len(ids)], 10) + "&category=same",
                        b"",
                        {},
                    ),
                    args.requests,
                ),
                "image search (upload, k=10)": (
                    lambda i: ("POST", "/v1/shops/bench/search?k=10", *bodies[i % len(bodies)]),
                    max(1, args.requests // 10),
                ),
            }
            rows = []
            for name, (request, n) in scenarios.items():
                cpu0 = server_cpu(server.pid)
                result = load(port, request, args.clients, n, args.seconds)
                result["cpu_ms"] = (server_cpu(server.pid) - cpu0) * 1000 / result["requests"]
                rows.append((name, result))
        finally:
            server.terminate()
            server.wait(timeout=30)

    cpus = os.cpu_count()
    print(
        f"\n{len(catalog)} products, {args.clients} clients, {cpus} CPU cores "
        f"(server and clients on the same machine), load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'scenario':34} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'server CPU ms/req':>18}"
    )
    for name, r in rows:
        print(
            f"{name:34} {r['requests']:8d} {r['errors']:6d} {r['per_s']:8.1f} "
            f"{r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['cpu_ms']:18.2f}"
        )
    cached, image = rows[0][1], rows[-1][1]
    print(
        f"\ncached similar: {cached['per_s'] / image['per_s']:.0f}x the requests/s of image search"
    )


if __name__ == "__main__":
    main()
