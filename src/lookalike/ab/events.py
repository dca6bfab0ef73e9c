"""The impression/click event log: SQLite in WAL mode, durable and safe for concurrent writers.

Each event is one row. Repeated deliveries of the same event (a widget retrying, a double click)
are dropped by an ``event_id`` unique within its shop; requests from known bots are dropped by
user agent; a shop's events beyond its daily cap are refused. Every rejection is counted per
shop, day and reason (also those the service makes: rate limits, bad tokens, see
:meth:`EventLog.reject`) so that a report can say how much was filtered and why. Events older
than the retention period are deleted (hourly), so the file stops growing.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from lookalike.ab.eventschema import DAY, open_schema, prune
from lookalike.errors import ConfigError

__all__ = [
    "Event",
    "EventLog",
    "Tally",
    "is_bot",
    "EVENT_TYPES",
    "DEFAULT_RETENTION_DAYS",
]

EVENT_TYPES = ("impression", "click")
DEFAULT_RETENTION_DAYS = 90
_PRUNE_EVERY_S = 3600.0
_FLUSH_EVERY_S = 5.0  # rejection counts are written in batches: a flood costs no fsync each

# Crawlers, link previewers, headless checkers and HTTP libraries: none of them is a shopper.
_BOT_PATTERN = re.compile(
    r"bot\b|crawl|spider|slurp|bingpreview|facebookexternalhit|embedly|quora link|"
    r"whatsapp|telegrambot|discordbot|slackbot|headlesschrome|phantomjs|lighthouse|"
    r"pingdom|uptimerobot|python-requests|python-httpx|curl/|wget/|go-http-client|"
    r"okhttp|java/|libwww|scrapy|ahrefs|semrush|mj12|yandex(bot|images)|petalbot|bytespider",
    re.IGNORECASE,
)


def is_bot(user_agent: str) -> bool:
    """Whether a User-Agent belongs to a crawler, previewer or script (an empty one counts)."""
    return not user_agent.strip() or bool(_BOT_PATTERN.search(user_agent))


@dataclass
class Event:
    """One impression (``shown`` lists the products in position order) or click (``target_id``
    at ``position``, 1-based), attributed to an experiment variant when one was running."""

    type: Literal["impression", "click"]
    shop: str
    visitor: str = ""
    experiment: str = ""
    variant: str = ""
    product_id: str = ""
    target_id: str = ""
    position: int | None = None
    shown: list[str] = field(default_factory=list)
    user_agent: str = ""
    source: str = ""
    event_id: str = ""
    ts: float = 0.0

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ConfigError(f"unknown event type {self.type!r}: use one of {EVENT_TYPES}")
        if self.position is not None and self.position < 1:
            raise ConfigError("position is 1-based")
        if not self.ts:
            self.ts = time.time()
        if not self.event_id:
            self.event_id = uuid.uuid4().hex

    @staticmethod
    def stable_id(*parts: object) -> str:
        """A deterministic event id from its identifying parts (for clients that send none)."""
        return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Tally:
    """Events of one variant and type (in one time bucket when bucketed). ``empty``: the
    impressions that showed no product (holdout exposures), kept apart from real ones."""

    bucket: float  # start time of the bucket (0.0 when not bucketed)
    variant: str
    type: str
    empty: bool
    count: int
    visitors: int  # distinct visitor ids among these events


def _periods_clause(
    periods: Sequence[tuple[float, float | None]] | None, shop: str | None
) -> tuple[str, list[object]]:
    where, args = ("", list[object]()) if shop is None else (" AND shop = ?", list[object]([shop]))
    if periods is None:
        return where, args
    if not periods:
        return where + " AND 0", args
    parts = []
    for start, end in periods:
        parts.append("(ts >= ? AND ts <= ?)")
        args += [start, float("inf") if end is None else end]
    return where + " AND (" + " OR ".join(parts) + ")", args


class EventLog:
    """Append-only event store. One instance per process; any number of processes may write.

    ``retention_days``: events older than that are deleted (None keeps all); ``daily_cap``:
    at most that many events stored per shop and UTC day (None: no cap; with several server
    processes each counts its own, so the cap is per process).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        retention_days: float | None = DEFAULT_RETENTION_DAYS,
        daily_cap: int | None = None,
    ):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.retention_days = retention_days
        self.daily_cap = daily_cap
        self._lock = threading.Lock()
        # A busy timeout lets concurrent writers queue instead of failing with "locked".
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        open_schema(self._db)  # WAL, synchronous=FULL: an acknowledged event survives a crash
        self._day_counts: dict[tuple[str, int], int] = {}
        self._pending: dict[tuple[str, int, str], int] = {}
        self._flushed = time.monotonic()
        self._pruned = 0.0
        self.prune()

    def close(self) -> None:
        """Write pending rejection counts and close the database."""
        with self._lock:
            self._flush()
            self._db.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def prune(self, now: float | None = None) -> int:
        """Delete events older than the retention period; returns how many."""
        if self.retention_days is None:
            return 0
        now = time.time() if now is None else now
        with self._lock:
            self._pruned = time.monotonic()
            return prune(self._db, now - self.retention_days * DAY)

    def reject(self, shop: str, reason: str, ts: float | None = None) -> None:
        """Count one event refused for ``reason`` (written in batches, see :meth:`flush`)."""
        day = int((time.time() if ts is None else ts) // DAY)
        with self._lock:
            key = (shop, day, reason)
            self._pending[key] = self._pending.get(key, 0) + 1
            self._flush_if_stale()

    def flush(self) -> None:
        """Write the rejection counts not yet in the file."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        self._flushed = time.monotonic()
        if not pending:
            return
        with self._db:
            self._db.executemany(
                "INSERT INTO rejected(shop, day, reason, count) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(shop, day, reason) DO UPDATE SET count = count + excluded.count",
                [(shop, day, reason, n) for (shop, day, reason), n in pending.items()],
            )

    def record(self, event: Event) -> bool:
        """Append ``event``; ``False`` when it was dropped (bot, duplicate, daily cap)."""
        self._maybe_prune()
        with self._lock:
            with self._db:
                stored = self._insert(event)
            self._flush_if_stale()
        return stored

    def record_many(self, events: Iterable[Event]) -> int:
        """Append a batch in one transaction (one fsync); returns how many were stored."""
        self._maybe_prune()
        with self._lock:
            with self._db:
                stored = sum(self._insert(event) for event in events)
            self._flush_if_stale()
        return stored

    def _flush_if_stale(self) -> None:
        if self._pending and time.monotonic() - self._flushed > _FLUSH_EVERY_S:
            self._flush()

    def _maybe_prune(self) -> None:
        if self.retention_days is not None and time.monotonic() - self._pruned > _PRUNE_EVERY_S:
            self.prune()

    def _drop(self, event: Event, reason: str, *, now: bool = True) -> bool:
        key = (event.shop, int(event.ts // DAY), reason)
        if now:  # inside the event's own transaction: as durable as the events, no extra fsync
            self._db.execute(
                "INSERT INTO rejected(shop, day, reason, count) VALUES (?, ?, ?, 1)"
                " ON CONFLICT(shop, day, reason) DO UPDATE SET count = count + 1",
                key,
            )
        else:
            self._pending[key] = self._pending.get(key, 0) + 1
        return False

    def _day_count(self, shop: str, day: int) -> int:
        key = (shop, day)
        if key not in self._day_counts:
            if len(self._day_counts) > 1000:  # old days: forget them
                self._day_counts.clear()
            self._day_counts[key] = int(
                self._db.execute(
                    "SELECT COUNT(*) FROM events WHERE shop = ? AND ts >= ? AND ts < ?",
                    (shop, day * DAY, (day + 1) * DAY),
                ).fetchone()[0]
            )
        return self._day_counts[key]

    def _insert(self, event: Event) -> bool:
        if is_bot(event.user_agent):
            return self._drop(event, "bot")
        day = int(event.ts // DAY)
        if self.daily_cap is not None and self._day_count(event.shop, day) >= self.daily_cap:
            return self._drop(event, "daily_cap", now=False)  # a flood: counted in batches
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO events (event_id, ts, shop, type, visitor, experiment,"
            " variant, product_id, target_id, position, shown, user_agent, source)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                event.event_id,
                event.ts,
                event.shop,
                event.type,
                event.visitor,
                event.experiment,
                event.variant,
                event.product_id,
                event.target_id,
                event.position,
                json.dumps(event.shown, ensure_ascii=False),
                event.user_agent[:500],
                event.source,
            ),
        )
        if cursor.rowcount == 0:
            return self._drop(event, "duplicate")
        if (event.shop, day) in self._day_counts:
            self._day_counts[(event.shop, day)] += 1
        return True

    def count(self, type: str | None = None, experiment: str | None = None) -> int:
        """Number of stored events, optionally of one type and/or experiment."""
        query, args = "SELECT COUNT(*) FROM events WHERE 1=1", list[object]()
        if type is not None:
            query, args = query + " AND type = ?", [*args, type]
        if experiment is not None:
            query, args = query + " AND experiment = ?", [*args, experiment]
        with self._lock:
            return int(self._db.execute(query, args).fetchone()[0])

    def dropped(
        self,
        shop: str | None = None,
        *,
        periods: Sequence[tuple[float, float | None]] | None = None,
    ) -> dict[str, int]:
        """How many events were rejected, by reason (``bot``, ``duplicate``, ``daily_cap``,
        and the service's: rate limits, tokens); of one shop, on the UTC days that overlap
        ``periods`` when given."""
        query, args = "SELECT reason, SUM(count) FROM rejected WHERE 1=1", list[object]()
        if shop is not None:
            query, args = query + " AND shop = ?", [shop]
        if periods is not None:
            days = [
                f"(day >= {int(start // DAY)} AND day <= {int((end or time.time()) // DAY)})"
                for start, end in periods
            ]
            query += " AND (" + (" OR ".join(days) or "0") + ")"
        with self._lock:
            self._flush()
            rows = self._db.execute(query + " GROUP BY reason", args).fetchall()
        return {reason: int(n) for reason, n in rows}

    def iter_events(
        self, *, experiment: str | None = None, type: str | None = None
    ) -> Iterator[Event]:
        """Stored events in arrival order, optionally filtered."""
        query, args = "SELECT * FROM events WHERE 1=1", list[object]()
        if experiment is not None:
            query, args = query + " AND experiment = ?", [*args, experiment]
        if type is not None:
            query, args = query + " AND type = ?", [*args, type]
        with self._lock:
            cursor = self._db.execute(query + " ORDER BY seq", args)
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        for row in rows:
            data = dict(zip(names, row, strict=True))
            data.pop("seq")
            data["shown"] = json.loads(data["shown"])
            yield Event(**data)

    def tally(
        self,
        experiment: str,
        *,
        shop: str | None = None,
        periods: Sequence[tuple[float, float | None]] | None = None,
        bucket_seconds: float | None = None,
    ) -> list[Tally]:
        """Counts of an experiment's events by variant, type and (optionally) time bucket.

        ``shop``: only that shop's events; ``periods``: only events inside these
        ``(start, end)`` intervals (``end`` None: still open).
        """
        where, args = _periods_clause(periods, shop)
        bucket = "CAST(ts / ? AS INTEGER) * ?" if bucket_seconds else "0.0"
        bucket_args = [bucket_seconds, bucket_seconds] if bucket_seconds else []
        query = (
            f"SELECT {bucket} AS b, variant, type, shown = '[]' AS empty, COUNT(*),"
            " COUNT(DISTINCT visitor) FROM events WHERE experiment = ?"
            f"{where} GROUP BY b, variant, type, empty ORDER BY b, variant, type"
        )
        with self._lock:
            rows = self._db.execute(query, [*bucket_args, experiment, *args]).fetchall()
        return [Tally(float(b), v, t, bool(e), int(c), int(u)) for b, v, t, e, c, u in rows]

    def visitors(
        self,
        experiment: str,
        *,
        shop: str | None = None,
        periods: Sequence[tuple[float, float | None]] | None = None,
    ) -> dict[str, int]:
        """Distinct visitors seen per variant of ``experiment`` (any event type)."""
        where, args = _periods_clause(periods, shop)
        with self._lock:
            rows = self._db.execute(
                "SELECT variant, COUNT(DISTINCT visitor) FROM events WHERE experiment = ?"
                f"{where} GROUP BY variant",
                [experiment, *args],
            ).fetchall()
        return {v: int(c) for v, c in rows}

    def click_counts(self, shop: str, *, since: float = 0.0) -> dict[str, int]:
        """Clicks per clicked product of ``shop`` since ``since`` (all variants and none)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT target_id, COUNT(*) FROM events WHERE shop = ? AND type = 'click'"
                " AND target_id != '' AND ts >= ? GROUP BY target_id",
                (shop, since),
            ).fetchall()
        return {t: int(c) for t, c in rows}

    @staticmethod
    def as_dict(event: Event) -> dict[str, object]:
        """JSON-ready form of an event."""
        return asdict(event)
