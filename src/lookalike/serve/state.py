"""What one running service holds: settings, the shops, the event log and the metrics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lookalike.ab.events import EventLog
from lookalike.ab.limits import EventLimiter, EventLimits, WindowCounter
from lookalike.ab.tokens import new_secret
from lookalike.ab.variants import ShopExperiments
from lookalike.serve.decoding import DecodePool
from lookalike.serve.metrics import RequestMetrics
from lookalike.serve.settings import ServeSettings
from lookalike.serve.shops import ShopRegistry
from lookalike.workspace import Workspace

__all__ = ["ServeState"]


class ServeState:
    """Opened once by :func:`~lookalike.serve.app.create_app`, closed at shutdown."""

    def __init__(self, workspaces: Sequence[str | Path], settings: ServeSettings):
        self.settings = settings
        self.registry = ShopRegistry(workspaces)
        self.metrics = RequestMetrics()
        first = self.registry.info(self.registry.names[0]).root
        path = settings.events_db or Workspace(first).events_path
        self.events = EventLog(
            path,
            retention_days=settings.event_retention_days,
            daily_cap=settings.events_per_shop_per_day,
        )
        self.secret = settings.secret.encode() if settings.secret else new_secret()
        self.limiter = EventLimiter(
            EventLimits(
                per_visitor_per_minute=settings.events_per_visitor_per_minute,
                per_ip_per_minute=settings.events_per_ip_per_minute,
                visitors_per_ip_per_hour=settings.visitors_per_ip_per_hour,
            )
        )
        self.login_limiter = WindowCounter(10, 60, 10_000)  # A/B page sign-ins per address
        self.decoder = DecodePool(settings.decode_workers or None, settings.decode_queue)
        # A/B experiments per shop: <workspace>/experiments.json, re-read when it changes.
        self.experiments = {
            shop: ShopExperiments(self.registry.info(shop).root, shop, self.events)
            for shop in self.registry.names
        }

    def index_sizes(self) -> dict[str, int]:
        """Vectors served per shop (for ``/metrics``)."""
        sizes = {}
        for shop in self.registry.names:
            with self.registry.borrow(shop) as rec:
                sizes[shop] = len(rec.vectors)
        return sizes

    def close(self) -> None:
        """Close the shops and the event log."""
        self.registry.close()
        self.events.close()
        self.decoder.close()
