"""Fixtures shared by the training tests: one build of the shared photo folder per module."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.workspace import Workspace

QUIET = BuildOptions(progress=False, k=10)


@pytest.fixture(scope="module")
def base_shop(photo_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The photo folder built once per test module; tests train on copies of it."""
    root = tmp_path_factory.mktemp("train") / "shop"
    assert build_workspace(Workspace(root), photo_folder, QUIET).status == "ok"
    return root


@pytest.fixture
def shop(base_shop: Path, tmp_path: Path) -> Workspace:
    """A private copy of the module's build, so each test starts without a head or model."""
    return Workspace(shutil.copytree(base_shop, tmp_path / "shop"))
