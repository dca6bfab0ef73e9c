"""The embed stage: new image contents through the embedder, cached by content hash."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from lookalike.catalog.store import ImageRecord
from lookalike.crashpoints import crash_point
from lookalike.embed.base import Embedder
from lookalike.index.vectors import VectorSet
from lookalike.pipeline.options import DECODE_REASONS
from lookalike.pipeline.state import BuildState

__all__ = ["EmbedStage", "EmbedderLoader"]


# the files to embed -> the embedder (int8 calibrates on them); called only when there are any
EmbedderLoader = Callable[[Sequence[Path]], Embedder]


class EmbedStage:
    """Embeds every image content not in the cache of ``key`` with the embedder ``load``
    gives (loaded only when some image is new); bytes that failed to decode in an earlier
    build are not tried again. Records every image's outcome in the store and saves the
    cache (pruned to the images in use). ``fresh``: ignore the saved cache (a new int8
    calibration makes its vectors void)."""

    def __init__(self, load: EmbedderLoader, key: str, dim: int, *, fresh: bool = False):
        self.load = load
        self.key = key
        self.dim = dim
        self.fresh = fresh
        self._cached_rows = 0
        self._embedder: Embedder | None = None

    def embedder(self, files: Sequence[Path]) -> Embedder:
        """The build's embedder: the one this stage loaded, else loaded now (``files``: what
        an int8 model calibrates on). Later stages that embed (near-duplicate calibration)
        share it."""
        if self._embedder is None:
            self._embedder = self.load(files)
        return self._embedder

    def prune(self, state: BuildState) -> None:
        """After the build published: drop the cached vectors no image in use has."""
        if state.cache is not None and len(state.cache) != self._cached_rows:
            state.ws.embeddings(self.key).save(state.cache)

    def __call__(self, state: BuildState) -> None:
        from lookalike.pipeline.engines import embed_files

        with state.timed("embed"):
            cache_file = state.ws.embeddings(self.key)
            cache = VectorSet.empty(self.dim) if self.fresh else cache_file.load_or_empty(self.dim)
            todo = self._todo(state, cache)
        new, errors = VectorSet.empty(self.dim), dict[str, str]()
        if todo:
            with state.timed("model"):  # load (and, for int8, calibrate once per workspace)
                embedder = self.embedder(list(todo.values()))
            with state.timed("embed"):
                # in this process, or on Ray (--engine ray): same inputs, same outputs
                new, errors = embed_files(todo, embedder, state.options, state.ws)
        with state.timed("embed"):
            for image in state.images.values():
                if image.sha256 in errors and not image.reason:
                    reason, _, message = errors[image.sha256].partition(": ")
                    image.reason, image.error = reason or "corrupt", message or reason
            state.embedded = len(new)
            crash_point("embed.embedded")
            if len(new) or self.fresh:  # whole until the build publishes (refused: no prune)
                cache = cache.merged(new)
                cache_file.save(cache)
            crash_point("embed.cache_saved")
            state.cache = cache.merged(VectorSet.empty(cache.dim), keep=state.used_images())
            self._cached_rows = len(cache)
            state.store.record_images(
                ImageRecord(i.source, "failed" if i.reason else "ok", i.sha256, i.reason, i.error)
                for i in state.images.values()
            )
            state.store.prune_images()
        crash_point("embed.done")

    @staticmethod
    def _todo(state: BuildState, cache: VectorSet) -> dict[str, Path]:
        """Content hash -> a file holding it, for every resolved image not embedded yet."""
        known = state.store.image_records(state.images)
        todo: dict[str, Path] = {}
        for image in state.images.values():
            if image.reason or image.sha256 is None or image.sha256 in cache:
                continue
            previous = known.get(image.source)
            if (
                previous is not None
                and previous.status == "failed"
                and previous.sha256 == image.sha256
                and previous.reason in DECODE_REASONS
            ):
                image.reason, image.error = previous.reason, previous.error
                continue
            if image.path is not None:
                todo.setdefault(image.sha256, image.path)
        return todo
