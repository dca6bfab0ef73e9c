"""Products and their images in SQLite (WAL mode), inside the workspace.

The store is the catalog's source of truth: every product stays here, also those whose images
failed (they can still get text/attribute recommendations). Image rows record the outcome of
fetching/decoding each image source, with the reason when it failed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.catalog.models import Product, first_of_each_id
from lookalike.errors import CatalogError, NotFoundError

__all__ = ["ProductStore", "CatalogDiff", "ImageRecord", "normalize_title"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    title_norm TEXT NOT NULL DEFAULT '',
    title_invented INTEGER NOT NULL DEFAULT 0,
    category TEXT NOT NULL DEFAULT '',
    price REAL,
    in_stock INTEGER NOT NULL DEFAULT 1,
    url TEXT NOT NULL DEFAULT '',
    group_id TEXT NOT NULL DEFAULT '',
    attrs TEXT NOT NULL DEFAULT '{}',
    images TEXT NOT NULL DEFAULT '[]',
    record_hash TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS products_title_norm ON products(title_norm);
CREATE INDEX IF NOT EXISTS products_url ON products(url);
CREATE TABLE IF NOT EXISTS images (
    source TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    sha256 TEXT,
    reason TEXT,
    error TEXT,
    updated_at REAL NOT NULL
);
"""


def normalize_title(title: str) -> str:
    """Case-, accent- and whitespace-insensitive form of a title, for exact title lookups."""
    text = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(text.split())


def _record_hash(product: Product) -> str:
    payload = json.dumps(product.to_dict(), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class CatalogDiff:
    """What a catalog replacement changed, by product id."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    duplicates: int = 0

    def as_dict(self) -> dict[str, int]:
        """Counts only, for reports."""
        return {
            "added": len(self.added),
            "changed": len(self.changed),
            "removed": len(self.removed),
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
        }


@dataclass(frozen=True)
class ImageRecord:
    """The last known outcome for one image source."""

    source: str
    status: str  # "ok" or "failed"
    sha256: str | None
    reason: str | None
    error: str | None


class ProductStore:
    """SQLite-backed product catalog. Safe to share between threads (one lock)."""

    def __init__(self, path: str | Path, *, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        try:
            if read_only:  # a published snapshot: never written, never created
                uri = f"file:{self.path}?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
                self._check()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(_SCHEMA)
                self._migrate()
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"cannot open the product store {self.path}: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()

    def _check(self) -> None:
        """Fail now, not on some later query, when the file is damaged or not a store."""
        found = self._db.execute("PRAGMA quick_check").fetchone()
        if not found or found[0] != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {found[0] if found else '?'}")
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if not {"products", "images"} <= tables:
            raise sqlite3.DatabaseError("no products table (an empty or foreign file)")

    def _migrate(self) -> None:
        """Add the columns a store written by an older version lacks (their rows read the
        default; ``Product`` re-derives ``title_invented`` from the title on reading)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(products)")}
        if "title_invented" not in columns:
            self._db.execute(
                "ALTER TABLE products ADD COLUMN title_invented INTEGER NOT NULL DEFAULT 0"
            )
            self._db.commit()

    def snapshot(self, dest: Path) -> None:
        """Write a compact, self-contained copy (rollback journal, not WAL) to ``dest``."""
        dest.unlink(missing_ok=True)
        with self._lock:
            self._db.execute("VACUUM INTO ?", (str(dest),))
        copy = sqlite3.connect(dest)
        try:
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> ProductStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def replace_catalog(self, products: Iterable[Product]) -> CatalogDiff:
        """Make the store hold exactly ``products`` (in this order), in one transaction.

        A product id seen twice keeps its first record. Returns what changed, so that a
        refresh can re-embed only new or changed products.
        """
        diff = CatalogDiff()
        now = time.time()
        with self._lock, self._db:
            old = {
                row["id"]: row["record_hash"]
                for row in self._db.execute("SELECT id, record_hash FROM products")
            }
            seen: set[str] = set()

            def count_duplicate(dropped: Product, kept_origin: str) -> None:
                diff.duplicates += 1

            for position, product in enumerate(first_of_each_id(products, count_duplicate)):
                seen.add(product.id)
                digest = _record_hash(product)
                previous = old.get(product.id)
                if previous is None:
                    diff.added.append(product.id)
                elif previous != digest:
                    diff.changed.append(product.id)
                else:
                    diff.unchanged += 1
                self._db.execute(
                    "INSERT OR REPLACE INTO products (id, position, title, title_norm,"
                    " title_invented, category, price, in_stock, url, group_id, attrs, images,"
                    " record_hash, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        product.id,
                        position,
                        product.title,
                        normalize_title(product.title),
                        int(product.title_invented),
                        product.category,
                        product.price,
                        int(product.in_stock),
                        product.url,
                        product.group_id,
                        json.dumps(product.attrs, ensure_ascii=False, default=str),
                        json.dumps(product.images, ensure_ascii=False),
                        digest,
                        now if previous != digest else now,
                    ),
                )
            diff.removed = [pid for pid in old if pid not in seen]
            self._db.executemany(
                "DELETE FROM products WHERE id = ?", [(pid,) for pid in diff.removed]
            )
        return diff

    def record_images(self, records: Iterable[ImageRecord]) -> None:
        """Store the outcome of fetching/decoding image sources."""
        now = time.time()
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO images (source, status, sha256, reason, error, updated_at)"
                " VALUES (?,?,?,?,?,?)",
                [(r.source, r.status, r.sha256, r.reason, r.error, now) for r in records],
            )

    def prune_images(self) -> int:
        """Forget image sources no product refers to any more; returns how many."""
        with self._lock, self._db:
            used = {s for p in self.iter_products() for s in p.images}
            stale = [
                (row["source"],)
                for row in self._db.execute("SELECT source FROM images")
                if row["source"] not in used
            ]
            self._db.executemany("DELETE FROM images WHERE source = ?", stale)
        return len(stale)

    # -- reading ---------------------------------------------------------------------------

    @staticmethod
    def _product(row: sqlite3.Row) -> Product:
        return Product(
            id=row["id"],
            title=row["title"],
            images=json.loads(row["images"]),
            category=row["category"],
            price=row["price"],
            in_stock=bool(row["in_stock"]),
            url=row["url"],
            group_id=row["group_id"],
            attrs=json.loads(row["attrs"]),
            # a read-only snapshot of an older version has no such column
            title_invented="title_invented" in row.keys() and bool(row["title_invented"]),
        )

    def count(self) -> int:
        """Number of products."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM products").fetchone()[0])

    def ids(self) -> list[str]:
        """All product ids in catalog order."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT id FROM products ORDER BY position")]

    def iter_products(self) -> Iterator[Product]:
        """All products in catalog order."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM products ORDER BY position").fetchall()
        return (self._product(r) for r in rows)

    def get(self, product_id: str) -> Product:
        """One product; ``NotFoundError`` when the id is unknown."""
        with self._lock:
            row = self._db.execute("SELECT * FROM products WHERE id = ?", (product_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"unknown product {product_id!r}")
        return self._product(row)

    def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        """Products by id (unknown ids are left out)."""
        found: dict[str, Product] = {}
        with self._lock:
            for start in range(0, len(product_ids), 500):
                chunk = list(product_ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                for row in self._db.execute(f"SELECT * FROM products WHERE id IN ({marks})", chunk):
                    found[row["id"]] = self._product(row)
        return found

    def find_by_title(self, title: str) -> list[Product]:
        """Products whose normalised title equals the normalised ``title``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM products WHERE title_norm = ? ORDER BY position",
                (normalize_title(title),),
            ).fetchall()
        return [self._product(r) for r in rows]

    def find_by_url(self, url: str) -> list[Product]:
        """Products whose page URL equals ``url`` (ignoring a trailing slash)."""
        url = url.strip()
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM products WHERE url IN (?, ?) ORDER BY position",
                (url.rstrip("/"), url.rstrip("/") + "/"),
            ).fetchall()
        return [self._product(r) for r in rows]

    def search(self, query: str = "", *, limit: int = 24, offset: int = 0) -> list[Product]:
        """Products whose id or title contains ``query`` (case-insensitive), paged."""
        pattern = f"%{normalize_title(query)}%"
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM products WHERE title_norm LIKE ? OR id LIKE ?"
                " ORDER BY position LIMIT ? OFFSET ?",
                (pattern, f"%{query}%", limit, offset),
            ).fetchall()
        return [self._product(r) for r in rows]

    def image_records(self, sources: Iterable[str] | None = None) -> dict[str, ImageRecord]:
        """Known image outcomes, for the given sources or all of them."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM images").fetchall()
        wanted = None if sources is None else set(sources)
        return {
            r["source"]: ImageRecord(r["source"], r["status"], r["sha256"], r["reason"], r["error"])
            for r in rows
            if wanted is None or r["source"] in wanted
        }

    def image_record(self, source: str) -> ImageRecord | None:
        """The known outcome of one image source, or None."""
        with self._lock:
            r = self._db.execute("SELECT * FROM images WHERE source = ?", (source,)).fetchone()
        if r is None:
            return None
        return ImageRecord(r["source"], r["status"], r["sha256"], r["reason"], r["error"])

    def stats(self) -> dict[str, Any]:
        """Counts of products, categories and image outcomes."""
        with self._lock:
            categories = self._db.execute(
                "SELECT COUNT(DISTINCT category) FROM products"
            ).fetchone()[0]
            statuses = dict(
                self._db.execute("SELECT status, COUNT(*) FROM images GROUP BY status").fetchall()
            )
        return {"products": self.count(), "categories": categories, "images": statuses}
