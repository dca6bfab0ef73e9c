"""Product vectors of a built workspace under any model, for comparing models.

The workspace's own model is read from ``product_vectors.npy``. Another model embeds the
workspace's images (already on disk: local files or the fetch cache) with
:func:`~lookalike.embed.pipeline.embed_images` and caches them like ``build`` does, in
``embeddings/<model_key>.npy`` keyed by the SHA-256 of the image bytes: a second evaluation
(or a later ``build --model``) embeds nothing again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.catalog.models import Product
from lookalike.catalog.store import ProductStore
from lookalike.errors import ImageError, WorkspaceError
from lookalike.index.vectors import VectorSet
from lookalike.progress import Progress
from lookalike.workspace import Workspace

__all__ = ["ModelVectors", "workspace_vectors", "random_vectors", "image_path"]

RANDOM_DIM = 128


@dataclass
class ModelVectors:
    """Product vectors (L2-normalised rows) for one model and how long getting them took."""

    model: str
    vectors: VectorSet
    seconds: float
    embedded: int  # images embedded now (0 when everything came from the cache)


def random_vectors(ids: list[str], seed: int, dim: int = RANDOM_DIM) -> VectorSet:
    """The "random" model: seeded Gaussian unit vectors, a floor every model must beat."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((len(ids), dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return VectorSet(list(ids), x)


def image_path(source: str, ws: Workspace) -> Path:
    """Where the bytes of an image source are on disk (the source itself, or the fetch cache)."""
    return ws.image_file(source)


def file_reader(path: Path) -> Callable[[], bytes]:
    """A deferred read of ``path`` for the embed pipeline; an unreadable file is an
    ``ImageError`` (reason ``unreadable``), recorded per image, not a failed run."""

    def read() -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ImageError(f"{path}: {exc.strerror or exc}", reason="unreadable") from exc

    return read


def workspace_vectors(
    ws: Workspace,
    model: str,
    products: dict[str, Product],
    store: ProductStore,
    *,
    progress: Progress | None = None,
    seed: int = 0,
) -> ModelVectors:
    """Product vectors of ``ws`` under ``model`` (a registry name, a ``.onnx`` path or
    ``"random"``): the normalised mean of each product's image vectors, as ``build`` does.
    ``model=""`` is the workspace's own vectors as served (its model, plus its trained head
    when it has one); naming the model gives the plain backbone."""
    started = time.perf_counter()
    own = ws.product_vectors.load(mmap=False)
    if model == "random":
        return ModelVectors(model, random_vectors(own.ids, seed), time.perf_counter() - started, 0)
    from lookalike.embed.pipeline import embed_images
    from lookalike.embed.registry import get_embedder, model_key

    if not model:  # the workspace's own vectors, as served (with its trained head, if any)
        return ModelVectors(model, own, time.perf_counter() - started, 0)
    if model == "tuned":  # the shop's adopted fine-tuned model (train --method partial)
        from lookalike.train.partial import tuned_model

        model = str(tuned_model(ws))
    key = model_key(model)
    manifest = ws.manifest()
    if key == manifest.get("model_key") and not manifest.get("head"):
        return ModelVectors(model, own, time.perf_counter() - started, 0)
    # another model, or the plain backbone under a trained head: from the embedding cache

    records = store.image_records()
    embedder = get_embedder(model)
    cache = (
        ws.embeddings(key).load(mmap=False)
        if ws.embeddings(key).exists()
        else VectorSet.empty(embedder.dim)
    )
    todo: dict[str, Path] = {}
    for record in records.values():
        if record.status == "ok" and record.sha256 and record.sha256 not in cache:
            todo.setdefault(record.sha256, image_path(record.source, ws))
    shas = list(todo)
    result = embed_images(
        [file_reader(todo[s]) for s in shas], embedder, progress=progress, description=key
    )
    if result.ok:
        cache = cache.merged(VectorSet([shas[i] for i in result.ok], result.vectors))
        ws.embeddings(key).save(cache)

    ids: list[str] = []
    rows: list[np.ndarray] = []
    for pid in own.ids:  # the same products as the workspace's own vectors, same order
        shas_of = [
            records[s].sha256
            for s in products[pid].images
            if s in records and records[s].status == "ok" and records[s].sha256 in cache
        ]
        if not shas_of:
            continue
        mean = np.mean(cache.take([str(sha) for sha in dict.fromkeys(shas_of)]).vectors, axis=0)
        norm = float(np.linalg.norm(mean))
        if norm > 0:
            ids.append(pid)
            rows.append(mean / norm)
    if not ids:
        raise WorkspaceError(f"no image of {ws.root} could be embedded with {model}")
    vectors = VectorSet(ids, np.asarray(rows, dtype=np.float32))
    return ModelVectors(model, vectors, time.perf_counter() - started, len(result.ok))
