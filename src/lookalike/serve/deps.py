"""FastAPI dependencies, as ``Annotated`` aliases the routes declare as parameter types."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Request

from lookalike.ab.events import EventLog
from lookalike.ab.variants import ShopExperiments
from lookalike.recommend.similar import Recommender
from lookalike.serve.settings import ServeSettings
from lookalike.serve.state import ServeState

__all__ = [
    "get_state",
    "get_settings",
    "borrow_shop",
    "require_shop_key",
    "key_allows",
    "StateDep",
    "SettingsDep",
    "ShopDep",
    "EventsDep",
    "AdminDep",
    "ExperimentsDep",
]


def get_state(request: Request) -> ServeState:
    """The running service's state."""
    state: ServeState = request.app.state.lookalike
    return state


StateDep = Annotated[ServeState, Depends(get_state)]


def get_settings(state: StateDep) -> ServeSettings:
    """The settings (read once at startup; tests replace them with ``dependency_overrides``)."""
    return state.settings


SettingsDep = Annotated[ServeSettings, Depends(get_settings)]


def get_events(state: StateDep) -> EventLog:
    """The impression/click log."""
    return state.events


EventsDep = Annotated[EventLog, Depends(get_events)]

ShopName = Annotated[str, Path(description="The shop: its workspace folder's name.")]


def borrow_shop(shop: ShopName, state: StateDep) -> Iterator[Recommender]:
    """The shop's current recommender, held for the whole request (a reload waits for it)."""
    with state.registry.borrow(shop) as rec:
        yield rec


ShopDep = Annotated[Recommender, Depends(borrow_shop)]


def get_experiments(shop: ShopName, state: StateDep) -> ShopExperiments:
    """The shop's A/B experiments (assignment, variants, attribution)."""
    state.registry.info(shop)  # 404 for an unknown shop
    return state.experiments[shop]


ExperimentsDep = Annotated[ShopExperiments, Depends(get_experiments)]


def key_allows(settings: ServeSettings, shop: str, key: str) -> bool:
    """Whether ``key`` is the shop's key or the admin key."""
    accepted = [k for k in (settings.admin_key, settings.api_keys.get(shop)) if k]
    # compare_digest against every candidate: the time taken does not tell which one matched.
    return bool(key) and any([secrets.compare_digest(key.encode(), k.encode()) for k in accepted])


def require_shop_key(
    shop: ShopName,
    settings: SettingsDep,
    state: StateDep,
    x_api_key: Annotated[str | None, Header(description="The shop's key or the admin key.")] = None,
) -> str:
    """Admin access to ``shop``: 401 without a key, 403 with a key that is not for this shop."""
    if not x_api_key:
        raise HTTPException(401, "missing X-API-Key header", headers={"WWW-Authenticate": "ApiKey"})
    if not key_allows(settings, shop, x_api_key):
        raise HTTPException(403, f"this key is not allowed to administer shop {shop!r}")
    state.registry.info(shop)  # 404 for an unknown shop, after the key check
    return shop


AdminDep = Annotated[str, Depends(require_shop_key)]
