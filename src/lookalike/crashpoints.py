"""Named points where a test can kill the process (SIGKILL), to prove crash safety.

``LOOKALIKE_CRASH_AT=<name>`` (or ``<name>:<n>`` for its n-th hit) kills the process the moment
it reaches that point; ``LOOKALIKE_CRASH_LOG=<file>`` appends every point reached to a file, so
a test can list the points a build passes. Without either variable a point costs one dict
lookup. Nothing in normal operation sets them.
"""

from __future__ import annotations

import os
import signal

__all__ = ["crash_point", "CRASH_AT", "CRASH_LOG"]

CRASH_AT = "LOOKALIKE_CRASH_AT"
CRASH_LOG = "LOOKALIKE_CRASH_LOG"
_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Die here (SIGKILL, no cleanup) when ``$LOOKALIKE_CRASH_AT`` names this point."""
    target = os.environ.get(CRASH_AT)
    log = os.environ.get(CRASH_LOG)
    if not target and not log:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{name}\n")
    if target:
        point, _, nth = target.partition(":")
        if point == name and _hits[name] == int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)
