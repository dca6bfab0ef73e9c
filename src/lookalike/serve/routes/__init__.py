"""One APIRouter per area: api (JSON), browse (HTML), widget, events, admin (ops), ab."""

from lookalike.serve.routes import ab, admin, api, browse, events, widget

__all__ = ["ab", "admin", "api", "browse", "events", "widget"]
