"""HTTP service: JSON API, browse page, widget and event log over one or several shops.

Web code only: the A/B domain lives in ``lookalike.ab``. The CLI imports this package inside
``lookalike serve`` alone, so ``lookalike --help`` never loads FastAPI.
"""

from lookalike.serve.app import create_app, run_server

__all__ = ["create_app", "run_server"]
