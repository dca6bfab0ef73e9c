"""The impression/click event log: SQLite in WAL mode, durable and safe for concurrent writers.

Each event is one row. Repeated deliveries of the same event (a widget retrying, a double click)
are dropped by a unique ``event_id``; requests from known bots are dropped by user agent. Both
are counted so that a report can say how much was filtered.
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

from lookalike.errors import ConfigError

__all__ = [
    "Event",
    "EventLog",
    "Tally",
    "is_bot",
    "EVENT_TYPES",
]

EVENT_TYPES = ("impression", "click")

# Crawlers, link previewers, headless checkers and HTTP libraries: none of them is a shopper.
_BOT_PATTERN = re.compile(
    r"bot\b|crawl|spider|slurp|bingpreview|facebookexternalhit|embedly|quora link|"
    r"whatsapp|telegrambot|discordbot|slackbot|headlesschrome|phantomjs|lighthouse|"
    r"pingdom|uptimerobot|python-requests|python-httpx|curl/|wget/|go-http-client|"
    r"okhttp|java/|libwww|scrapy|ahrefs|semrush|mj12|yandex(bot|images)|petalbot|bytespider",
    re.IGNORECASE,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    ts REAL NOT NULL,
    shop TEXT NOT NULL,
    type TEXT NOT NULL,
    visitor TEXT NOT NULL DEFAULT '',
    experiment TEXT NOT NULL DEFAULT '',
    variant TEXT NOT NULL DEFAULT '',
    product_id TEXT NOT NULL DEFAULT '',
    target_id TEXT NOT NULL DEFAULT '',
    position INTEGER,
    shown TEXT NOT NULL DEFAULT '[]',
    user_agent TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_experiment ON events(experiment, variant, type);
CREATE INDEX IF NOT EXISTS events_clicks ON events(shop, type, target_id);
CREATE TABLE IF NOT EXISTS dropped (reason TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""


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
    where, args = ("", []) if shop is None else (" AND shop = ?", [shop])
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
    """Append-only event store. One instance per process; any number of processes may write."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # A busy timeout lets concurrent writers queue instead of failing with "locked".
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an acknowledged event survives a crash
        with self._db:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drop(self, reason: str) -> None:
        self._db.execute(
            "INSERT INTO dropped(reason, count) VALUES (?, 1)"
            " ON CONFLICT(reason) DO UPDATE SET count = count + 1",
            (reason,),
        )

    def record(self, event: Event) -> bool:
        """Append ``event``; ``False`` when it was dropped as a bot or a duplicate."""
        with self._lock, self._db:
            return self._insert(event)

    def record_many(self, events: Iterable[Event]) -> int:
        """Append a batch in one transaction (one fsync); returns how many were stored."""
        with self._lock, self._db:
            return sum(self._insert(event) for event in events)

    def _insert(self, event: Event) -> bool:
        if is_bot(event.user_agent):
            self._drop("bot")
            return False
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
            self._drop("duplicate")
            return False
        return True

    def count(self, type: str | None = None, experiment: str | None = None) -> int:
        """Number of stored events, optionally of one type and/or experiment."""
        query, args = "SELECT COUNT(*) FROM events WHERE 1=1", []
        if type is not None:
            query, args = query + " AND type = ?", [*args, type]
        if experiment is not None:
            query, args = query + " AND experiment = ?", [*args, experiment]
        with self._lock:
            return int(self._db.execute(query, args).fetchone()[0])

    def dropped(self) -> dict[str, int]:
        """How many events were dropped, by reason (``bot``, ``duplicate``)."""
        with self._lock:
            return dict(self._db.execute("SELECT reason, count FROM dropped").fetchall())

    def iter_events(
        self, *, experiment: str | None = None, type: str | None = None
    ) -> Iterator[Event]:
        """Stored events in arrival order, optionally filtered."""
        query, args = "SELECT * FROM events WHERE 1=1", []
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
