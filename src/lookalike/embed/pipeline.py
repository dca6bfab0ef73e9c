"""Bytes -> vectors for many images: threaded decode/preprocess overlapped with the model.

Decoding runs in a thread pool (Pillow releases the GIL while decoding and resizing) while the
model runs on the previous batch. At most ``PREFETCH_BATCHES + 1`` batches (more when batches
are smaller than twice the decode threads) are held at once, so memory stays O(batch size)
whatever the catalog size. A bad image is recorded and skipped;
it never stops the run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from lookalike.crashpoints import crash_point
from lookalike.embed.base import Embedder
from lookalike.embed.decode import load_image
from lookalike.embed.preprocess import preprocess, resize_for_input
from lookalike.embed.tuning import choose_batch_size, decode_workers
from lookalike.errors import EmbedError, ImageError, LookalikeError
from lookalike.progress import Progress
from lookalike.progress import task as progress_task

__all__ = [
    "EmbedResult",
    "ImageSource",
    "embed_images",
    "embed_one",
    "input_geometry",
    "prepare_image",
    "PREFETCH_BATCHES",
]

# Raw bytes, or a zero-argument callable returning them (read lazily inside a worker).
ImageSource = bytes | Callable[[], bytes]

PREFETCH_BATCHES = 2
_CALIBRATE_FROM = 256  # images


@dataclass
class EmbedResult:
    """Vectors for the inputs that worked, and why the others did not."""

    vectors: np.ndarray  # float32 (M, dim), rows for ``ok`` in input order
    ok: list[int] = field(default_factory=list)  # input indices that succeeded
    errors: dict[int, str] = field(default_factory=dict)  # input index -> "reason: message"


class _Batch(NamedTuple):
    """One batch in flight: its first input index, its rows (filled by the workers) and the
    workers' futures (the filled row, or the error text)."""

    start: int
    rows: np.ndarray
    futures: list[Future[Any]]


def _resize_size(embedder: Embedder) -> int:
    return int(getattr(embedder, "resize_size", None) or resize_for_input(embedder.input_size))


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ImageError):
        return f"{exc.reason}: {exc}"
    if isinstance(exc, LookalikeError):
        return f"{getattr(exc, 'reason', 'error')}: {exc}"
    return f"read_error: {exc}"


def _prepare(
    item: ImageSource, resize: int, crop: int, out: np.ndarray | None = None
) -> np.ndarray | str:
    """One image's model input (written into ``out`` when given), or the error text; runs in
    a worker thread."""
    try:
        data = item() if callable(item) else item
        image = load_image(data, min_side=resize)
        return preprocess(image, resize=resize, crop=crop, out=out)
    except (LookalikeError, OSError) as exc:
        return _error_text(exc)


def input_geometry(embedder: Embedder) -> tuple[int, int]:
    """``(resize, crop)``: the shorter-side resize and centre crop ``embedder`` expects."""
    return _resize_size(embedder), embedder.input_size


def prepare_image(item: ImageSource, resize: int, crop: int) -> np.ndarray | str:
    """One image's float32 ``(3, crop, crop)`` model input, or ``"reason: message"``.

    The decode + preprocess step of :func:`embed_images`, for engines that run it elsewhere
    (a Ray task): the same code, so the same vectors.
    """
    return _prepare(item, resize, crop)


def embed_one(data: bytes, embedder: Embedder) -> np.ndarray:
    """The float32 ``(dim,)`` unit vector of one image; raises ImageError for bad bytes."""
    resize = _resize_size(embedder)
    image = load_image(data, min_side=resize)
    batch = preprocess(image, resize=resize, crop=embedder.input_size)[None]
    return embedder.embed(batch)[0]


def embed_images(
    datas: Sequence[ImageSource],
    embedder: Embedder,
    *,
    batch_size: int | None = 32,
    workers: int | None = 2,
    progress: Progress | None = None,
    description: str = "embedding",
) -> EmbedResult:
    """Embed many images; bad ones are recorded in ``errors`` and skipped.

    ``datas``: image bytes, or zero-argument callables returning bytes (called in a worker;
    a ``LookalikeError`` or ``OSError`` from one is recorded like a bad image). Vectors come
    back in input order for the indices in ``ok``. ``progress`` is told how many images are
    done. Empty input gives a ``(0, dim)`` array. ``batch_size=None`` measures the fastest
    one (:func:`~lookalike.embed.tuning.choose_batch_size`); ``workers=None``: one decode
    thread per usable core.
    """
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    total = len(datas)
    vectors: list[np.ndarray] = []
    result = EmbedResult(vectors=np.zeros((0, embedder.dim), dtype=np.float32))
    if total == 0:
        return result
    workers = decode_workers(workers)
    if batch_size is None:  # measuring costs about a second: not worth it for a few images
        batch_size = choose_batch_size(embedder) if total >= _CALIBRATE_FROM else 8
    # Enough images in flight to keep every decode thread busy, however small the batch;
    # still a fixed bound, so memory stays flat whatever the catalog size.
    prefetch = max(PREFETCH_BATCHES, -(-2 * workers // batch_size))
    resize, crop = _resize_size(embedder), embedder.input_size
    starts = iter(range(0, total, batch_size))

    advance = progress_task(progress, description, total)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embed-decode") as pool:

        def submit_next(pending: deque[_Batch]) -> None:
            start = next(starts, None)
            if start is not None:
                # each worker writes its image straight into its row: the model's thread,
                # the critical path, copies nothing (stacking cost it ~0.2 ms per image)
                rows = np.empty((min(batch_size, total - start), 3, crop, crop), np.float32)
                futures = [
                    pool.submit(_prepare, datas[start + row], resize, crop, rows[row])
                    for row in range(len(rows))
                ]
                pending.append(_Batch(start, rows, futures))

        pending: deque[_Batch] = deque()
        for _ in range(prefetch):
            submit_next(pending)
        while pending:
            batch = pending.popleft()
            good: list[int] = []
            for row, future in enumerate(batch.futures):
                prepared = future.result()
                if isinstance(prepared, str):
                    result.errors[batch.start + row] = prepared
                else:
                    result.ok.append(batch.start + row)
                    good.append(row)
            submit_next(pending)  # keep the workers decoding while the model runs
            if good:
                inputs = batch.rows if len(good) == len(batch.rows) else batch.rows[good]
                out = embedder.embed(inputs)
                if out.shape != (len(good), embedder.dim):
                    raise EmbedError(
                        f"{embedder.name} returned shape {out.shape} for {len(good)} images"
                    )
                vectors.append(np.asarray(out, dtype=np.float32))
            advance(len(batch.futures))
            crash_point("embed.batch")

    if vectors:
        result.vectors = np.concatenate(vectors)
    return result
