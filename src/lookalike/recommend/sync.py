"""Add, change or remove products of a built shop without a build (catalog sync over HTTP).

A change is embedded (an image given as bytes: an upload, or what the service fetched from the
product's image URL), written to the workspace's sync journal, then laid over the live
recommender (``overlay.py``): the product is visible in search and as a neighbour of others at
once, a deleted one is gone from every list at once, and both survive a restart. The next
build folds the journal into its catalog.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

from lookalike.atomic import write_bytes_atomic
from lookalike.catalog.models import Product
from lookalike.errors import LookalikeError
from lookalike.recommend.milvus_views import mirror_changes
from lookalike.recommend.overlay import SyncJournal
from lookalike.recommend.similar import Recommender

__all__ = ["Change", "apply_changes"]

_LOCK = threading.Lock()  # one writer at a time per process: seq numbers stay in order


@dataclass
class Change:
    """One upsert (``product``, with the image bytes when it has one) or delete (``delete``)."""

    product: Product | None = None
    image: bytes | None = None
    uploaded: bool = False  # the bytes came with the request (no URL to fetch them again)
    delete: str = ""


def _keep_image(rec: Recommender, data: bytes) -> str:
    """Keep an image's bytes in the workspace (by sha256) so the image endpoint serves them."""
    folder = rec.workspace.sync_images_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()}.bin"
    if not path.exists():
        write_bytes_atomic(path, data)
    return str(path)


def apply_changes(rec: Recommender, changes: list[Change]) -> list[dict[str, Any]]:
    """Apply ``changes`` in order; one status per change (``ok`` or the one-line ``error``).

    A change that fails (an unusable image) is reported and skipped; the others go through.
    """
    entries: list[dict[str, Any]] = []
    statuses: list[dict[str, Any]] = []
    for change in changes:
        if change.product is None:
            entries.append(SyncJournal.delete(change.delete))
            statuses.append({"id": change.delete, "op": "delete", "status": "ok"})
            continue
        product = change.product
        try:
            vector = rec.embed_image(change.image) if change.image is not None else None
        except LookalikeError as exc:
            error = {"status": "error", "error": str(exc)}
            statuses.append({"id": product.id, "op": "upsert", **error})
            continue
        kept = _keep_image(rec, change.image) if change.image is not None else None
        if kept is not None and change.uploaded:  # no URL: the next build reads this file
            product.images = [kept, *[s for s in product.images if s != kept]]
        entries.append(SyncJournal.upsert(product, vector, kept))
        status = "ok" if vector is not None else "ok (no image: not a neighbour)"
        statuses.append({"id": product.id, "op": "upsert", "status": status})
    with _LOCK:
        written = rec.journal.append(entries)
        rec.overlay.apply(written)
        if rec.milvus is not None:  # a shop served from Milvus: the changes go there too
            mirror_changes(rec.milvus, rec.overlay, written)
        rec.__dict__.pop("fallback_pool", None)  # rebuilt with the new products on next use
    return statuses
