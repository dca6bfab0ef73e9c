"""Where the build's fetch and embed stages run: in this process (``local``) or on Ray.

Both engines take and return the same things, so the stages around them (embedding cache,
product vectors, index, top-K, publish) do not know which one ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lookalike.embed.base import Embedder
from lookalike.index.vectors import VectorSet
from lookalike.pipeline.images import file_loader
from lookalike.pipeline.options import BuildOptions
from lookalike.workspace import Workspace

if TYPE_CHECKING:
    from lookalike.catalog.fetch import FetchResult, ImageFetcher
    from lookalike.pipeline.ray_engine import RaySettings

__all__ = ["ENGINES", "fetch_urls", "embed_files", "ray_settings"]

ENGINES = ("local", "ray")


def ray_settings(options: BuildOptions) -> RaySettings:
    """The Ray settings a build's options ask for."""
    from lookalike.pipeline.ray_engine import RaySettings

    return RaySettings(
        address=options.ray_address,
        actors=options.ray_actors,
        batch_size=options.batch_size or 32,  # no auto-calibration across a cluster
        gpus_per_actor=options.ray_gpus,
    )


def fetch_urls(
    fetcher: ImageFetcher, urls: list[str], options: BuildOptions
) -> dict[str, FetchResult]:
    """``{url: FetchResult}`` for every URL, fetched into ``fetcher``'s cache by the engine."""
    if options.engine == "ray":
        from lookalike.pipeline.ray_engine import ray_fetch

        return ray_fetch(
            urls,
            fetcher.cache_dir,
            fetcher.settings,
            ray_settings(options),
            revalidate=options.revalidate,
            progress=options.progress,
        )
    return fetcher.fetch_many(urls, progress=options.progress, revalidate=options.revalidate)


def embed_files(
    todo: dict[str, Path], embedder: Embedder, options: BuildOptions, ws: Workspace
) -> tuple[VectorSet, dict[str, str]]:
    """Embed ``{sha256: file}``: the vectors by sha256 and ``{sha256: "reason: message"}``."""
    if options.engine == "ray":
        from lookalike.embed.pipeline import input_geometry
        from lookalike.pipeline.ray_engine import ray_embed

        resize, crop = input_geometry(embedder)
        return ray_embed(
            todo,
            options.model_name,
            resize=resize,
            crop=crop,
            dim=embedder.dim,
            out_dir=ws.ray_shards_dir,
            settings=ray_settings(options),
            progress=options.progress,
        )
    from lookalike.embed.pipeline import embed_images

    shas = list(todo)
    result = embed_images(
        [file_loader(todo[s]) for s in shas],
        embedder,
        batch_size=options.batch_size,
        workers=options.workers,
        progress=options.progress,
    )
    new = VectorSet([shas[i] for i in result.ok], result.vectors)
    return new, {shas[i]: message for i, message in result.errors.items()}
