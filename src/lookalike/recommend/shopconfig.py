"""Per-shop defaults: ``shop.toml`` in the workspace (optional; every key is optional).

```toml
[defaults]            # every surface (CLI, API, browse page, widget)
k = 10

[widget]              # the widget, over [defaults]; a widget attribute overrides it
in_stock = true       # the built-in widget default too: shoppers never see sold-out items
category = "same"

[api]                 # the JSON API, over [defaults]
[browse]              # the browse page
[cli]                 # `lookalike similar`

[display]             # the widget's look; data-* attributes override it
currency = "EUR"      # shown with every price
headline = "You may also like"
accent = "#2563eb"    # colours: #rgb/#rrggbb or a CSS colour name
text = "#1f2937"
background = "#ffffff"

[title_lookup]
min_confidence = 0.8  # a page title must match a product title this well (cosine of the
                      # title embeddings; exact title matches always pass) or the widget is empty
```

A key of the query model (``SimilarQuery``) set in a surface section is that surface's
default; the query (CLI option, API parameter, widget attribute) always overrides it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lookalike.errors import ConfigError
from lookalike.recommend.query import QUERY_FIELDS, parse_query

__all__ = [
    "DEFAULT_TITLE_CONFIDENCE",
    "Display",
    "ShopConfig",
    "Surface",
    "load_shop_config",
    "safe_colour",
]

Surface = Literal["cli", "api", "browse", "widget"]
SURFACES: tuple[str, ...] = ("cli", "api", "browse", "widget")
DEFAULT_TITLE_CONFIDENCE = 0.8
# what every shop gets unless its shop.toml says otherwise
BUILT_IN: dict[str, dict[str, Any]] = {"widget": {"in_stock": True, "k": 8}, "browse": {"k": 12}}
_COLOUR = re.compile(r"#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}|[a-zA-Z]{3,20}")


def safe_colour(value: str | None) -> str | None:
    """``value`` when it is a plain CSS colour (``#rgb``, ``#rrggbb``, a name), else ``None``:
    nothing else may reach the widget's style sheet."""
    if value is None or not _COLOUR.fullmatch(value.strip()):
        return None
    return value.strip()


@dataclass(frozen=True)
class Display:
    """How the widget looks."""

    currency: str = ""
    headline: str = "Similar products"
    accent: str = "#2563eb"
    text: str = "#1f2937"
    background: str = "transparent"

    def overridden(self, **values: str | None) -> Display:
        """A copy with the given (non-empty, valid) values."""
        out = dict(self.__dict__)
        for key, value in values.items():
            if value is None or not str(value).strip():
                continue
            if key in {"accent", "text", "background"}:
                colour = safe_colour(value)
                if colour is None:
                    continue  # an unusable colour keeps the default rather than break the page
                value = colour
            out[key] = str(value).strip()[:80]
        return Display(**out)


@dataclass(frozen=True)
class ShopConfig:
    """A shop's ``shop.toml``: per-surface query defaults, display, title-lookup threshold."""

    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    display: Display = Display()
    title_confidence: float = DEFAULT_TITLE_CONFIDENCE

    def layers(self, surface: str) -> tuple[dict[str, Any], ...]:
        """The default layers of ``surface``, strongest first (for ``with_defaults``)."""
        return (
            self.defaults.get(surface, {}),
            self.defaults.get("defaults", {}),
            BUILT_IN.get(surface, {}),
        )


def _query_table(name: str, table: Any) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"shop.toml: [{name}] must be a table")
    unknown = sorted(set(table) - set(QUERY_FIELDS))
    if unknown:
        raise ConfigError(f"shop.toml: unknown key(s) in [{name}]: {', '.join(unknown)}")
    parse_query(table)  # fails early, with the key's name, on a bad value
    return dict(table)


def load_shop_config(path: Path) -> ShopConfig:
    """Read ``shop.toml`` (a missing file: the built-in defaults); ``ConfigError`` when bad."""
    if not path.exists():
        return ShopConfig()
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise ConfigError(f"reading {path} needs Python 3.11 or later (tomllib)") from None

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    unknown = sorted(set(data) - {"defaults", *SURFACES, "display", "title_lookup"})
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(unknown)}")
    defaults = {
        name: _query_table(name, data[name]) for name in ("defaults", *SURFACES) if name in data
    }
    display = data.get("display", {})
    if not isinstance(display, dict) or set(display) - set(Display.__dataclass_fields__):
        raise ConfigError(f"{path}: [display] takes {', '.join(Display.__dataclass_fields__)}")
    lookup = data.get("title_lookup", {})
    confidence = lookup.get("min_confidence", DEFAULT_TITLE_CONFIDENCE)
    if not isinstance(confidence, (int, float)) or not -1 <= confidence <= 1:
        raise ConfigError(f"{path}: [title_lookup] min_confidence must be in [-1, 1]")
    return ShopConfig(
        defaults=defaults,
        display=Display().overridden(**{k: str(v) for k, v in display.items()}),
        title_confidence=float(confidence),
    )
