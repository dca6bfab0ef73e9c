"""The embed stage: new image contents through the embedder, cached by content hash."""

from __future__ import annotations

from pathlib import Path

from lookalike.catalog.store import ImageRecord
from lookalike.embed.base import Embedder
from lookalike.index.vectors import VectorSet
from lookalike.pipeline.images import file_loader
from lookalike.pipeline.options import DECODE_REASONS
from lookalike.pipeline.state import BuildState

__all__ = ["EmbedStage"]


class EmbedStage:
    """Embeds every image content not in the cache of ``key`` with ``embedder``; bytes that
    failed to decode in an earlier build are not tried again. Records every image's outcome
    in the store and saves the cache (pruned to the images in use)."""

    def __init__(self, embedder: Embedder, key: str):
        self.embedder = embedder
        self.key = key

    def __call__(self, state: BuildState) -> None:
        from lookalike.embed.pipeline import embed_images

        with state.timed("embed"):
            cache_file = state.ws.embeddings(self.key)
            cache = cache_file.load_or_empty(self.embedder.dim)
            todo = self._todo(state, cache)
            shas = list(todo)
            result = embed_images(
                [file_loader(todo[s]) for s in shas],
                self.embedder,
                batch_size=state.options.batch_size,
                workers=state.options.workers,
                progress=state.options.progress,
            )
            errors = {shas[i]: message for i, message in result.errors.items()}
            for image in state.images.values():
                if image.sha256 in errors and not image.reason:
                    reason, _, message = errors[image.sha256].partition(": ")
                    image.reason, image.error = reason or "corrupt", message or reason
            new = VectorSet([shas[i] for i in result.ok], result.vectors)
            state.cache = cache.merged(new, keep=state.used_images())
            state.embedded = len(result.ok)
            cache_file.save(state.cache)
            state.store.record_images(
                ImageRecord(i.source, "failed" if i.reason else "ok", i.sha256, i.reason, i.error)
                for i in state.images.values()
            )
            state.store.prune_images()

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
