"""The shops (tenants) a server holds, each a :class:`Recommender` that reload swaps atomically.

A request borrows the shop's current recommender for its whole duration (``with
registry.borrow(shop) as rec``). ``reload`` opens the rebuilt workspace completely first, then
swaps the reference under a lock; the old recommender is closed only when its last borrower
returns it, so requests in flight during a reload finish on the index they started with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lookalike.errors import ConfigError, NotFoundError
from lookalike.recommend.similar import Recommender
from lookalike.workspace import Workspace

__all__ = ["ShopRegistry", "ShopInfo"]


@dataclass
class _Handle:
    recommender: Recommender
    borrowers: int = 0
    retired: bool = False


@dataclass
class ShopInfo:
    """Book-keeping about one shop, for the stats endpoint."""

    root: Path
    loaded_at: float = field(default_factory=time.time)
    reloads: int = 0


class ShopRegistry:
    """Shop name (the workspace folder's name) -> its current recommender."""

    def __init__(self, workspaces: Sequence[str | Path]):
        self._lock = threading.Lock()
        self._handles: dict[str, _Handle] = {}
        self._info: dict[str, ShopInfo] = {}
        try:
            for name in workspaces:
                rec = Recommender(Workspace(name))
                shop = rec.workspace.shop
                if shop in self._handles:
                    rec.close()
                    raise ConfigError(
                        f"two workspaces are named {shop!r}: shops are named after their folder"
                    )
                self._handles[shop] = _Handle(rec)
                self._info[shop] = ShopInfo(rec.workspace.root)
        except BaseException:
            self.close()
            raise
        if not self._handles:
            raise ConfigError("no workspace to serve")

    @property
    def names(self) -> list[str]:
        """Shop names in the order they were given."""
        return list(self._handles)

    def info(self, shop: str) -> ShopInfo:
        """Book-keeping for ``shop`` (``NotFoundError`` when unknown)."""
        self._check(shop)
        return self._info[shop]

    def _check(self, shop: str) -> None:
        if shop not in self._handles:
            raise NotFoundError(f"unknown shop {shop!r}")

    @contextmanager
    def borrow(self, shop: str) -> Iterator[Recommender]:
        """The shop's current recommender, kept open until the ``with`` block ends."""
        with self._lock:
            self._check(shop)
            handle = self._handles[shop]
            handle.borrowers += 1
        try:
            yield handle.recommender
        finally:
            with self._lock:
                handle.borrowers -= 1
                close = handle.retired and handle.borrowers == 0
            if close:
                handle.recommender.close()

    def reload(self, shop: str) -> ShopInfo:
        """Open the shop's workspace afresh and swap it in; returns the updated info."""
        with self._lock:
            self._check(shop)
            root = self._info[shop].root
        fresh = Recommender(Workspace(root))  # fully loaded before anyone can see it
        with self._lock:
            old = self._handles[shop]
            self._handles[shop] = _Handle(fresh)
            old.retired = True
            close = old.borrowers == 0
            info = self._info[shop]
            info.loaded_at, info.reloads = time.time(), info.reloads + 1
        if close:
            old.recommender.close()
        return info

    def close(self) -> None:
        """Close every recommender (at shutdown)."""
        with self._lock:
            handles, self._handles = list(self._handles.values()), {}
        for handle in handles:
            handle.recommender.close()
