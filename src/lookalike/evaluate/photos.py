"""Photo -> catalog evaluation: outside photos are the queries, the catalog is the gallery.

``lookalike evaluate WS --queries-from photos.csv``. The CSV has a header and the columns
``image`` (a file path, relative to the CSV's folder or absolute), and ``product_id`` and/or
``category``. Relevance is by product (the catalog product of that id is the one right answer)
when ``product_id`` is filled in and the truth is ``product`` (the default when the column
exists), else by category (catalog products of the same category, or category-path prefix with
``category:D``). A photo whose bytes are exactly one of the catalog's images is not a query
(it is in the catalog); missing or unreadable files and unknown product ids are skipped and
counted in the report's notes.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lookalike.catalog.models import Product
from lookalike.errors import ConfigError
from lookalike.evaluate.truth import GroundTruth, TruthSpec, _codes, category_prefix
from lookalike.evaluate.vectors import file_reader
from lookalike.index.vectors import VectorSet
from lookalike.progress import Progress
from lookalike.workspace import Workspace

__all__ = ["PhotoQuery", "PhotoSet", "read_photo_queries", "photo_truth", "embed_photos"]

IMAGE_COLUMNS = ("image", "path", "photo", "file")


@dataclass(frozen=True)
class PhotoQuery:
    """One outside photo: its file, bytes hash, and what it shows."""

    path: Path
    sha256: str
    product_id: str = ""
    category: str = ""

    @property
    def qid(self) -> str:
        """Its id in the report (never a catalog id: the prefix has a colon)."""
        return f"photo:{self.sha256[:12]}"


@dataclass
class PhotoSet:
    """The usable queries of a CSV and why the other rows were left out."""

    source: Path
    queries: list[PhotoQuery]
    has_product: bool
    notes: dict[str, int] = field(default_factory=dict)


def _column(fields: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {f.strip().lower(): f for f in fields}
    return next((lowered[n] for n in names if n in lowered), None)


def read_photo_queries(path: Path, catalog_shas: set[str]) -> PhotoSet:
    """Rows of ``path`` (see the module doc) as queries; ConfigError for a bad file."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            fields = list(reader.fieldnames or [])
            image_col = _column(fields, IMAGE_COLUMNS)
            product_col = _column(fields, ("product_id", "id", "product"))
            category_col = _column(fields, ("category",))
            if image_col is None or (product_col is None and category_col is None):
                raise ConfigError(
                    f"{path} needs an image column and product_id and/or category (found {fields})"
                )
            rows = list(reader)
    except OSError as exc:
        raise ConfigError(f"cannot read photo queries {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path} is not a readable CSV file: {exc}") from exc
    notes = {"rows": len(rows), "missing_file": 0, "in_catalog": 0, "duplicate": 0}
    queries: list[PhotoQuery] = []
    seen: set[str] = set()
    for row in rows:
        raw = (row.get(image_col) or "").strip()
        file = Path(raw).expanduser()
        file = file if file.is_absolute() else path.parent / file
        try:
            sha = hashlib.sha256(file.read_bytes()).hexdigest()
        except OSError:
            notes["missing_file"] += 1
            continue
        if sha in catalog_shas:
            notes["in_catalog"] += 1  # the same bytes as a catalog image: not an outside photo
            continue
        if sha in seen:
            notes["duplicate"] += 1
            continue
        seen.add(sha)
        product = (row.get(product_col) or "").strip() if product_col else ""
        category = (row.get(category_col) or "").strip() if category_col else ""
        queries.append(PhotoQuery(file, sha, product, category))
    if not queries:
        raise ConfigError(f"{path}: no usable photo (skipped: {notes})")
    return PhotoSet(path, queries, product_col is not None, notes)


def photo_truth(
    ids: list[str], products: dict[str, Product], photos: PhotoSet, spec: TruthSpec
) -> tuple[GroundTruth, list[PhotoQuery]]:
    """Relevance of catalog rows ``ids`` (the gallery, first) to the photos (appended after).
    ``spec.kind == "identity"`` is by product id; ``category`` by (prefix of) category."""
    depth = spec.depth if spec.kind == "category" else None
    by_product = spec.kind == "identity"
    kept: list[PhotoQuery] = []
    unknown = 0
    for q in photos.queries:
        if by_product and q.product_id not in products:
            unknown += 1
            continue
        if not by_product and not (q.category or q.product_id in products):
            unknown += 1
            continue
        kept.append(q)
    if not kept:
        what = "product_id in the catalog" if by_product else "category"
        raise ConfigError(f"{photos.source}: no photo has a {what}")

    def category_of(q: PhotoQuery) -> str:
        raw = q.category or (products[q.product_id].category if q.product_id in products else "")
        return category_prefix(raw, depth)

    categories = [category_prefix(products[pid].category, depth) for pid in ids]
    categories += [category_of(q) for q in kept]
    groups, names = _codes(categories)
    labels = _codes(list(ids) + [q.product_id for q in kept])[0] if by_product else groups
    what = "the photo's product" if by_product else spec.describe()
    notes = {**photos.notes, "unknown_product_or_category": unknown, "queries": len(kept)}
    truth = GroundTruth(
        list(ids) + [q.qid for q in kept],
        groups,
        names,
        f"photo -> catalog: {what}",
        labels=labels,
        notes=notes,
        gallery=len(ids),
    )
    return truth, kept


def embed_photos(
    ws: Workspace,
    model: str,
    queries: list[PhotoQuery],
    *,
    served: bool,
    progress: Progress | None,
) -> tuple[np.ndarray, int]:
    """``(vectors, embedded now)`` of the photos under ``model``, through the workspace's head
    when ``served``; cached in the workspace's embedding cache (keyed by the bytes' hash).
    A photo that fails to decode gets a zero vector (it then finds nothing relevant)."""
    from lookalike.embed.pipeline import embed_images
    from lookalike.embed.registry import get_embedder, model_key

    key = model_key(model)
    embedder = get_embedder(model)
    cache = (
        VectorSet.load(ws.embeddings_dir, key, mmap=False)
        if VectorSet.exists(ws.embeddings_dir, key)
        else VectorSet.empty(embedder.dim)
    )
    todo = list({q.sha256: q.path for q in queries if q.sha256 not in cache}.items())
    result = embed_images(
        [file_reader(p) for _, p in todo], embedder, progress=progress, description="photos"
    )
    if result.ok:
        cache = cache.merged(VectorSet([todo[i][0] for i in result.ok], result.vectors))
        cache.save(ws.embeddings_dir, key)
    x = np.zeros((len(queries), cache.dim), dtype=np.float32)
    for i, q in enumerate(queries):
        if q.sha256 in cache:
            x[i] = cache.get(q.sha256)
    if served:  # the head the served catalog vectors went through, not a newer trained one
        from lookalike.embed.head import Head

        if ws.manifest().get("head"):
            x = Head.load(ws.served_head_dir).apply(x)
        from lookalike.recommend.space import to_served_space

        x = to_served_space(ws, x)  # --whiten / --expand, as the build applied them
    return x, len(result.ok)
