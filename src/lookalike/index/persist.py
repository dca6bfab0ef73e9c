"""Crash-safe saving of a whole index folder, whatever files a backend writes.

A backend writes its files into a fresh generation folder (``<folder>/g<hex>/``); only then is
``<folder>/index.json`` replaced atomically to point at it, and older generations are deleted.
A crash (or an exception) at any point before that rename leaves the previous ``index.json``
and the generation it names untouched, so the previous index stays loadable.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lookalike.atomic import write_json_atomic
from lookalike.errors import VectorIndexError

__all__ = ["INDEX_META", "write_generation", "read_generation"]

INDEX_META = "index.json"
_FORMAT = 1
_GENERATION = re.compile(r"g[0-9a-f]{12}")


def write_generation(
    folder: Path, meta: dict[str, Any], write_files: Callable[[Path], None]
) -> Path:
    """Write a new generation with ``write_files(gen_dir)``, then commit ``meta`` pointing at it.

    ``meta`` must hold at least ``kind``; ``generation`` and ``format`` are added here.
    Returns the new generation folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"g{uuid.uuid4().hex[:12]}"  # matches _GENERATION
    gen_dir = folder / name
    gen_dir.mkdir()
    try:
        write_files(gen_dir)
        write_json_atomic(folder / INDEX_META, {**meta, "generation": name, "format": _FORMAT})
    except BaseException:
        shutil.rmtree(gen_dir, ignore_errors=True)
        raise
    # Older generations (and leftovers of interrupted saves) are no longer referenced.
    for entry in folder.iterdir():
        if entry.is_dir() and _GENERATION.fullmatch(entry.name) and entry.name != name:
            with contextlib.suppress(OSError):
                shutil.rmtree(entry)
    return gen_dir


def read_generation(folder: Path) -> tuple[dict[str, Any], Path]:
    """The committed ``meta`` and its generation folder; ``VectorIndexError`` when unusable."""
    folder = Path(folder)
    path = folder / INDEX_META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise VectorIndexError(f"no index saved in {folder}") from exc
    except (OSError, ValueError) as exc:
        raise VectorIndexError(f"cannot read {path}: {exc}") from exc
    gen_dir = folder / str(meta.get("generation", ""))
    if not meta.get("generation") or not gen_dir.is_dir():
        raise VectorIndexError(f"{path} names a missing generation; rebuild the index")
    return meta, gen_dir
