"""HTTP service: JSON API, browse page, widget and event log over one or several shops.

``create_app`` / ``run_server`` load FastAPI on first use, so importing a light module such as
``lookalike.ab.events`` does not pull in the web stack.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "run_server"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from lookalike.serve import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
