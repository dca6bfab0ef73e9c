"""Prometheus metrics in the text exposition format (no client library needed).

``lookalike_requests_total{route,method,status}``, ``lookalike_request_duration_seconds``
(a histogram per route) and ``lookalike_index_size{shop}`` (products with a vector).
Routes are labelled by their template (``/v1/shops/{shop}/products/{product_id}/similar``),
never by the raw path, so the number of series stays bounded.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestMetrics", "MetricsMiddleware", "LATENCY_BUCKETS", "METHODS"]

# Any other method (``FOO``, ``PROPFIND``...) is counted as ``OTHER``: one series, not one each.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class RequestMetrics:
    """Thread-safe request counters and latency histograms."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS):
        self.buckets = buckets
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        # route -> (per-bucket counts, last slot = +Inf), sum, count
        self._hist: dict[str, list[int]] = {}
        self._sum: dict[str, float] = defaultdict(float)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        slot = bisect.bisect_left(self.buckets, seconds)
        with self._lock:
            self._requests[(route, method, str(status))] += 1
            counts = self._hist.setdefault(route, [0] * (len(self.buckets) + 1))
            counts[slot] += 1
            self._sum[route] += seconds

    def render(self, index_sizes: Mapping[str, int]) -> str:
        """The exposition text."""
        lines = [
            "# HELP lookalike_requests_total HTTP requests by route template, method and status.",
            "# TYPE lookalike_requests_total counter",
        ]
        with self._lock:
            requests = sorted(self._requests.items())
            hist = {route: list(counts) for route, counts in sorted(self._hist.items())}
            sums = dict(self._sum)
        for (route, method, status), n in requests:
            lines.append(
                f"lookalike_requests_total{_labels(route=route, method=method, status=status)} {n}"
            )
        lines += [
            "# HELP lookalike_request_duration_seconds Time to answer a request.",
            "# TYPE lookalike_request_duration_seconds histogram",
        ]
        for route, counts in hist.items():
            cumulative = 0
            for bound, count in zip((*self.buckets, float("inf")), counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(
                    f"lookalike_request_duration_seconds_bucket{_labels(route=route, le=le)}"
                    f" {cumulative}"
                )
            lines.append(
                f"lookalike_request_duration_seconds_sum{_labels(route=route)} {sums[route]:.6f}"
            )
            count_name = f"lookalike_request_duration_seconds_count{_labels(route=route)}"
            lines.append(f"{count_name} {cumulative}")
        lines += [
            "# HELP lookalike_index_size Products with a vector in the served index, per shop.",
            "# TYPE lookalike_index_size gauge",
        ]
        for shop, size in sorted(index_sizes.items()):
            lines.append(f"lookalike_index_size{_labels(shop=shop)} {size}")
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request into a :class:`RequestMetrics`."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # an exception escaping the app becomes a 500 for the client too

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            # Unmatched paths share one label so that scanners cannot create new series.
            template = getattr(route, "path", None) or "<unmatched>"
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            self.metrics.observe(template, method, status, time.perf_counter() - start)
