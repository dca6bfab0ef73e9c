"""The event log's SQLite schema, its migration from older files, and retention.

Version 2 scopes event ids per shop (``UNIQUE(shop, event_id)``: one shop's client cannot
pre-empt another shop's ids) and counts rejected events per shop, UTC day and reason.
"""

from __future__ import annotations

import sqlite3

__all__ = ["SCHEMA_VERSION", "open_schema", "prune", "DAY"]

SCHEMA_VERSION = 2
DAY = 86400.0
# The WAL file is truncated back to this size after a checkpoint, so it stays bounded too.
JOURNAL_LIMIT_BYTES = 4 * 2**20

_EVENTS = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
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
    source TEXT NOT NULL DEFAULT '',
    UNIQUE (shop, event_id)
);
"""
_REST = """
CREATE INDEX IF NOT EXISTS events_experiment ON events(experiment, variant, type);
CREATE INDEX IF NOT EXISTS events_clicks ON events(shop, type, target_id);
CREATE INDEX IF NOT EXISTS events_ts ON events(shop, ts);
CREATE TABLE IF NOT EXISTS rejected (
    shop TEXT NOT NULL,
    day INTEGER NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (shop, day, reason)
);
"""
_COLUMNS = (
    "seq, event_id, ts, shop, type, visitor, experiment, variant, product_id, target_id,"
    " position, shown, user_agent, source"
)


def _tables(db: sqlite3.Connection) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def open_schema(db: sqlite3.Connection) -> None:
    """Set the journal up, then create the tables of a new file or migrate an older one (in
    one transaction)."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    tables = _tables(db)
    if not tables:
        # Only possible before the first table and before WAL: deleted pages can be given back.
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
    db.execute("PRAGMA journal_mode=WAL")  # concurrent readers and writers of several processes
    db.execute("PRAGMA synchronous=FULL")
    db.execute(f"PRAGMA journal_size_limit = {JOURNAL_LIMIT_BYTES}")
    with db:
        if "events" in tables and version < 2:
            # v1: event ids unique across every shop of the server.
            db.execute("ALTER TABLE events RENAME TO events_v1")
            for index in ("events_experiment", "events_clicks"):
                db.execute(f"DROP INDEX IF EXISTS {index}")
            db.executescript(_EVENTS)
            db.execute(f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM events_v1")
            db.execute("DROP TABLE events_v1")
        else:
            db.executescript(_EVENTS)
        db.executescript(_REST)
        if "dropped" in tables:  # v1 counted by reason only: keep the totals, shop unknown
            db.execute(
                "INSERT OR IGNORE INTO rejected (shop, day, reason, count)"
                " SELECT '', 0, reason, count FROM dropped"
            )
            db.execute("DROP TABLE dropped")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def prune(db: sqlite3.Connection, before: float) -> int:
    """Delete events (and rejection counts) older than ``before``; returns events deleted."""
    with db:
        deleted = db.execute("DELETE FROM events WHERE ts < ?", (before,)).rowcount
        db.execute("DELETE FROM rejected WHERE day < ? AND day > 0", (int(before // DAY),))
    if deleted:
        db.executescript("PRAGMA incremental_vacuum;")  # execute() would free one page only
    return int(deleted)
