"""A shop's serving data in Milvus: product vectors, the scalar fields filters use, the top-K table.

``--store milvus://HOST:PORT/collection`` (a Milvus server) or ``milvus-lite:PATH`` (an embedded
database file, one process at a time). Tenants stay apart by construction: each shop has its own
collections (``<base>_g<generation>``, with an alias ``<base>`` on the published one), every
collection records its shop in its properties, and opening one for another shop is refused.

A build writes a complete new collection before its workspace publish; the service opens the
collection the published manifest names (``milvus_publish.py`` moves the alias after that).
pymilvus is imported inside functions: the core CLI works without the ``scale`` extra.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.catalog.models import Product
from lookalike.catalog.store import normalize_title
from lookalike.errors import ConfigError, VectorIndexError, WorkspaceError

__all__ = [
    "StoreSpec",
    "MilvusShopStore",
    "MILVUS_INDEXES",
    "milvus_index_for",
    "SEARCH_CAP",
    "SHOP_PROPERTY",
    "connect",
    "row_batches",
]

SHOP_PROPERTY = "lookalike.shop"
SEARCH_CAP = 16384  # Milvus refuses a larger limit (topk) in one search
_CACHE = 50_000  # vectors of recent search hits kept in memory (~250 MB at 1280-d)
_BATCH = 2000  # rows per insert call (keeps each gRPC message well under its 64 MB cap)
# index kind of the build (--index) -> Milvus index type and build parameters
MILVUS_INDEXES: dict[str, tuple[str, dict[str, Any]]] = {
    "exact": ("FLAT", {}),
    "flat": ("FLAT", {}),
    "hnsw": ("HNSW", {"M": 16, "efConstruction": 200}),
    "ivfpq": ("IVF_SQ8", {"nlist": 1024}),  # lite has no IVF_PQ; SQ8 is the portable choice
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,200}")


def milvus_index_for(kind: str, count: int) -> tuple[str, dict[str, Any]]:
    """Milvus index type and params for a build's ``--index`` (``auto``: FLAT below 50k)."""
    if kind == "auto":
        kind = "flat" if count < 50_000 else "hnsw"
    if kind not in MILVUS_INDEXES:
        raise ConfigError(f"no Milvus index for --index {kind}; use {', '.join(MILVUS_INDEXES)}")
    return MILVUS_INDEXES[kind]


def _search_params(index_type: str, k: int) -> dict[str, Any]:
    if index_type == "HNSW":
        return {"metric_type": "IP", "params": {"ef": max(128, k)}}
    if index_type.startswith("IVF"):
        return {"metric_type": "IP", "params": {"nprobe": 32}}
    return {"metric_type": "IP", "params": {}}


@dataclass(frozen=True)
class StoreSpec:
    """Where a shop's serving data lives: ``uri`` for pymilvus and the collection base name."""

    kind: str  # "milvus" | "milvus-lite"
    uri: str  # http://host:port, or the absolute path of a milvus-lite database
    collection: str | None = None  # base name (alias); None: lookalike_<shop>

    @classmethod
    def parse(cls, text: str) -> StoreSpec:
        """``milvus://HOST:PORT[/collection]`` or ``milvus-lite:PATH``; ``ConfigError`` else."""
        text = text.strip()
        if text.startswith("milvus-lite:"):
            path = text.removeprefix("milvus-lite:")
            if not path:
                raise ConfigError("milvus-lite needs a path: --store milvus-lite:./shops.db")
            return cls("milvus-lite", str(Path(path).expanduser().resolve()))
        match = re.fullmatch(r"milvus://([^/:\s]+):(\d{1,5})(?:/([^/\s]*))?", text)
        if not match:
            raise ConfigError(
                f"--store must be milvus://HOST:PORT/collection or milvus-lite:PATH, got {text!r}"
            )
        host, port, collection = match.groups()
        if collection and not _NAME.fullmatch(collection):
            raise ConfigError(f"bad Milvus collection name {collection!r} (letters, digits, _)")
        return cls("milvus", f"http://{host}:{port}", collection or None)

    def base_name(self, shop: str) -> str:
        """The shop's collection base name (also the alias of its published generation)."""
        if self.collection:
            return self.collection
        return "lookalike_" + (re.sub(r"\W", "_", shop) or "shop")

    def to_dict(self) -> dict[str, Any]:
        """For the manifest."""
        return {"kind": self.kind, "uri": self.uri, "collection": self.collection}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoreSpec:
        """From the manifest."""
        return cls(str(data["kind"]), str(data["uri"]), data.get("collection"))


def connect(spec: StoreSpec) -> Any:
    """A pymilvus ``MilvusClient`` for ``spec`` (``ConfigError`` without the scale extra)."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise ConfigError(
            "--store milvus needs the scale extra: pip install 'lookalike[scale]'"
        ) from exc
    if spec.kind == "milvus-lite":
        Path(spec.uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        return MilvusClient(spec.uri)
    except Exception as exc:  # pymilvus raises bare MilvusException/grpc errors on connect
        raise WorkspaceError(f"cannot connect to Milvus at {spec.uri}: {exc}") from exc


def _scalars(product: Product) -> dict[str, Any]:
    # normalised copies of what filters compare, so a pushed-down expression means the same
    # as the Recommender's own predicate (which still runs on every hit)
    return {
        "category": normalize_title(product.category)[:1000],
        "price": product.price,
        "in_stock": bool(product.in_stock),
        "group_id": product.group_id[:1000],
        "attrs": {str(k): normalize_title(str(v)) for k, v in product.attrs.items()},
    }


class MilvusShopStore:
    """One shop's published Milvus collection: search, fetch, top-K lookup, upsert, delete."""

    def __init__(self, spec: StoreSpec, shop: str, collection: str | None = None) -> None:
        self.spec, self.shop = spec, shop
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()  # id -> vector, bounded
        self.client = connect(spec)
        self.collection = collection or self._resolve_alias(spec.base_name(shop))
        self._check_owner()
        # a collection is searchable only once loaded; after a restart Milvus may hold it
        # released (milvus-lite always does in a new process). Loading a loaded one is a no-op.
        self.client.load_collection(self.collection)
        info = self.client.describe_collection(self.collection)
        vector = next(f for f in info["fields"] if f["name"] == "vector")
        self.dim = int(vector["params"]["dim"])
        self.index_type = self._index_type()

    def _resolve_alias(self, base: str) -> str:
        try:
            return str(self.client.describe_alias(base)["collection_name"])
        except Exception as exc:  # pymilvus: MilvusException when the alias does not exist
            raise WorkspaceError(
                f"no published Milvus collection {base!r} for shop {self.shop!r}: "
                f"run `lookalike build {self.shop} --store ...` first ({exc})"
            ) from exc

    def _check_owner(self) -> None:
        if not self.client.has_collection(self.collection):
            raise WorkspaceError(f"Milvus collection {self.collection!r} does not exist")
        props = self.client.describe_collection(self.collection).get("properties") or {}
        owner = props.get(SHOP_PROPERTY)
        if owner != self.shop:
            raise ConfigError(
                f"Milvus collection {self.collection!r} belongs to shop {owner!r}, not "
                f"{self.shop!r}: each shop needs its own collection"
            )

    def _index_type(self) -> str:
        try:
            names = self.client.list_indexes(self.collection, field_name="vector")
            info = self.client.describe_index(self.collection, names[0])
            return str(info.get("index_type", "FLAT"))
        except (IndexError, KeyError):
            return "FLAT"

    def close(self) -> None:
        """Close the client."""
        self.client.close()

    def __len__(self) -> int:
        stats = self.client.get_collection_stats(self.collection)
        return int(stats.get("row_count", 0))

    # -- reads -----------------------------------------------------------------------------

    def search(
        self, queries: np.ndarray, k: int, *, expr: str | None = None
    ) -> tuple[np.ndarray, list[list[str]]]:
        """Top-``k`` ``(scores, ids)`` by inner product, only rows matching ``expr`` if given;
        rows padded with ``-inf`` / ``""`` like the local indexes."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if queries.shape[1] != self.dim:
            raise VectorIndexError(f"query has {queries.shape[1]} dims, store has {self.dim}")
        k = max(1, min(k, SEARCH_CAP))
        found = self.client.search(
            self.collection,
            data=queries.tolist(),
            limit=k,
            filter=expr or "",
            search_params=_search_params(self.index_type, k),
            output_fields=["vector"],  # the Recommender reads the hits' vectors next
        )
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = [[""] * k for _ in range(len(queries))]
        for q, hits in enumerate(found):
            for j, hit in enumerate(hits[:k]):
                scores[q, j], ids[q][j] = float(hit["distance"]), str(hit["id"])
                vector = (hit.get("entity") or {}).get("vector")
                if vector is not None:
                    self._remember(ids[q][j], np.asarray(vector, dtype=np.float32))
        return scores, ids

    def _remember(self, key: str, vector: np.ndarray) -> None:
        self._cache[key] = vector
        if len(self._cache) > _CACHE:
            self._cache.popitem(last=False)

    def fetch(self, ids: Sequence[str], fields: Sequence[str] = ("vector",)) -> dict[str, Any]:
        """``{id: row}`` for the ids that exist (rows hold ``fields``)."""
        out: dict[str, Any] = {}
        for start in range(0, len(ids), _BATCH):
            chunk = list(ids[start : start + _BATCH])
            for row in self.client.query(self.collection, ids=chunk, output_fields=list(fields)):
                out[str(row["id"])] = row
        return out

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """``{id: float32 vector}`` for the ids that exist. The hits of this store's recent
        searches come from memory (they were just returned by Milvus); others are queried."""
        found = {i: self._cache[i] for i in ids if i in self._cache}
        for pid, row in self.fetch([i for i in ids if i not in found]).items():
            found[pid] = np.asarray(row["vector"], dtype=np.float32)
        return {i: found[i] for i in ids if i in found}

    def all_ids(self) -> list[str]:
        """Every product id in the collection (iterated in pages)."""
        iterator = self.client.query_iterator(
            self.collection, batch_size=_BATCH, filter="", output_fields=["id"]
        )
        ids: list[str] = []
        try:
            while page := iterator.next():
                ids.extend(str(row["id"]) for row in page)
        finally:
            iterator.close()
        return ids

    def neighbors(self, product_id: str) -> list[tuple[str, float]] | None:
        """The stored top-K of ``product_id`` (``None`` when it is not in the store)."""
        row = self.fetch([product_id], ("neighbors",)).get(product_id)
        if row is None:
            return None
        table = row.get("neighbors") or {}
        return list(zip(table.get("ids", []), table.get("scores", []), strict=True))

    # -- writes ----------------------------------------------------------------------------

    def upsert(
        self,
        products: Sequence[Product],
        vectors: np.ndarray,
        neighbors: dict[str, list[tuple[str, float]]] | None = None,
    ) -> None:
        """Insert or replace products (vector + scalar fields + their top-K, when given)."""
        for product in products:
            self._cache.pop(product.id, None)
        for rows in row_batches(products, vectors, neighbors or {}):
            self.client.upsert(self.collection, rows)

    def delete(self, ids: Iterable[str]) -> None:
        """Remove products; unknown ids are ignored."""
        ids = list(ids)
        for pid in ids:
            self._cache.pop(pid, None)
        if ids:
            self.client.delete(self.collection, ids=ids)


def row_batches(
    products: Sequence[Product],
    vectors: np.ndarray,
    neighbors: dict[str, list[tuple[str, float]]],
) -> Iterator[list[dict[str, Any]]]:
    """Rows for Milvus, ``_BATCH`` at a time (Python lists of floats cost ~30 bytes a value:
    converting everything at once would need many times the vectors' memory)."""
    if len(products) != len(vectors):
        raise VectorIndexError(f"{len(products)} products for {len(vectors)} vectors")
    for start in range(0, len(products), _BATCH):
        stop = start + _BATCH
        yield _rows(products[start:stop], np.asarray(vectors[start:stop], np.float32), neighbors)


def _rows(
    products: Sequence[Product],
    vectors: np.ndarray,
    neighbors: dict[str, list[tuple[str, float]]],
) -> list[dict[str, Any]]:
    rows = []
    for product, vector in zip(products, vectors, strict=True):
        table = neighbors.get(product.id, [])
        rows.append(
            {
                "id": product.id,
                "vector": vector.tolist(),
                **_scalars(product),
                "neighbors": {
                    "ids": [pid for pid, _ in table],
                    "scores": [round(float(s), 7) for _, s in table],
                },
            }
        )
    return rows
