"""Atomic file replacement: write to a temp file in the same folder, fsync, rename.

A crash at any point leaves either the old file or the new one, never a half-written file.
``durable=False`` skips the fsyncs, for copies a later run verifies anyway: a process crash
still leaves the old file or the new one; only a power loss may leave the new one torn.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
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

    The file is created with the mode a plain ``open()`` gives (0666 less the umask, applied
    by the kernel), so a cache or workspace shared between users stays readable; ``mkstemp``
    would make it 0600, and reading the umask to widen that means setting it, which races
    with the build's other writer threads (their files got 0666, their folders 0777).
    The folder is made only on demand: a ``mkdir`` of a folder that exists is still a system
    call, and the image cache writes thousands of files into a few folders."""
    made_folder = False
    for _ in range(_TEMP_ATTEMPTS):
        tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o666), str(tmp)
        except FileExistsError:
            continue  # another writer drew the same name: draw again
        except FileNotFoundError:
            if made_folder:
                raise
            target.parent.mkdir(parents=True, exist_ok=True)
            made_folder = True
    raise FileExistsError(f"no free temp file name beside {target}")


# exclusive, never through a symlink planted at the name, not inherited by child processes
_TEMP_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_TEMP_ATTEMPTS = 100


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


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> None:
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
