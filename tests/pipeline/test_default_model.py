"""The model of a new workspace is the measured default (docs/quality.md); a workspace built
before keeps its own model when the default changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.pipeline.options import DEFAULT_MODEL, DEFAULT_MODEL_ENV, resolve_model
from lookalike.recommend.similar import Recommender
from lookalike.workspace import Workspace
from tests.pipeline.test_stages import colour_folder

QUIET = BuildOptions(k=2, titles=False, progress=False)


def test_resolve_model_prefers_the_option_then_the_workspace_then_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DEFAULT_MODEL_ENV)
    assert resolve_model("lite2", {"model": "lite0"}) == "lite2"
    assert resolve_model(None, {"model": "lite0"}) == "lite0"  # built before model_requested
    assert resolve_model(None, {"model": "lite0+gem2", "model_requested": "lite0+gem"}) == (
        "lite0+gem"
    )
    assert resolve_model(None, None) == DEFAULT_MODEL == "lite1"
    monkeypatch.setenv(DEFAULT_MODEL_ENV, "lite2")
    assert resolve_model(None, None) == "lite2"


def test_a_new_workspace_gets_the_real_default_and_an_old_one_keeps_its_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = colour_folder(tmp_path / "photos")
    old = Workspace(tmp_path / "old")
    build_workspace(old, photos, QUIET)  # the suite pins lite0 as the default: an "old" shop
    monkeypatch.delenv(DEFAULT_MODEL_ENV)
    new = Workspace(tmp_path / "new")
    report = build_workspace(new, photos, QUIET)
    manifest = new.manifest()
    assert report.status == "ok" and manifest["model"] == DEFAULT_MODEL
    assert manifest["model_requested"] == DEFAULT_MODEL and manifest["dim"] == 1280
    with Recommender(new) as rec:  # image queries run the model the build ran
        assert rec.embedder.name == DEFAULT_MODEL
        assert rec.similar_to_image((photos / "red" / "red1.jpg").read_bytes(), 1)[0].product.id
    again = build_workspace(old, photos, QUIET)  # no --model: the shop keeps Lite0
    assert old.manifest()["model"] == "lite0" and again.images["cached"] == 8
