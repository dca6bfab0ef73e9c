"""Publishing a shop to Milvus: a complete new generation collection, then the alias moves.

Each build writes ``<base>_g<time>`` with the shop recorded in its properties, moves the alias
``<base>`` onto it (the commit point: readers of the alias switch at once) and drops this shop's
generations beyond the newest two. Publishing into another shop's alias is refused.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from lookalike.catalog.models import Product
from lookalike.errors import ConfigError
from lookalike.recommend.milvus import (
    SHOP_PROPERTY,
    StoreSpec,
    connect,
    milvus_index_for,
    row_batches,
)

__all__ = ["publish_shop"]

_KEEP_GENERATIONS = 2


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


def publish_shop(
    spec: StoreSpec,
    shop: str,
    products: Sequence[Product],
    vectors: np.ndarray,
    neighbors: dict[str, list[tuple[str, float]]],
    *,
    index_kind: str = "auto",
) -> dict[str, Any]:
    """Write a new generation collection for ``shop``, then move its alias onto it.

    Refuses (``ConfigError``) when the alias already points at another shop's collection.
    Returns what the manifest records: the spec, the collection written, index type, count.
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
        for rows in row_batches(products, vectors, neighbors):
            client.insert(name, rows)
        client.flush(name)
        if _alias_exists(client, base):
            client.alter_alias(name, base)
        else:
            client.create_alias(name, base)
        _drop_old(client, base, shop, keep=name)
        return {
            **spec.to_dict(),
            "alias": base,
            "name": name,
            "index_type": index_type,
            "count": len(products),
        }
    finally:
        client.close()


def _alias_exists(client: Any, alias: str) -> bool:
    try:
        client.describe_alias(alias)
    except Exception:  # pymilvus: MilvusException "alias not found"
        return False
    return True


def _check_alias_owner(client: Any, base: str, shop: str) -> None:
    if not _alias_exists(client, base):
        if client.has_collection(base):
            raise ConfigError(f"Milvus already has a collection named {base!r}: pick another")
        return
    current = client.describe_alias(base)["collection_name"]
    owner = (client.describe_collection(current).get("properties") or {}).get(SHOP_PROPERTY)
    if owner != shop:
        raise ConfigError(
            f"Milvus collection {base!r} belongs to shop {owner!r}, not {shop!r}: "
            "each shop needs its own collection"
        )


def _drop_old(client: Any, base: str, shop: str, *, keep: str) -> None:
    """Drop this shop's generations of ``base`` beyond the newest ``_KEEP_GENERATIONS``."""
    prefix = f"{base}_g"
    mine = []
    for name in client.list_collections():
        if not name.startswith(prefix) or name == keep:
            continue
        props = client.describe_collection(name).get("properties") or {}
        if props.get(SHOP_PROPERTY) == shop:
            mine.append(name)
    for name in sorted(mine)[: max(0, len(mine) - (_KEEP_GENERATIONS - 1))]:
        client.drop_collection(name)
