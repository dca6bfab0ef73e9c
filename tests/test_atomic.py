"""Atomic writes: all or nothing, and the usual file mode."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from lookalike.atomic import atomic_open, save_npy_atomic, write_json_atomic


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    write_json_atomic(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_open(target, "w") as handle:
        handle.write('{"v": 2, "half')
        raise RuntimeError("crash in the middle of a write")
    assert target.read_text().strip().startswith('{\n  "v": 1')
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_npy_roundtrip_and_mode(tmp_path: Path) -> None:
    target = tmp_path / "v.npy"
    save_npy_atomic(target, np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(np.load(target), [[0, 1, 2], [3, 4, 5]])
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.skipif(
    not Path("/proc/self/status").is_file(), reason="the live umask is read from Linux's /proc"
)
def test_the_file_mode_comes_without_touching_the_process_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # reading the umask by setting it to 0 made files other threads created meanwhile
    # world-writable; the build writes from several threads
    mask = os.umask(0o027)
    try:

        def refuse(_: int) -> int:
            raise AssertionError("os.umask changed while writing")

        monkeypatch.setattr(os, "umask", refuse)
        target = tmp_path / "data.json"
        write_json_atomic(target, {"v": 1})
    finally:
        monkeypatch.undo()
        os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o640


def test_missing_folders_are_made_on_demand(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "data.json"
    write_json_atomic(target, {"v": 1})
    write_json_atomic(target.with_name("more.json"), {"v": 2})  # the folder exists now
    assert sorted(p.name for p in target.parent.iterdir()) == ["data.json", "more.json"]
