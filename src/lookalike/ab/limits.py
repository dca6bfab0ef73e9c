"""Rate limits for incoming events: per visitor, per client address, and new visitors per
address, as fixed-window counters with a bounded number of keys (memory stays bounded however
many visitor ids or addresses a flood invents)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

__all__ = ["EventLimits", "WindowCounter", "EventLimiter"]


@dataclass(frozen=True, kw_only=True)
class EventLimits:
    """``None`` switches a limit off."""

    per_visitor_per_minute: int | None = 60
    per_ip_per_minute: int | None = 600
    visitors_per_ip_per_hour: int | None = 200
    max_keys: int = 100_000


class WindowCounter:
    """Counts per key in the current window of ``seconds``; over ``max_keys`` keys, new keys
    are refused until the window ends."""

    def __init__(self, limit: int, seconds: float, max_keys: int):
        self.limit, self.seconds, self.max_keys = limit, seconds, max_keys
        self._window = -1
        self._counts: dict[str, int] = {}

    def hit(self, key: str, now: float) -> bool:
        """Count one hit of ``key``; False when it is over the limit."""
        window = int(now // self.seconds)
        if window != self._window:
            self._window, self._counts = window, {}
        count = self._counts.get(key)
        if count is None and len(self._counts) >= self.max_keys:
            return False
        count = (count or 0) + 1
        self._counts[key] = count
        return count <= self.limit


class EventLimiter:
    """``check(visitor, ip)`` -> None when allowed, else the reason it is refused."""

    def __init__(self, limits: EventLimits):
        self.limits = limits
        self._lock = threading.Lock()
        n = limits.max_keys
        self._visitor = (
            WindowCounter(limits.per_visitor_per_minute, 60, n)
            if limits.per_visitor_per_minute is not None
            else None
        )
        self._ip = (
            WindowCounter(limits.per_ip_per_minute, 60, n)
            if limits.per_ip_per_minute is not None
            else None
        )
        self._ip_visitors = (
            WindowCounter(limits.visitors_per_ip_per_hour, 3600, n)
            if limits.visitors_per_ip_per_hour is not None
            else None
        )
        self._seen: set[tuple[str, str]] = set()
        self._seen_window = -1

    def check(self, visitor: str, ip: str, now: float | None = None) -> str | None:
        """Count one event of ``visitor`` from ``ip``."""
        now = time.time() if now is None else now
        with self._lock:
            if self._ip is not None and not self._ip.hit(ip, now):
                return "rate_ip"
            if self._ip_visitors is not None and not self._new_visitor_ok(visitor, ip, now):
                return "rate_ip_visitors"
            if self._visitor is not None and not self._visitor.hit(visitor, now):
                return "rate_visitor"
        return None

    def _new_visitor_ok(self, visitor: str, ip: str, now: float) -> bool:
        assert self._ip_visitors is not None
        window = int(now // 3600)
        if window != self._seen_window or len(self._seen) >= self.limits.max_keys:
            self._seen_window, self._seen = window, set()
        if (ip, visitor) in self._seen:
            return True
        if not self._ip_visitors.hit(ip, now):
            return False
        self._seen.add((ip, visitor))
        return True
