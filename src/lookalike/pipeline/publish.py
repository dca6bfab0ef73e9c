"""Generations: a build writes a complete new one, then publishes it with one atomic rename.

``begin`` takes the workspace's build lock and sweeps what earlier builds left (unpublished or
half-written generations, temp files, generations older than the previous one). ``check``
is the publish guard. ``publish`` fsyncs every file of the new generation, renames its folder
into place and then replaces ``CURRENT``: that rename is the commit point. A crash before it
leaves the previous generation served; after it, the new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lookalike.atomic import fsync_path, write_bytes_atomic
from lookalike.crashpoints import crash_point
from lookalike.errors import PublishError, WorkspaceError
from lookalike.pipeline.options import BuildOptions
from lookalike.workspace import LEGACY_SERVED, Workspace

__all__ = ["build_lock", "new_generation_id", "sweep", "check_publish", "publish"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def build_lock(ws: Workspace) -> Iterator[None]:
    """Hold the workspace's build lock (released by the OS if the process dies)."""
    ws.create()
    with open(ws.build_lock, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkspaceError(f"another build of {ws.root} is running") from None
        yield


def new_generation_id() -> str:
    """Sortable by time, unique across processes."""
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def _kept(ws: Workspace) -> set[str]:
    """The generations to keep: the published one and the one it replaced."""
    current = ws.current_id()
    if current is None:
        return set()
    kept = {current}
    try:
        previous = Workspace(ws.root).manifest().get("previous")
    except WorkspaceError:
        previous = None
    if isinstance(previous, str):
        kept.add(previous)
    return kept


def sweep(ws: Workspace) -> list[str]:
    """Delete what no reader can need: unpublished generations, old ones, stale temp files.

    Call it with the build lock held. Returns the names removed, for the log."""
    removed: list[str] = []
    kept = _kept(ws)
    if ws.generations_dir.is_dir():
        for folder in ws.generations_dir.iterdir():
            if folder.name not in kept:
                if folder.is_dir():
                    shutil.rmtree(folder, ignore_errors=True)
                else:
                    folder.unlink()
                removed.append(f"generations/{folder.name}")
    for tmp in _build_temp_files(ws):
        tmp.unlink(missing_ok=True)
        removed.append(str(tmp.relative_to(ws.root)))
    if kept:  # a version-1 workspace's own files are obsolete once a generation is out
        for name in LEGACY_SERVED:
            path = ws.root / name
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink()
            else:
                continue
            removed.append(name)
    crash_point("publish.swept")
    return removed


def _build_temp_files(ws: Workspace) -> list[Path]:
    """``lookalike.atomic`` temp files only a build writes (never those of ``lookalike ab`` or
    ``lookalike train``, which may be running now)."""
    found = [*ws.root.glob(f".{ws.current_path.name}.*.tmp")]
    found += ws.root.glob(f".{ws.report_path.name}.*.tmp")
    for folder in (ws.images_dir, ws.embeddings_dir):
        found += folder.glob("**/.*.tmp")
    return found


def check_publish(
    products: int, with_vector: int, previous: dict[str, Any] | None, options: BuildOptions
) -> None:
    """Refuse (``PublishError``, numbers in the message) an empty catalog, a build where no
    product got a vector, or one losing more than ``max_shrink`` of the products with vectors
    (unless ``allow_shrink``)."""
    keep = "; the previous build stays published"
    if products == 0:
        raise PublishError(f"the catalog has no products{keep}")
    if with_vector == 0:
        raise PublishError(f"no product got a vector (0 of {products}): see report.json{keep}")
    before = int((previous or {}).get("count") or 0)
    if before and not options.allow_shrink and with_vector < before * (1 - options.max_shrink):
        drop = 1 - with_vector / before
        raise PublishError(
            f"products with vectors would drop from {before} to {with_vector} "
            f"(-{drop:.0%}, more than --max-shrink {options.max_shrink:.0%}){keep}; "
            "pass --allow-shrink to publish it anyway"
        )


def _fsync_tree(folder: Path) -> None:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            fsync_path(os.path.join(root, name))
        fsync_path(root)


def publish(ws: Workspace, generation_id: str) -> None:
    """Make the complete generation in ``staging_dir(generation_id)`` the served one."""
    staging, final = ws.staging_dir(generation_id), ws.generation_dir(generation_id)
    _fsync_tree(staging)
    crash_point("publish.fsynced")
    os.rename(staging, final)
    fsync_path(ws.generations_dir)
    crash_point("publish.renamed")
    write_bytes_atomic(ws.current_path, f"{generation_id}\n".encode())
    crash_point("publish.current")
    log.info("published generation %s of %s", generation_id, ws.root)
