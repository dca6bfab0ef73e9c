"""The `lookalike` command as a user runs it: real subprocesses, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "lookalike", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def shop(photo_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("cli") / "shop"
    result = run("build", str(ws), "--catalog", str(photo_folder), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "ok: 40 products, 40 with vectors" in result.stdout
    # --quiet: the summary line and nothing else, no third-party progress bar on stderr.
    assert len(result.stdout.strip().splitlines()) == 1, result.stdout
    assert result.stderr.strip() == "", result.stderr
    return ws


def test_similar_table_and_json(shop: Path, photo_folder: Path) -> None:
    pid = sorted((photo_folder / "pants").glob("*.jpg"))[0].stem
    table = run("similar", str(shop), pid, "-k", "4")
    assert table.returncode == 0, table.stderr
    assert "rank" in table.stdout and "score" in table.stdout
    as_json = json.loads(run("similar", str(shop), pid, "-k", "4", "--json").stdout)
    assert [r["rank"] for r in as_json] == [1, 2, 3, 4]
    assert pid not in {r["id"] for r in as_json}
    by_image = run(
        "similar",
        str(shop),
        "--image",
        str(photo_folder / "pants" / f"{pid}.jpg"),
        "-k",
        "1",
        "--json",
    )
    assert json.loads(by_image.stdout)[0]["id"] == pid


def test_export_to_file(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "top.csv"
    result = run("export", str(shop), "--format", "csv", "-o", str(out), "-k", "2")
    assert result.returncode == 0, result.stderr
    assert len(out.read_text().splitlines()) == 1 + 40 * 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("similar", "{shop}", "no-such-id"), "unknown product 'no-such-id'"),
        (("similar", "{shop}", "--image", "{tmp}/missing.jpg"), "cannot read"),
        (("similar", "{tmp}/nothing-here", "x"), "run `lookalike build"),
        (("build", "{tmp}/ws", "--catalog", "{tmp}/missing.csv"), "catalog not found"),
        (("export", "{shop}", "--format", "xml"), "unknown export format"),
    ],
)
def test_errors_are_one_clear_line(
    shop: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = run(*(a.format(shop=shop, tmp=tmp_path) for a in args))
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_bad_image_query_is_a_clear_error(shop: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake.jpg"
    fake.write_text("<html>not an image</html>")
    result = run("similar", str(shop), "--image", str(fake))
    assert result.returncode == 1
    assert "error:" in result.stderr
    assert "Traceback" not in result.stderr


def test_partial_build_exit_code(tmp_path: Path, photo_folder: Path) -> None:
    catalog = tmp_path / "c.csv"
    good = sorted((photo_folder / "hat").glob("*.jpg"))[0]
    catalog.write_text(f"id,image\nok,{good}\nbroken,{tmp_path / 'missing.jpg'}\n")
    allow = ("--allow-local-paths", str(photo_folder))  # the photo is outside tmp_path
    result = run("build", str(tmp_path / "ws"), "--catalog", str(catalog), "-q", *allow)
    assert result.returncode == 3, result.stderr
    assert "partial" in result.stdout


def test_help_lists_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("build", "similar", "export", "serve", "demo"):
        assert command in result.stdout
