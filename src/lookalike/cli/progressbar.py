"""The rich progress bars of the CLI: a ``lookalike.progress.Progress`` callback on stderr."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lookalike.progress import Progress

__all__ = ["RichProgress", "progress_bars"]


class RichProgress:
    """One rich bar per task description (items/s, ETA, the latest note); ``close()`` stops."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._tasks: dict[str, Any] = {}
        self._started: dict[str, float] = {}
        self._bar.start()

    def __call__(self, description: str, advance: int, total: int, note: str = "") -> None:
        task = self._tasks.get(description)
        if task is None or advance == 0:
            if task is not None:
                self._bar.remove_task(task)
            task = self._bar.add_task(description, total=total, rate="", note=note)
            self._tasks[description] = task
            self._started[description] = time.perf_counter()
        elapsed = time.perf_counter() - self._started[description]
        self._bar.advance(task, advance)
        done = self._bar.tasks[self._tasks_index(task)].completed
        rate = f"{done / elapsed:.1f}/s" if elapsed > 0 and done else ""
        self._bar.update(task, rate=rate, note=note)

    def _tasks_index(self, task: Any) -> int:
        return next(i for i, t in enumerate(self._bar.tasks) if t.id == task)

    def close(self) -> None:
        """Stop drawing."""
        self._bar.stop()


@contextmanager
def progress_bars(enabled: bool = True) -> Iterator[Progress | None]:
    """Yields a rich progress callback on stderr (or ``None`` when not ``enabled``)."""
    if not enabled:
        yield None
        return
    bars = RichProgress()
    try:
        yield bars
    finally:
        bars.close()
