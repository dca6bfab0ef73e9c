"""Atomic file replacement: write to a temp file in the same folder, fsync, rename.

A crash at any point leaves either the old file or the new one, never a half-written file.
``durable=False`` skips the fsyncs, for copies a later run verifies anyway: a process crash
still leaves the old file or the new one; only a power loss may leave the new one torn.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from lookalike.crashpoints import crash_point

__all__ = [
    "atomic_open",
    "fsync_path",
    "write_bytes_atomic",
    "write_json_atomic",
    "save_npy_atomic",
]


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "wb", *, durable: bool = True
) -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on clean exit fsync it (``durable``) and rename it
    over ``path``."""
    target = Path(path)
    fd, tmp = _temp_beside(target)
    try:
        # mkstemp makes the file 0600; give it the mode a plain open() would (0666 & ~umask),
        # so a cache or workspace shared between users stays readable.
        os.fchmod(fd, 0o666 & ~_umask())
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        crash_point("atomic.before_rename")  # a complete temp file, not yet in place
        os.replace(tmp, target)
        if durable:
            _fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _temp_beside(target: Path) -> tuple[int, str]:
    """A new temp file in ``target``'s folder, the folder made when it is missing.

    The folder is made only on demand: a ``mkdir`` of a folder that exists is still a system
    call, and the image cache writes thousands of files into a few folders."""
    prefix = f".{target.name}."
    try:
        return tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)


def _umask() -> int:
    """The process umask, read without changing it.

    ``os.umask`` can only be read by setting it, and the build writes files from several
    threads: for that instant every file or folder another thread created got mode 0666 or
    0777 (world-writable). Linux shows the umask in /proc; elsewhere it is read once, at import.
    """
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _UMASK_AT_IMPORT


def _umask_at_import() -> int:
    mask = os.umask(0)  # imports run before the build's threads start
    os.umask(mask)
    return mask


_UMASK_AT_IMPORT = _umask_at_import()


def fsync_path(path: str | os.PathLike[str]) -> None:
    """Flush a file or a folder to disk (for files written by code that does not fsync, and
    for folders whose new entries must survive a crash)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    # The rename itself is only durable once the directory entry is flushed; some filesystems
    # refuse to open or fsync a folder, and the file is in place either way.
    with contextlib.suppress(OSError):
        fsync_path(folder)


def write_bytes_atomic(
    path: str | os.PathLike[str], data: bytes, *, durable: bool = True
) -> None:
    """Replace ``path`` with ``data`` atomically (see the module docstring for ``durable``)."""
    with atomic_open(path, "wb", durable=durable) as handle:
        handle.write(data)


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """Replace ``path`` with ``obj`` as pretty UTF-8 JSON atomically."""
    with atomic_open(path, "w") as handle:
        json.dump(obj, handle, ensure_ascii=False, indent=2, sort_keys=True)
        handle.write("\n")


def save_npy_atomic(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Replace ``path`` with ``array`` in .npy format atomically."""
    with atomic_open(path, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
