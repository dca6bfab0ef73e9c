"""The event log's limits: ids scoped per shop, the v1 file migration, retention, the daily
cap, rejection counts per shop and day; the signed tokens and the rate limiter."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from lookalike.ab.events import Event, EventLog
from lookalike.ab.eventschema import DAY
from lookalike.ab.limits import EventLimiter, EventLimits
from lookalike.ab.tokens import RenderToken, TokenError, shown_hash, sign, verify

UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0"


def test_event_ids_are_scoped_per_shop(tmp_path: Path) -> None:
    with EventLog(tmp_path / "e.sqlite") as log:
        assert log.record(Event("click", "alpha", event_id="same", user_agent=UA))
        # Another shop's client cannot pre-empt (or collide with) alpha's ids.
        assert log.record(Event("click", "beta", event_id="same", user_agent=UA))
        assert not log.record(Event("click", "alpha", event_id="same", user_agent=UA))
        assert log.count() == 2
        assert log.dropped("alpha") == {"duplicate": 1} and log.dropped("beta") == {}


def test_a_v1_log_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT,
          event_id TEXT NOT NULL UNIQUE, ts REAL NOT NULL, shop TEXT NOT NULL,
          type TEXT NOT NULL, visitor TEXT NOT NULL DEFAULT '',
          experiment TEXT NOT NULL DEFAULT '', variant TEXT NOT NULL DEFAULT '',
          product_id TEXT NOT NULL DEFAULT '', target_id TEXT NOT NULL DEFAULT '',
          position INTEGER, shown TEXT NOT NULL DEFAULT '[]',
          user_agent TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '');
        CREATE TABLE dropped (reason TEXT PRIMARY KEY, count INTEGER NOT NULL);
        INSERT INTO dropped VALUES ('bot', 7);
        """
    )
    db.execute(
        "INSERT INTO events (event_id, ts, shop, type) VALUES ('e1', ?, 'alpha', 'click')",
        (time.time(),),
    )
    db.commit()
    db.close()
    with EventLog(path) as log:
        assert [e.event_id for e in log.iter_events()] == ["e1"]
        assert log.record(Event("click", "beta", event_id="e1", user_agent=UA))
        assert log.dropped() == {"bot": 7}  # old totals kept (their shop is unknown)
    with EventLog(path) as log:  # and opening it again changes nothing
        assert log.count() == 2


def test_retention_deletes_old_events_and_the_file_stops_growing(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    now = time.time()
    with EventLog(path, retention_days=1) as log:
        log.record_many(
            Event("impression", "s", shown=["x" * 200] * 10, user_agent=UA, ts=now - 3 * DAY)
            for _ in range(2000)
        )
        log.record(Event("click", "s", user_agent=UA, ts=now))
        full = path.stat().st_size
        assert log.prune(now) == 2000
        assert log.count() == 1
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert path.stat().st_size < full / 4  # pages given back (auto_vacuum = incremental)


def test_daily_cap_per_shop(tmp_path: Path) -> None:
    with EventLog(tmp_path / "e.sqlite", daily_cap=5) as log:
        stored = sum(log.record(Event("click", "a", user_agent=UA)) for _ in range(8))
        assert stored == 5
        assert log.record(Event("click", "b", user_agent=UA))  # each shop has its own cap
        assert log.record(Event("click", "a", user_agent=UA, ts=time.time() - DAY))  # other day
        assert log.dropped("a") == {"daily_cap": 3}
    with EventLog(tmp_path / "e.sqlite", daily_cap=5) as log:  # the count survives a restart
        assert not log.record(Event("click", "a", user_agent=UA))


def test_service_rejections_are_counted_per_shop_and_period(tmp_path: Path) -> None:
    with EventLog(tmp_path / "e.sqlite") as log:
        for _ in range(3):
            log.reject("a", "rate_visitor")
        log.reject("a", "bad_token", ts=1000.0)
        log.reject("b", "rate_ip")
        assert log.dropped("a") == {"rate_visitor": 3, "bad_token": 1}
        assert log.dropped("a", periods=[(time.time() - 60, None)]) == {"rate_visitor": 3}
        assert log.dropped("b") == {"rate_ip": 1}


def test_tokens_are_signed_and_expire() -> None:
    secret = b"k" * 32
    token = sign(secret, {"a": 1, "exp": time.time() + 60})
    assert verify(secret, token)["a"] == 1
    with pytest.raises(TokenError, match="bad_token"):
        verify(b"other", token)
    body, mac = token.split(".")
    with pytest.raises(TokenError, match="bad_token"):
        verify(secret, body[:-2] + "xx." + mac)
    with pytest.raises(TokenError, match="expired_token"):
        verify(secret, sign(secret, {"exp": time.time() - 1}))
    render = RenderToken("s", "v", "r1", shown_hash(["a", "b"]), "p", "exp", "B", time.time() + 9)
    assert RenderToken.decode(secret, render.encode(secret)) == render
    for garbage in ("", ".", "a.b", "x" * 5000):
        with pytest.raises(TokenError):
            RenderToken.decode(secret, garbage)


def test_limiter_counts_visitors_addresses_and_new_visitors_per_address() -> None:
    limits = EventLimits(
        per_visitor_per_minute=3, per_ip_per_minute=10, visitors_per_ip_per_hour=4, max_keys=50
    )
    limiter = EventLimiter(limits)
    t = 1_000_000.0
    assert [limiter.check("v1", "ip1", t) for _ in range(4)] == [None, None, None, "rate_visitor"]
    assert limiter.check("v1", "ip1", t + 60) is None  # next minute
    refusals = [limiter.check(f"n{i}", "ip2", t) for i in range(6)]
    assert refusals == [None] * 4 + ["rate_ip_visitors"] * 2
    assert [limiter.check("v9", "ip3", t) for _ in range(3)] == [None] * 3
    many = [limiter.check(f"w{i}", "ip4", t) for i in range(12)]
    assert many.count(None) == 4 and "rate_ip_visitors" in many
    flood = EventLimiter(EventLimits(per_ip_per_minute=1000, max_keys=50))
    # Bounded memory: past max_keys, new keys are refused instead of remembered.
    results = [flood.check(f"v{i}", f"10.0.{i // 250}.{i % 250}", t) for i in range(200)]
    assert results.count(None) <= 50
