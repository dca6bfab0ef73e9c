"""A shop's workspace folder: the one module that knows where every file of it lives.

Layout (see docs/architecture.md)::

    CURRENT                  the published generation's id (replaced atomically: the commit point)
    generations/<id>/        everything the service reads, immutable once published:
        products.sqlite, product_vectors.*, title_vectors.*, neighbors.*, answers.*,
        index/, head/, manifest.json
    products.sqlite          the build's catalog store (a cache: image outcomes, diffs)
    images/, embeddings/     caches a build reuses, never served as they are
    head/, weights/, experiments.json  inputs (head, tuned weights, A/B); report.json: last build
    events.sqlite            beside the workspace folders

A ``Workspace`` pins the generation ``CURRENT`` names the first time a served path is asked
for, so one reader never mixes two builds. A workspace built before generations existed (its
files at the top level, no ``CURRENT``) is read where it is. No other module builds a path
inside a workspace: ask ``Workspace`` for it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lookalike.atomic import write_json_atomic
from lookalike.catalog.store import ProductStore
from lookalike.errors import CatalogError, WorkspaceError
from lookalike.index.vectors import VectorFile
from lookalike.textutil import is_url, real_path

__all__ = [
    "Workspace",
    "AnswerFiles",
    "VectorFile",
    "resolve_workspace",
    "default_events_path",
    "DEFAULT_HOME",
    "EVENTS_FILE",
    "PRODUCT_VECTORS",
    "TITLE_VECTORS",
    "TITLE_CACHE",
]

log = logging.getLogger(__name__)

DEFAULT_HOME = "lookalike-data"
MANIFEST_VERSION = 2  # 2: generations/ + CURRENT; 1: every file at the top level
GENERATIONS = "generations"
CURRENT = "CURRENT"
# the files of a version-1 workspace that a published generation makes obsolete
LEGACY_SERVED = (
    *("manifest.json", "product_vectors.npy", "product_vectors.ids.json", "title_vectors.npy"),
    *("title_vectors.ids.json", "neighbors.npy", "neighbor_scores.npy", "neighbors.ids.json"),
    "index",
)
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
        return real_path(home / text)
    return real_path(text)


def default_events_path(workspace_root: str | os.PathLike[str]) -> Path:
    """Where the service logs a shop's events: ``$LOOKALIKE_EVENTS_DB``, else ``events.sqlite``
    beside the workspace folder (one log for the shops served together, events name their shop)."""
    env = os.environ.get("LOOKALIKE_EVENTS_DB")
    return Path(env) if env else Path(workspace_root).parent / EVENTS_FILE


@dataclass(frozen=True)
class AnswerFiles:
    """The plain similar answers of a generation: JSON blob, offset index, metadata."""

    blob: Path
    offsets: Path
    meta: Path


class Workspace:
    """Paths and the manifest of one shop's workspace.

    ``generation`` pins the folder the served paths point into (a build passes the folder it is
    writing; ``pinned()`` the published one). Unpinned, served paths follow ``CURRENT``.
    """

    def __init__(self, root: str | os.PathLike[str], *, generation: Path | None = None):
        self.root = resolve_workspace(root)
        self._generation = Path(generation) if generation is not None else None

    def pinned(self) -> Workspace:
        """This workspace with its served paths fixed to the generation published now."""
        return Workspace(self.root, generation=self.served_dir)

    # generations ---------------------------------------------------------------------------
    @property
    def generations_dir(self) -> Path:
        """Where every generation (and the one being built) lives."""
        return self.root / GENERATIONS

    @property
    def current_path(self) -> Path:
        """The small file naming the published generation."""
        return self.root / CURRENT

    def current_id(self) -> str | None:
        """The published generation's id, or None (never built, or built by version 1)."""
        try:
            text = self.current_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise WorkspaceError(f"cannot read {self.current_path}: {exc}") from exc
        if not re.fullmatch(r"[\w.-]+", text):
            raise WorkspaceError(
                f"{self.current_path} does not name a generation ({text[:40]!r}): "
                f"run `lookalike build {self.root} --catalog ...` again"
            )
        return text

    def generation_dir(self, generation_id: str) -> Path:
        """The folder of one generation."""
        return self.generations_dir / generation_id

    def staging_dir(self, generation_id: str) -> Path:
        """The folder a build writes a generation into before it is complete."""
        return self.generations_dir / f"{generation_id}.tmp"

    @property
    def served_dir(self) -> Path:
        """The generation this workspace reads: the pinned one, else the one CURRENT names."""
        if self._generation is not None:
            return self._generation
        current = self.current_id()
        if current is None:
            return self.root  # a version-1 workspace, or nothing built yet
        folder = self.generation_dir(current)
        if not folder.is_dir():
            raise WorkspaceError(
                f"{self.current_path} names generation {current}, but {folder} is missing: "
                f"run `lookalike build {self.root} --catalog ...` again"
            )
        return folder

    @property
    def legacy(self) -> bool:
        """Whether this reads a version-1 workspace (served files at the top level)."""
        return self.served_dir == self.root

    @property
    def shop(self) -> str:
        """The shop's name: its folder name."""
        return self.root.name

    # caches and state a build reuses -----------------------------------------------------
    @property
    def products_db(self) -> Path:
        """The build's product store (products + image records); readers use ``served_db``."""
        return self.root / "products.sqlite"

    @property
    def images_dir(self) -> Path:
        """The image cache of fetched URLs (``ImageFetcher``'s folder)."""
        return self.root / "images"

    def image_cache_file(self, source: str) -> Path:
        """The cache file holding the bytes of image ``source`` (may not exist): what a URL
        fetched, or the copy a build made of a local file it decoded."""
        from lookalike.catalog.fetch import ImageFetcher

        return ImageFetcher(self.images_dir).cache_paths(source)[0]

    def image_file(self, source: str) -> Path:
        """Where the bytes of an image source are on disk: its cache file, else (a local file
        a version-1 build did not copy) the file itself. Either may not exist."""
        cached = self.image_cache_file(source)
        return cached if is_url(source) or cached.is_file() else Path(source)

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

    # what the service reads: inside the served generation ----------------------------------
    @property
    def served_db(self) -> Path:
        """The products snapshot of the served generation."""
        return self.served_dir / "products.sqlite"

    @property
    def product_vectors(self) -> VectorFile:
        """One vector per product with an image."""
        return VectorFile(self.served_dir, PRODUCT_VECTORS)

    @property
    def title_vectors(self) -> VectorFile:
        """One MiniLM title vector per titled product."""
        return VectorFile(self.served_dir, TITLE_VECTORS)

    @property
    def neighbors_dir(self) -> Path:
        """The folder of the top-K table (``Neighbors.save`` / ``Neighbors.load``)."""
        return self.served_dir

    @property
    def answer_files(self) -> AnswerFiles:
        """The plain similar answers as JSON bytes (``recommend.answerfile``)."""
        folder = self.served_dir
        return AnswerFiles(
            folder / "answers.bin", folder / "answers.offsets.npy", folder / "answers.json"
        )

    @property
    def ray_shards_dir(self) -> Path:
        """Where Ray embedding actors write their Parquet shards (removed once read)."""
        return self.embeddings_dir / "ray-shards"

    @property
    def index_dir(self) -> Path:
        """The saved vector index (``lookalike.index.load_index(ws.index_dir)``)."""
        return self.served_dir / "index"

    @property
    def served_head_dir(self) -> Path:
        """The copy of the trained head the served generation was built with."""
        return self.served_dir / "head"

    @property
    def whitening_path(self) -> Path:
        """The PCA-whitening the build fitted on the catalog (``--whiten``); image queries
        go through the same transform."""
        return self.served_dir / "whitening.npz"

    def model_file(self, name: str) -> Path:
        """A model made for this shop (``models/<name>.onnx``: the int8 model calibrated on
        its photos), so image search at serve time runs the model the build ran."""
        return self.root / "models" / f"{name}.onnx"

    @property
    def head_dir(self) -> Path:
        """The trained head (``lookalike train``), its log and plots: an input of the next build."""
        return self.root / "head"

    @property
    def weights_dir(self) -> Path:
        """Hybrid weights tuned on the catalog (``train --method weights``): ``weights.json``."""
        return self.root / "weights"

    @property
    def finetune_dir(self) -> Path:
        """A fine-tuned backbone exported to ONNX (``lookalike train --finetune``)."""
        return self.root / "finetune"

    @property
    def tuned_record(self) -> Path:
        """Names the adopted partially fine-tuned model (``--model tuned``) in ``models/``."""
        return self.finetune_dir / "tuned.json"

    def activations(self, key: str) -> Path:
        """Cached backbone activations at a cut point (``<this>.npy`` + ``<this>.ids.json``)."""
        return self.embeddings_dir / "activations" / key

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
        """The served generation's manifest (written last into a generation)."""
        return self.served_dir / "manifest.json"

    @property
    def report_path(self) -> Path:
        """The last build's report, published or refused."""
        return self.root / "report.json"

    @property
    def build_lock(self) -> Path:
        """Held (flock) by a running build: one build per workspace at a time."""
        return self.root / ".build.lock"

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
        fix = f"run `lookalike build {self.root} --catalog ...` first"
        if not self.root.exists():
            raise WorkspaceError(f"no workspace at {self.root}: {fix}")
        if not self.is_built:
            raise WorkspaceError(f"{self.root} has not been built yet: {fix}")

    def manifest(self) -> dict[str, Any]:
        """The manifest of the served generation (``WorkspaceError`` naming the file and the
        fix when it is missing, unreadable or incomplete)."""
        self.require_built()
        fix = f"run `lookalike build {self.root} --catalog ...` again"
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WorkspaceError(f"cannot read {self.manifest_path} ({exc}): {fix}") from exc
        required = ("model", "dim", "count")
        missing = [k for k in required if not isinstance(manifest, dict) or k not in manifest]
        if missing:
            raise WorkspaceError(
                f"{self.manifest_path} is incomplete (no {', '.join(missing)}): {fix}"
            )
        return manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest atomically (the last step of a build)."""
        write_json_atomic(self.manifest_path, {"version": MANIFEST_VERSION, **manifest})

    def open_store(self) -> ProductStore:
        """Open the served products snapshot, read-only (a version-1 workspace: its store);
        ``WorkspaceError`` naming the file and the fix when it is missing or damaged."""
        self.require_built()
        path = self.served_db if not self.legacy else self.products_db
        fix = f"run `lookalike build {self.root} --catalog ...` again"
        if not path.is_file() or path.stat().st_size == 0:
            raise WorkspaceError(f"the product store {path} is missing or empty: {fix}")
        try:
            return ProductStore(path, read_only=not self.legacy)
        except CatalogError as exc:
            raise WorkspaceError(f"{exc}: {fix}") from exc

    def open_build_store(self) -> ProductStore:
        """Open the build's own product store (created empty if missing)."""
        self.create()
        try:
            return ProductStore(self.products_db)
        except CatalogError as exc:
            raise WorkspaceError(
                f"{exc}: delete {self.products_db} (a cache of the build) and build again"
            ) from exc
