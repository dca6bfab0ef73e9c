"""``--engine ray``: image fetching and embedding as Ray Data pipelines on a Ray cluster.

Two pipelines, both running the project's own code inside Ray tasks (no second implementation):

- fetch: rows of image URLs -> ``map_batches`` tasks, each an ``ImageFetcher.fetch_many`` into the
  workspace's image cache (conditional requests, size limits, address checks as locally);
- embed: rows ``(sha256, path)`` -> decode/preprocess tasks (``embed.pipeline.prepare_image``) ->
  ``map_batches`` on an actor pool, one ONNX Runtime session per actor (CPU, or the CUDA provider
  with ``gpus_per_actor``) -> Parquet shards of ``(sha256, vector, error)`` written by the actors.

The driver reads the shards back by id (never by row position), so the embedding cache, product
vectors, index, top-K table and publish steps are the local pipeline's. A per-image failure is a
row with an ``error`` ("reason: message"), exactly as ``embed_images`` reports it.

Every node must see the workspace at the same path (shared storage) and have lookalike installed;
without ``address`` a local Ray instance is started for the build and stopped after it.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.errors import ConfigError, EmbedError
from lookalike.index.vectors import VectorSet
from lookalike.progress import Progress, task

if TYPE_CHECKING:
    from lookalike.catalog.fetch import FetchResult
    from lookalike.catalog.http import FetchSettings

__all__ = ["RaySettings", "ray_session", "ray_embed", "ray_fetch", "RayEmbedActor"]

log = logging.getLogger(__name__)

_LOCAL_OBJECT_STORE = 512 * 1024**2  # bytes; a local instance on a small machine
_FETCH_BATCH = 64


@dataclass(frozen=True, kw_only=True)
class RaySettings:
    """Where and how wide the Ray pipelines run. Validated on construction."""

    address: str | None = None  # "ray://head:10001", "auto", or None: a local instance
    actors: int = 1  # embedding actors (one model session each)
    batch_size: int = 32
    gpus_per_actor: float = 0.0  # > 0: the actors ask Ray for GPUs and use ONNX Runtime CUDA
    local_cpus: int | None = None  # CPUs of a local instance (None: all)

    def __post_init__(self) -> None:
        if self.actors < 1:
            raise ConfigError(f"ray actors must be at least 1, got {self.actors}")
        if not 1 <= self.batch_size <= 4096:
            raise ConfigError(f"batch size must be between 1 and 4096, got {self.batch_size}")
        if self.gpus_per_actor < 0:
            raise ConfigError(f"gpus per actor must be >= 0, got {self.gpus_per_actor}")


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401  (registers the tensor extension types for Parquet)
    except ImportError as exc:
        raise ConfigError(
            "--engine ray needs the scale extra: pip install 'lookalike[scale]'"
        ) from exc
    return ray


@contextmanager
def ray_session(settings: RaySettings) -> Iterator[Any]:
    """The ``ray`` module, connected: reuses a running session, else connects to
    ``settings.address`` (or starts a local instance) and shuts down afterwards."""
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.WARNING,
        }
        if settings.address:
            kwargs["address"] = settings.address
        else:
            kwargs |= {"num_cpus": settings.local_cpus, "object_store_memory": _LOCAL_OBJECT_STORE}
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot reach the Ray cluster {settings.address!r}: {exc}") from exc
        started = True
    # progress goes through the project's callback; Ray Data logs every plan at INFO
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


# -- fetch -------------------------------------------------------------------------------------


def _fetch_batch(
    batch: dict[str, np.ndarray], cache_dir: str, settings: FetchSettings, revalidate: bool
) -> dict[str, list[Any]]:
    """A Ray task: fetch one batch of URLs into the shared image cache."""
    from lookalike.catalog.fetch import ImageFetcher

    urls = [str(u) for u in batch["url"]]
    results = ImageFetcher(Path(cache_dir), settings).fetch_many(urls, revalidate=revalidate)
    fields = ("status", "path", "sha256", "http_status", "reason", "error", "attempts")
    out: dict[str, list[Any]] = {"url": urls, **{f: [] for f in fields}}
    for url in urls:
        result = results[url]
        for name in fields:
            value = getattr(result, name)
            out[name].append(str(value) if name == "path" and value is not None else value)
    return out


def ray_fetch(
    urls: list[str],
    cache_dir: Path,
    fetch_settings: FetchSettings,
    settings: RaySettings,
    *,
    revalidate: bool = True,
    progress: Progress | None = None,
) -> dict[str, FetchResult]:
    """``ImageFetcher.fetch_many`` spread over Ray tasks; same results, keyed by URL."""
    from lookalike.catalog.fetch import FetchResult

    unique = list(dict.fromkeys(urls))
    if not unique:
        return {}
    advance = task(progress, "fetching images (ray)", total=len(unique))
    with ray_session(settings) as ray:
        rows = (
            ray.data.from_items([{"url": u} for u in unique])
            .map_batches(
                _fetch_batch,
                batch_size=_FETCH_BATCH,
                batch_format="numpy",
                fn_kwargs={
                    "cache_dir": str(cache_dir),
                    "settings": fetch_settings,
                    "revalidate": revalidate,
                },
            )
            .take_all()
        )
    advance(len(rows))
    out: dict[str, FetchResult] = {}
    for row in rows:
        path = row.get("path")
        out[str(row["url"])] = FetchResult(
            url=str(row["url"]),
            status=row["status"],
            path=Path(path) if path else None,
            sha256=row.get("sha256") or None,
            http_status=_int_or_none(row.get("http_status")),
            reason=row.get("reason") or None,
            error=row.get("error") or None,
            attempts=int(row.get("attempts") or 0),
        )
    return out


def _int_or_none(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return int(value)


# -- embed -------------------------------------------------------------------------------------


def _decode_batch(batch: dict[str, np.ndarray], resize: int, crop: int) -> dict[str, Any]:
    """A Ray task: read, decode and preprocess a batch (``prepare_image``, as locally)."""
    from lookalike.embed.pipeline import prepare_image
    from lookalike.pipeline.images import file_loader

    keys = [str(k) for k in batch["key"]]
    pixels = np.zeros((len(keys), 3, crop, crop), dtype=np.float32)
    errors: list[str] = []
    for i, path in enumerate(batch["path"]):
        prepared = prepare_image(file_loader(Path(str(path))), resize, crop)
        if isinstance(prepared, str):
            errors.append(prepared)
        else:
            pixels[i] = prepared
            errors.append("")
    return {"key": keys, "pixels": pixels, "error": errors}


class RayEmbedActor:
    """Ray actor: one embedder (ONNX Runtime session) for its lifetime, a batch per call."""

    def __init__(self, model: str, device: str = "cpu") -> None:
        self.embedder = _actor_embedder(model, device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        errors = [str(e) for e in batch["error"]]
        good = [i for i, e in enumerate(errors) if not e]
        vectors = np.zeros((len(errors), self.embedder.dim), dtype=np.float32)
        if good:
            out = self.embedder.embed(np.asarray(batch["pixels"])[good])
            if out.shape != (len(good), self.embedder.dim):
                raise EmbedError(f"{self.embedder.name} returned {out.shape} for {len(good)}")
            vectors[good] = out
        return {"key": [str(k) for k in batch["key"]], "vector": vectors, "error": errors}


def _actor_embedder(model: str, device: str) -> Any:
    """The local engine's embedder on CPU; on GPU the same ONNX file with the CUDA provider
    (fp32 ONNX on both, so the vectors match the local engine's)."""
    from lookalike.embed.registry import get_embedder

    if device != "cuda" or model == "histogram":
        return get_embedder(model, device="cpu")
    from lookalike.embed.onnx_export import export_onnx, get_spec
    from lookalike.embed.runners import OnnxEmbedder

    spec = get_spec(model)
    embedder = OnnxEmbedder(
        export_onnx(model),
        name=spec.name,
        input_size=spec.input_size,
        resize_size=spec.resize_size,
        providers=("CUDAExecutionProvider", "CPUExecutionProvider"),
    )
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        log.warning("onnxruntime has no CUDA provider here (install onnxruntime-gpu): using CPU")
    return embedder


def ray_embed(
    todo: dict[str, Path],
    model: str,
    *,
    resize: int,
    crop: int,
    dim: int,
    out_dir: Path,
    settings: RaySettings,
    progress: Progress | None = None,
) -> tuple[VectorSet, dict[str, str]]:
    """Embed ``{sha256: image file}`` on Ray; returns the vectors by sha256 and the errors
    (``{sha256: "reason: message"}``). Shards go to ``out_dir`` (shared storage), removed after
    they are read back."""
    if not todo:
        return VectorSet.empty(dim), {}
    run_dir = out_dir / uuid.uuid4().hex
    # Ray's own dashboard shows live progress; here: start, then done when the shards are read
    advance = task(progress, "embedding images (ray)", total=len(todo))
    with ray_session(settings) as ray:
        items = [{"key": key, "path": str(path)} for key, path in todo.items()]
        blocks = max(1, min(len(items) // settings.batch_size, 64))
        ds = ray.data.from_items(items, override_num_blocks=blocks)
        ds = ds.map_batches(
            _decode_batch,
            batch_size=settings.batch_size,
            batch_format="numpy",
            fn_kwargs={"resize": resize, "crop": crop},
        )
        ds = ds.map_batches(
            RayEmbedActor,
            batch_size=settings.batch_size,
            batch_format="numpy",
            fn_constructor_kwargs={
                "model": model,
                "device": "cuda" if settings.gpus_per_actor > 0 else "cpu",
            },
            compute=ray.data.ActorPoolStrategy(size=settings.actors),
            num_gpus=settings.gpus_per_actor or None,
        )
        ds.write_parquet(str(run_dir))
        try:
            vectors, errors = read_shards(run_dir, dim)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
    advance(len(vectors) + len(errors))
    return vectors, errors


def read_shards(folder: Path, dim: int) -> tuple[VectorSet, dict[str, str]]:
    """The ``(key, vector, error)`` Parquet shards of ``folder`` as vectors by key + errors."""
    import pyarrow.parquet as pq

    ids: list[str] = []
    chunks: list[np.ndarray] = []
    errors: dict[str, str] = {}
    for shard in sorted(folder.glob("*.parquet")):
        table = pq.read_table(shard)
        keys = [str(k) for k in table.column("key").to_pylist()]
        errs = [str(e or "") for e in table.column("error").to_pylist()]
        vectors = np.asarray(table.column("vector").combine_chunks().to_numpy_ndarray())
        vectors = vectors.reshape(len(keys), dim).astype(np.float32, copy=False)
        good = [i for i, e in enumerate(errs) if not e]
        errors.update({keys[i]: errs[i] for i, e in enumerate(errs) if e})
        ids.extend(keys[i] for i in good)
        chunks.append(vectors[good])
    if not chunks:
        return VectorSet.empty(dim), errors
    return VectorSet(ids, np.concatenate(chunks)), errors
