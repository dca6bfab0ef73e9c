"""One small HTTP client per host for the image fetcher, with one TLS context for them all.

httpcore's pool walks every connection it holds for each request it places (and asks each
socket whether it is still readable), so one pool of 32 connections over many hosts spent
more CPU choosing a connection than fetching; it also closed the idle connections of one host
to open another's. A pool per host holds at most ``per_host`` connections (the politeness
limit, enforced here too), keeps them for that host, and has few to walk. Idle clients beyond
``max_idle`` hosts are closed, least recently used first, so a catalog spread over thousands
of hosts does not keep thousands of sockets open.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator

import httpx

from lookalike.catalog.http import FetchSettings, make_client

__all__ = ["HostClients"]


class HostClients:
    """``async with pool.client(host) as client``: the host's client, opened on first use."""

    def __init__(self, settings: FetchSettings, *, max_idle: int | None = None) -> None:
        self.settings = settings
        self.max_idle = max_idle if max_idle is not None else settings.concurrency
        self._ssl = httpx.create_ssl_context(trust_env=False)  # loading CA files is slow
        self._clients: OrderedDict[str, httpx.AsyncClient] = OrderedDict()
        self._users: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def client(self, host: str) -> AsyncIterator[httpx.AsyncClient]:
        """The client of ``host`` for the duration of the block."""
        found = self._clients.get(host)
        if found is None:
            found = make_client(
                self.settings,
                ssl_context=self._ssl,
                max_connections=self.settings.per_host,
                cookies=False,
            )
            self._clients[host] = found
        self._clients.move_to_end(host)
        self._users[host] = self._users.get(host, 0) + 1
        try:
            yield found
        finally:
            self._users[host] -= 1
            await self._trim()

    async def _trim(self) -> None:
        """Close the least recently used idle clients while there are too many."""
        idle = [h for h in self._clients if not self._users.get(h)]
        for host in idle[: max(0, len(idle) - self.max_idle)]:
            client = self._clients.pop(host)
            self._users.pop(host, None)
            await client.aclose()

    def __len__(self) -> int:
        return len(self._clients)

    async def aclose(self) -> None:
        """Close every client."""
        clients = list(self._clients.values())
        self._clients.clear()
        self._users.clear()
        for client in clients:
            await client.aclose()
