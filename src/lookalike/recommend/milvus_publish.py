"""Publishing a shop to Milvus: a complete new generation collection, then the alias moves.

``write_generation`` writes ``<base>_g<time>`` (the shop recorded in its properties) and flushes
it; nothing reads it yet. The workspace's ``CURRENT`` is the one commit point (the service opens
the collection the published generation's manifest names, never the alias), so the build calls
``commit_generation`` only after ``CURRENT`` names the new generation: it moves the alias
``<base>`` onto it (for readers outside lookalike) and drops this shop's collections that no kept
generation names. The next build calls it again first, which repairs what a killed build left
(a half-written collection, an alias one step behind). Publishing into another shop's alias is
refused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from lookalike.catalog.models import Product
from lookalike.crashpoints import crash_point
from lookalike.errors import ConfigError
from lookalike.recommend.milvus import (
    SHOP_PROPERTY,
    StoreSpec,
    connect,
    milvus_index_for,
    row_batches,
)

__all__ = ["write_generation", "commit_generation"]

log = logging.getLogger(__name__)


def _schema(client: Any, dim: int) -> Any:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=1024)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("category", DataType.VARCHAR, max_length=1024)
    schema.add_field("price", DataType.DOUBLE, nullable=True)
    schema.add_field("in_stock", DataType.BOOL)
    schema.add_field("group_id", DataType.VARCHAR, max_length=1024)
    schema.add_field("attrs", DataType.JSON)
    schema.add_field("neighbors", DataType.JSON)
    return schema


def write_generation(
    spec: StoreSpec,
    shop: str,
    products: Sequence[Product],
    vectors: np.ndarray,
    neighbors: dict[str, list[tuple[str, float]]],
    *,
    index_kind: str = "auto",
) -> dict[str, Any]:
    """Write and flush a new generation collection for ``shop``; the alias does not move.

    Refuses (``ConfigError``) when the alias already points at another shop's collection.
    Returns what the manifest records: the spec, alias, collection written, index type, count.
    """
    client = connect(spec)
    try:
        base = spec.base_name(shop)
        _check_alias_owner(client, base, shop)
        name = f"{base}_g{time.strftime('%Y%m%d%H%M%S')}{time.time_ns() % 1_000_000:06d}"
        index_type, params = milvus_index_for(index_kind, len(products))
        index_params = client.prepare_index_params()
        index_params.add_index(
            field_name="vector", index_type=index_type, metric_type="IP", params=params
        )
        dim = int(np.asarray(vectors).shape[1])
        client.create_collection(
            name,
            schema=_schema(client, dim),
            index_params=index_params,
            properties={SHOP_PROPERTY: shop},
        )
        # create_collection loads it; released, milvus-lite builds no index of the segments
        # its memtable flushes while rows go in (each rebuilt after compaction, in a background
        # thread that races the load below on the same index file)
        client.release_collection(name)
        crash_point("store.created")
        for rows in row_batches(products, vectors, neighbors):
            client.insert(name, rows)
            crash_point("store.inserted")
        client.flush(name)
        _settle(spec, name)
        # the load builds the vector index of every segment (and saves it, so the service's
        # load reads it): without it milvus-lite would search these rows by brute force
        client.load_collection(name)
        _settle(spec, name)
        crash_point("store.flushed")
        return {
            **spec.to_dict(),
            "alias": base,
            "name": name,
            "index_type": index_type,
            "count": len(products),
        }
    finally:
        client.close()


def commit_generation(spec: StoreSpec, shop: str, name: str, keep: set[str]) -> None:
    """Point the shop's alias at collection ``name`` (already published by ``CURRENT``) and
    drop this shop's generations that are neither ``name``, in ``keep`` (the collections the
    kept workspace generations name) nor the alias's previous target. Idempotent."""
    client = connect(spec)
    try:
        base = spec.base_name(shop)
        _check_alias_owner(client, base, shop)
        if not client.has_collection(name):
            log.warning("Milvus collection %s of %s is missing: the alias stays", name, shop)
            return
        before = _alias_target(client, base)
        if before is None:
            client.create_alias(name, base)
        elif before != name:
            client.alter_alias(name, base)
        crash_point("store.alias")
        _drop_unreferenced(client, base, shop, keep={name, *keep, *([before] if before else [])})
        crash_point("store.dropped")
    finally:
        client.close()


def _settle(spec: StoreSpec, name: str) -> None:
    """milvus-lite only: wait for the background compaction and index build its flush started
    (none of its public calls waits for them), so nothing is still writing the collection's
    files when ``CURRENT`` publishes it: a process killed mid-write would leave a truncated
    index file that milvus-lite then fails to load. A Milvus server does this server-side."""
    if spec.kind != "milvus-lite":
        return
    try:
        from milvus_lite.server_manager import server_manager_instance

        engine = server_manager_instance._servers[spec.uri][1].get_collection(name)
        wait = engine._wait_for_bg
    except Exception as exc:  # another milvus-lite version, or no such server or collection
        log.debug("cannot wait for milvus-lite's background work: %s", exc)
        return
    wait()


def _alias_target(client: Any, alias: str) -> str | None:
    try:
        return str(client.describe_alias(alias)["collection_name"])
    except Exception:  # pymilvus: MilvusException "alias not found"
        return None


def _check_alias_owner(client: Any, base: str, shop: str) -> None:
    current = _alias_target(client, base)
    if current is None:
        if client.has_collection(base):
            raise ConfigError(f"Milvus already has a collection named {base!r}: pick another")
        return
    owner = (client.describe_collection(current).get("properties") or {}).get(SHOP_PROPERTY)
    if owner != shop:
        raise ConfigError(
            f"Milvus collection {base!r} belongs to shop {owner!r}, not {shop!r}: "
            "each shop needs its own collection"
        )


def _drop_unreferenced(client: Any, base: str, shop: str, *, keep: set[str]) -> None:
    """Drop this shop's generations of ``base`` not in ``keep`` (unpublished, or too old)."""
    prefix = f"{base}_g"
    for name in client.list_collections():
        if not name.startswith(prefix) or name in keep:
            continue
        props = client.describe_collection(name).get("properties") or {}
        if props.get(SHOP_PROPERTY) == shop:
            log.info("dropping Milvus collection %s (no kept generation names it)", name)
            client.drop_collection(name)
