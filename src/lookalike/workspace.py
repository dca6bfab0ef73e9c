"""A shop's workspace folder: the one module that knows where every file of it lives.

Layout (see docs/architecture.md)::

    products.sqlite, images/, embeddings/<model>.npy, product_vectors.npy, title_vectors.npy,
    neighbors.npy, neighbor_scores.npy, index/, head/, experiments.json, manifest.json,
    report.json; events.sqlite beside the workspace folders

No other module builds a path inside a workspace: ask ``Workspace`` for it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lookalike.atomic import write_json_atomic
from lookalike.catalog.store import ProductStore
from lookalike.errors import WorkspaceError
from lookalike.index.vectors import VectorSet
from lookalike.textutil import is_url

__all__ = [
    "Workspace",
    "VectorFile",
    "resolve_workspace",
    "default_events_path",
    "DEFAULT_HOME",
    "EVENTS_FILE",
    "PRODUCT_VECTORS",
    "TITLE_VECTORS",
    "TITLE_CACHE",
]

DEFAULT_HOME = "lookalike-data"
MANIFEST_VERSION = 1
EVENTS_FILE = "events.sqlite"
PRODUCT_VECTORS = "product_vectors"
TITLE_VECTORS = "title_vectors"
TITLE_CACHE = "titles-minilm"


def resolve_workspace(name_or_path: str | os.PathLike[str]) -> Path:
    """A bare shop name (``demo``) lives under ``$LOOKALIKE_HOME`` or ``./lookalike-data``;
    anything that looks like a path (``./my-shop``, ``/srv/shop``) is used as it is."""
    text = os.fspath(name_or_path)
    if re.fullmatch(r"[\w.-]+", text) and text not in {".", ".."} and not Path(text).is_dir():
        home = Path(os.environ.get("LOOKALIKE_HOME", DEFAULT_HOME))
        return (home / text).resolve()
    return Path(text).expanduser().resolve()


def default_events_path(workspace_root: str | os.PathLike[str]) -> Path:
    """Where the service logs a shop's events: ``$LOOKALIKE_EVENTS_DB``, else
    ``events.sqlite`` beside the workspace folder (one log for the shops served together;
    every event carries its shop)."""
    env = os.environ.get("LOOKALIKE_EVENTS_DB")
    return Path(env) if env else Path(workspace_root).parent / EVENTS_FILE


@dataclass(frozen=True)
class VectorFile:
    """Where one ``VectorSet`` of a workspace lives: ``<folder>/<name>.npy`` + ``.ids.json``."""

    folder: Path
    name: str

    @property
    def npy(self) -> Path:
        """The vectors file."""
        return self.folder / f"{self.name}.npy"

    @property
    def ids(self) -> Path:
        """The ids file."""
        return self.folder / f"{self.name}.ids.json"

    def exists(self) -> bool:
        """Whether both files are there."""
        return VectorSet.exists(self.folder, self.name)

    def load(self, *, mmap: bool = True) -> VectorSet:
        """The saved set (``VectorIndexError`` when missing or inconsistent)."""
        return VectorSet.load(self.folder, self.name, mmap=mmap)

    def load_or_empty(self, dim: int) -> VectorSet:
        """The saved set read into memory, or an empty one of dimension ``dim``."""
        return self.load(mmap=False) if self.exists() else VectorSet.empty(dim)

    def save(self, vectors: VectorSet) -> None:
        """Write the set atomically (creating the folder)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        vectors.save(self.folder, self.name)


class Workspace:
    """Paths and the manifest of one shop's workspace."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = resolve_workspace(root)

    @property
    def shop(self) -> str:
        """The shop's name: its folder name."""
        return self.root.name

    # caches and state a build reuses -----------------------------------------------------
    @property
    def products_db(self) -> Path:
        """The product store (products + image records)."""
        return self.root / "products.sqlite"

    @property
    def images_dir(self) -> Path:
        """The image cache of fetched URLs (``ImageFetcher``'s folder)."""
        return self.root / "images"

    def image_cache_file(self, url: str) -> Path:
        """The cache file holding the bytes of image URL ``url`` (may not exist)."""
        from lookalike.catalog.fetch import ImageFetcher

        return ImageFetcher(self.images_dir).cache_paths(url)[0]

    def image_file(self, source: str) -> Path:
        """Where the bytes of an image source are on disk: the cache file of a URL, or the
        local file itself (either may not exist)."""
        return self.image_cache_file(source) if is_url(source) else Path(source)

    @property
    def embeddings_dir(self) -> Path:
        """The embedding caches, keyed by image (or title) content hash."""
        return self.root / "embeddings"

    def embeddings(self, model_key: str) -> VectorFile:
        """The image embedding cache of one model (rows keyed by sha256 of the bytes)."""
        return VectorFile(self.embeddings_dir, model_key)

    @property
    def title_cache(self) -> VectorFile:
        """The MiniLM title vector cache (rows keyed by sha256 of the title text)."""
        return VectorFile(self.embeddings_dir, TITLE_CACHE)

    # what the service reads ----------------------------------------------------------------
    @property
    def product_vectors(self) -> VectorFile:
        """One vector per product with an image."""
        return VectorFile(self.root, PRODUCT_VECTORS)

    @property
    def title_vectors(self) -> VectorFile:
        """One MiniLM title vector per titled product."""
        return VectorFile(self.root, TITLE_VECTORS)

    @property
    def neighbors_dir(self) -> Path:
        """The folder of the top-K table (``Neighbors.save`` / ``Neighbors.load``)."""
        return self.root

    @property
    def ray_shards_dir(self) -> Path:
        """Where Ray embedding actors write their Parquet shards (removed once read)."""
        return self.embeddings_dir / "ray-shards"

    @property
    def index_dir(self) -> Path:
        """The saved vector index (``lookalike.index.load_index(ws.index_dir)``)."""
        return self.root / "index"

    def model_file(self, name: str) -> Path:
        """A model made for this shop (``models/<name>.onnx``: the int8 model calibrated on
        its photos), so image search at serve time runs the model the build ran."""
        return self.root / "models" / f"{name}.onnx"

    @property
    def head_dir(self) -> Path:
        """The trained head (``lookalike train``) and its training log and plots."""
        return self.root / "head"

    @property
    def finetune_dir(self) -> Path:
        """A fine-tuned backbone exported to ONNX (``lookalike train --finetune``)."""
        return self.root / "finetune"

    @property
    def train_dir(self) -> Path:
        """Plots of a training run that are not part of a head."""
        return self.root / "train"

    @property
    def experiments_path(self) -> Path:
        """The A/B experiments of this shop."""
        return self.root / "experiments.json"

    @property
    def events_path(self) -> Path:
        """The event log the service writes for this shop (shared by the shops served together)."""
        return default_events_path(self.root)

    # what the shop configures and what the service appends (beside the builds) --------------
    @property
    def shop_config_path(self) -> Path:
        """Per-shop defaults and display settings (``shop.toml``, written by hand)."""
        return self.root / "shop.toml"

    @property
    def rules_path(self) -> Path:
        """Merchandising rules (``rules.json``: by hand or through the admin API)."""
        return self.root / "rules.json"

    @property
    def sync_journal(self) -> Path:
        """The catalog-sync journal: upserts/deletes over HTTP, append-only, applied on load."""
        return self.root / "sync" / "journal.jsonl"

    @property
    def sync_images_dir(self) -> Path:
        """Images uploaded with catalog-sync upserts (their bytes, by sha256)."""
        return self.root / "sync" / "images"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def report_path(self) -> Path:
        return self.root / "report.json"

    def create(self) -> Workspace:
        """Make the folder (and parents) if needed."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def is_built(self) -> bool:
        """Whether a build has completed here at least once."""
        return self.manifest_path.exists()

    def require_built(self) -> None:
        """Raise a helpful ``WorkspaceError`` when there is nothing built here."""
        if not self.root.exists():
            raise WorkspaceError(
                f"no workspace at {self.root}: "
                f"run `lookalike build {self.root} --catalog ...` first"
            )
        if not self.is_built:
            raise WorkspaceError(
                f"{self.root} has not been built yet: run `lookalike build {self.root} "
                "--catalog ...` first"
            )

    def manifest(self) -> dict[str, Any]:
        """The manifest of the last completed build."""
        self.require_built()
        try:
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WorkspaceError(f"cannot read {self.manifest_path}: {exc}") from exc

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest atomically (the last step of a build)."""
        write_json_atomic(self.manifest_path, {"version": MANIFEST_VERSION, **manifest})

    def open_store(self) -> ProductStore:
        """Open the product store (created empty if missing)."""
        self.create()
        return ProductStore(self.products_db)
