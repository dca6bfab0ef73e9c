"""Progress reporting: library code takes a callback, the bar lives at the CLI edge.

A long-running function takes ``progress: Progress | None`` and reports through
:func:`task`, which gives it an ``advance(n)`` function (a no-op without a callback)::

    advance = task(progress, "embedding images", total=len(images))
    for batch in batches:
        ...
        advance(len(batch))

The CLI passes a callback that draws a rich bar (``lookalike.cli.progressbar``); tests and
services pass nothing, or a list-appending function to check what was reported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["Progress", "task", "Advance"]

Advance = Callable[[int], None]


class Progress(Protocol):
    """Called with the task's description, how many items just finished (0 when a task starts),
    the task's total and an optional short note (losses, speed)."""

    def __call__(self, description: str, advance: int, total: int, note: str = "") -> None: ...


def _noop(n: int = 1, note: str = "") -> None:
    return None


def task(progress: Progress | bool | None, description: str, total: int) -> Callable[..., None]:
    """Start a task of ``total`` items; returns ``advance(n, note="")``.

    ``progress`` may be ``None`` or a bool (older call sites): only a callable reports.
    """
    if not callable(progress):
        return _noop
    report = progress
    report(description, 0, total)

    def advance(n: int = 1, note: str = "") -> None:
        report(description, n, total, note)

    return advance
