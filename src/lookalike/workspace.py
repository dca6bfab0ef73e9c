"""A shop's workspace folder: where its products, images, vectors and results live.

Layout (see docs/architecture.md)::

    products.sqlite, images/, embeddings/<model>.npy, product_vectors.npy,
    neighbors.npy, neighbor_scores.npy, index/, manifest.json, report.json
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from lookalike.atomic import write_json_atomic
from lookalike.catalog.store import ProductStore
from lookalike.errors import WorkspaceError

__all__ = ["Workspace", "resolve_workspace", "DEFAULT_HOME", "TITLE_VECTORS", "TITLE_CACHE"]

DEFAULT_HOME = "lookalike-data"
TITLE_VECTORS = "title_vectors"  # per-product MiniLM title vectors (a VectorSet)
TITLE_CACHE = "titles-minilm"  # title vector cache under embeddings/, keyed by title hash
MANIFEST_VERSION = 1


def resolve_workspace(name_or_path: str | os.PathLike[str]) -> Path:
    """A bare shop name (``demo``) lives under ``$LOOKALIKE_HOME`` or ``./lookalike-data``;
    anything that looks like a path (``./my-shop``, ``/srv/shop``) is used as it is."""
    text = os.fspath(name_or_path)
    if re.fullmatch(r"[\w.-]+", text) and text not in {".", ".."} and not Path(text).is_dir():
        home = Path(os.environ.get("LOOKALIKE_HOME", DEFAULT_HOME))
        return (home / text).resolve()
    return Path(text).expanduser().resolve()


class Workspace:
    """Paths and the manifest of one shop's workspace."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = resolve_workspace(root)

    @property
    def shop(self) -> str:
        """The shop's name: its folder name."""
        return self.root.name

    # paths -------------------------------------------------------------------------------
    @property
    def products_db(self) -> Path:
        return self.root / "products.sqlite"

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    @property
    def embeddings_dir(self) -> Path:
        return self.root / "embeddings"

    @property
    def index_dir(self) -> Path:
        """The saved vector index (``lookalike.index.load_index(ws.index_dir)``)."""
        return self.root / "index"

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
