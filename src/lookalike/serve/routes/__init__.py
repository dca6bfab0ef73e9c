"""One APIRouter per area: api (JSON), browse (HTML), widget, events, admin (ops)."""

from lookalike.serve.routes import admin, api, browse, events, widget

__all__ = ["admin", "api", "browse", "events", "widget"]
