"""The scale-out options as a user runs them: `lookalike build --store milvus-lite:PATH` in a
subprocess, then `lookalike similar` answering from Milvus like a local build; bad options."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.test_cli import run

pytestmark = pytest.mark.slow


def test_build_into_milvus_lite_and_query_from_the_cli(
    milvus_lite: None, photo_folder: Path, tmp_path: Path
) -> None:
    catalog = tmp_path / "photos"
    for category in ("dress", "hat"):
        shutil.copytree(photo_folder / category, catalog / category)
    local, served = tmp_path / "local" / "shop", tmp_path / "milvus" / "shop"
    assert run("build", str(local), "--catalog", str(catalog), "--quiet").returncode == 0
    shutil.copytree(local, served)  # same embeddings: this build only publishes
    db = tmp_path / "shops.db"
    built = run(
        "build", str(served), "--catalog", str(catalog), "--quiet", "--store", f"milvus-lite:{db}"
    )
    assert built.returncode == 0, built.stderr
    manifest = json.loads((served / "manifest.json").read_text())
    assert manifest["store"]["kind"] == "milvus-lite" and manifest["store"]["count"] == 16
    pid = sorted(p.stem for p in (catalog / "hat").glob("*.jpg"))[0]
    answers = []
    for ws in (local, served):
        result = run("similar", str(ws), pid, "-k", "5", "--category", "same", "--json")
        assert result.returncode == 0, result.stderr
        answers.append([(r["id"], r["score"]) for r in json.loads(result.stdout)])
    assert answers[0] == answers[1] and len(answers[0]) == 5


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--store", "postgres://db/x"], "--store must be milvus://HOST:PORT/collection"),
        (["--ray-address", "ray://head:10001"], "--ray-address needs --engine ray"),
        (["--engine", "spark"], "engine must be local or ray"),
    ],
)
def test_bad_scale_options_are_one_line_errors(
    args: list[str], needle: str, photo_folder: Path, tmp_path: Path
) -> None:
    result = run("build", str(tmp_path / "shop"), "--catalog", str(photo_folder), *args)
    assert result.returncode != 0 and needle in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "shop" / "manifest.json").exists()
