"""Service configuration: environment variables prefixed ``LOOKALIKE_``, read once per process.

``LOOKALIKE_API_KEYS="demo=secret1,other=secret2"`` gives each shop its own admin key,
``LOOKALIKE_ADMIN_KEY`` one key for every shop, ``LOOKALIKE_CORS_ORIGINS=
"demo=https://shop.example|https://www.shop.example"`` the pages allowed to call a shop's API
from a browser. Routes receive the settings through ``Depends(get_settings)`` so that tests can
override them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from lookalike.textutil import parse_pairs

__all__ = ["ServeSettings", "load_settings", "DEFAULT_MAX_UPLOAD_BYTES"]

DEFAULT_MAX_UPLOAD_BYTES = 10 * 2**20


def _pairs(value: object, *, multi: bool) -> object:
    """Parse ``"a=x,b=y"`` (values split on ``|`` when ``multi``) into a dict; dicts pass."""
    if not isinstance(value, str):
        return value
    out: dict[str, object] = {}
    for shop, rest in parse_pairs(value, what="shop=value").items():
        if not rest:
            raise ValueError(f"expected shop=value, got {shop + '='!r}")
        out[shop] = [o.strip().rstrip("/") for o in rest.split("|") if o.strip()] if multi else rest
    return out


class ServeSettings(BaseSettings):
    """Everything the service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="LOOKALIKE_", extra="ignore", frozen=True)

    api_keys: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, description="Per-shop admin keys: shop=key,shop2=key2."
    )
    admin_key: str | None = Field(None, description="A key accepted for every shop.")
    cors_origins: Annotated[dict[str, list[str]], NoDecode] = Field(
        default_factory=dict,
        description="Per-shop browser origins allowed to call the API: shop=https://a|https://b.",
    )
    max_upload_bytes: int = Field(DEFAULT_MAX_UPLOAD_BYTES, gt=0)
    allow_private: bool = Field(
        False, description="Let image-URL search fetch from loopback/private addresses."
    )
    fetch_timeout: float = Field(10.0, gt=0)
    events_db: Path | None = Field(
        None, description="Event log file (default: events.sqlite beside the first workspace)."
    )
    secret: str | None = Field(
        None,
        description="Key that signs widget tokens and A/B login cookies (default: random per "
        "process, so they end with it; set one when several processes serve).",
    )
    # Image decoding of searches: a bounded pool.
    decode_workers: int = Field(0, ge=0, description="Decode threads (0: one per core).")
    decode_queue: int = Field(8, ge=0, description="Images waiting beyond that get 503.")
    # Request limits.
    max_body_bytes: int = Field(
        64 * 1024, gt=0, description="Largest body of a non-upload request (413 above)."
    )
    max_json_depth: int = Field(32, gt=0, description="Deepest JSON nesting accepted (422).")
    # Events.
    require_event_token: bool = Field(
        True, description="Events need the token of a widget render (or the shop's key)."
    )
    event_token_ttl: float = Field(4 * 3600.0, gt=0, description="Seconds a render token lives.")
    events_per_visitor_per_minute: int | None = Field(60, ge=1)
    events_per_ip_per_minute: int | None = Field(600, ge=1)
    visitors_per_ip_per_hour: int | None = Field(200, ge=1)
    events_per_shop_per_day: int | None = Field(200_000, ge=1)
    event_retention_days: float | None = Field(90.0, gt=0)
    trust_proxy_headers: bool = Field(
        False, description="Take the client address from X-Forwarded-For (behind a proxy)."
    )
    ab_session_ttl: float = Field(8 * 3600.0, gt=0, description="A/B page login lifetime (s).")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: object) -> object:
        return _pairs(value, multi=False)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: object) -> object:
        return _pairs(value, multi=True)

    def origins_for(self, shop: str) -> list[str]:
        """The browser origins allowed for ``shop`` (``*`` entries apply to every shop)."""
        return [*self.cors_origins.get(shop, []), *self.cors_origins.get("*", [])]


@lru_cache(maxsize=1)
def load_settings() -> ServeSettings:
    """The settings from the environment, read once per process."""
    return ServeSettings()
