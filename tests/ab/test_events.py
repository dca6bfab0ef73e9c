"""The event log: dedup, bot filter, durability across reopen, concurrent writers lose nothing."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from lookalike.ab.events import Event, EventLog, is_bot
from lookalike.errors import ConfigError

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36"


def test_dedup_and_bots_are_dropped_and_counted(tmp_path: Path) -> None:
    with EventLog(tmp_path / "events.sqlite") as log:
        click = Event(
            "click",
            "demo",
            visitor="v1",
            target_id="p2",
            position=2,
            user_agent=BROWSER,
            event_id="e1",
        )
        assert log.record(click) is True
        assert log.record(click) is False  # same event delivered twice
        assert log.record(Event("click", "demo", user_agent="Googlebot/2.1")) is False
        assert log.count() == 1
        assert log.dropped() == {"duplicate": 1, "bot": 1}


def test_events_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    with EventLog(path) as log:
        log.record(
            Event(
                "impression",
                "demo",
                visitor="v",
                experiment="x",
                variant="image",
                shown=["a", "b"],
                user_agent=BROWSER,
            )
        )
    with EventLog(path) as log:
        (event,) = log.iter_events(experiment="x")
        assert event.shown == ["a", "b"] and event.variant == "image"


def _write_many(path: str, worker: int, n: int) -> None:
    with EventLog(path) as log:
        for i in range(n):
            log.record(Event("impression", "demo", visitor=f"{worker}-{i}", user_agent=BROWSER))


def test_concurrent_writers_from_several_processes_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "events.sqlite")
    EventLog(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(path, w, 150)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with EventLog(path) as log:
        assert log.count("impression") == 600


@pytest.mark.parametrize(
    ("agent", "bot"),
    [
        (BROWSER, False),
        ("", True),
        ("curl/8.1", True),
        ("Mozilla/5.0 (compatible; bingbot/2.0)", True),
        ("Mozilla/5.0 HeadlessChrome/120", True),
    ],
)
def test_bot_filter(agent: str, bot: bool) -> None:
    assert is_bot(agent) is bot


def test_bad_events_rejected() -> None:
    with pytest.raises(ConfigError):
        Event("purchase", "demo")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        Event("click", "demo", position=0)
