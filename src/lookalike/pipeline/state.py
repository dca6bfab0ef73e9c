"""What passes between the build stages: one ``BuildState``, filled in stage by stage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.catalog.models import Product
from lookalike.catalog.store import CatalogDiff, ProductStore
from lookalike.index.report import IndexBuild
from lookalike.index.vectors import VectorSet
from lookalike.pipeline.options import BuildOptions
from lookalike.pipeline.titles import TitleReport
from lookalike.recommend.topk import Neighbors
from lookalike.workspace import Workspace

__all__ = ["BuildState", "ImageState"]


@dataclass
class ImageState:
    """One distinct image source: where its bytes are and their hash, or why it failed."""

    source: str
    sha256: str | None = None
    path: Path | None = None
    reason: str | None = None
    error: str | None = None
    http_status: int | None = None
    stale: str | None = None  # a refresh failed; the cached copy was used (the reason)


@dataclass
class BuildState:
    """The workspace, options and open store of one build, and each stage's output."""

    ws: Workspace
    options: BuildOptions
    store: ProductStore
    source_name: str
    # local image paths: allowed under these folders only (None: any, a caller's own products)
    local_roots: list[Path] | None = None
    remote_catalog: bool = False  # fetched by URL: only http(s) images
    started: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)
    # catalog
    diff: CatalogDiff | None = None
    products: list[Product] = field(default_factory=list)
    # images: every distinct source, resolved to bytes on disk and a content hash
    images: dict[str, ImageState] = field(default_factory=dict)
    url_sources: set[str] = field(default_factory=set)
    downloads: dict[str, int] = field(default_factory=dict)
    hosts: dict[str, dict[str, int]] = field(default_factory=dict)
    # embed: the embedding cache (backbone space) after this build, and how many were new
    cache: VectorSet | None = None
    embedded: int = 0
    # ``gem`` without p: how the build chose it (pipeline/gem.py), for the manifest
    gem_choice: dict[str, Any] | None = None
    # vectors: image vectors in the product space (through the head), product -> its images
    space: VectorSet | None = None
    owned: dict[str, list[str]] = field(default_factory=dict)
    vectors: VectorSet | None = None
    # transform (--whiten, --expand): the product vectors before it, and what it applied
    base_vectors: VectorSet | None = None
    transform: dict[str, Any] = field(default_factory=dict)
    # index, table, titles
    index: IndexBuild | None = None
    neighbors: Neighbors | None = None
    # the near-duplicate threshold's measurements (pipeline/neardup.py), for the manifest
    near_duplicate_calibration: dict[str, Any] | None = None
    titles: TitleReport | None = None
    # publish to a serving store (--store milvus...): what the manifest records of it
    published: dict[str, Any] | None = None
    # catalog sync: the last journal change folded into this build's catalog
    sync_seq: int = 0

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the time spent inside the block to ``timings[stage]``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - t0

    def used_images(self) -> list[str]:
        """The content hashes of every image that resolved and embedded."""
        return [i.sha256 for i in self.images.values() if i.sha256 and not i.reason]
