"""The pipeline as stage callables: an injected embedder, progress callbacks, function sizes."""

from __future__ import annotations

import ast
import colorsys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.embed.base import l2_normalize
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.similar import Recommender
from lookalike.workspace import Workspace

SRC = Path(__file__).resolve().parents[2] / "src" / "lookalike"


class MeanColourEmbedder:
    """A tiny real embedder: the mean RGB of the preprocessed image, unit norm."""

    name = "meancolour"
    dim = 3
    input_size = 32

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, batch: np.ndarray) -> np.ndarray:
        self.calls += len(batch)
        means = batch.mean(axis=(2, 3))
        return l2_normalize(means)


def colour_folder(root: Path) -> Path:
    """Two families of colours (reds, blues), 4 shades each, as JPEG files in category folders."""
    for family, hue in (("red", 0.0), ("blue", 0.62)):
        (root / family).mkdir(parents=True)
        for shade in range(4):
            r, g, b = colorsys.hsv_to_rgb(hue, 0.9, 0.5 + shade * 0.12)
            colour = (int(r * 255), int(g * 255), int(b * 255))
            Image.new("RGB", (48, 40), colour).save(root / family / f"{family}{shade}.jpg")
    return root


@pytest.fixture()
def colours(tmp_path: Path) -> Path:
    return colour_folder(tmp_path / "colours")


def test_build_with_an_injected_embedder(colours: Path, tmp_path: Path) -> None:
    embedder = MeanColourEmbedder()
    asked: list[str] = []

    def factory(model: str) -> MeanColourEmbedder:
        asked.append(model)
        return embedder

    ws = Workspace(tmp_path / "shop")
    options = BuildOptions(k=3, titles=False, near_duplicate=None)
    report = build_workspace(ws, colours, options, embedder_factory=factory)
    assert asked == ["lite0"] and embedder.calls == 8
    assert report.status == "ok" and report.vectors == 8
    manifest = ws.manifest()
    assert manifest["model"] == "meancolour" and manifest["dim"] == 3
    assert ws.embeddings("custom-meancolour").exists()
    with Recommender(ws, embedder=embedder) as rec:
        for pid in rec.store.ids():
            family = pid.rstrip("0123456789")
            assert all(r.product.id.startswith(family) for r in rec.similar(pid, 3))
    # a rebuild embeds nothing: the cache is keyed by content
    again = build_workspace(ws, colours, options, embedder_factory=factory)
    assert embedder.calls == 8 and again.images["cached"] == 8


def test_library_reports_progress_through_the_callback(
    colours: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, list[int]] = {}

    def record(task: str, advance: int, total: int, note: str = "") -> None:
        seen.setdefault(task, []).append(advance)
        assert advance <= total

    options = BuildOptions(k=3, titles=False, progress=record)
    build_workspace(
        tmp_path / "shop", colours, options, embedder_factory=lambda _: MeanColourEmbedder()
    )
    assert sum(seen["embedding"]) == 8 and seen["embedding"][0] == 0
    assert sum(seen["top-K for every product"]) == 8
    assert capsys.readouterr().err == ""  # the library draws nothing itself


def _functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (f"{path.name}:{node.name}", (node.end_lineno or node.lineno) - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def test_no_pipeline_function_over_80_lines() -> None:
    long = [(name, n) for p in sorted((SRC / "pipeline").glob("*.py")) for name, n in _functions(p)]
    assert [x for x in long if x[1] > 80] == []


WORKSPACE_NAMES = (
    '"products.sqlite"',
    '"product_vectors"',
    '"title_vectors"',
    '"manifest.json"',
    '"experiments.json"',
    '"events.sqlite"',
    '"report.json"',
    '"titles-minilm"',
)


# the evaluation report folder is the user's --out, not a workspace path
NOT_WORKSPACE = {'evaluate/report.py: "report.json"'}


def test_only_workspace_py_names_workspace_files() -> None:
    offenders = [
        f"{path.relative_to(SRC)}: {name}"
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "workspace.py"
        for name in WORKSPACE_NAMES
        if name in path.read_text(encoding="utf-8")
    ]
    assert [o for o in offenders if o not in NOT_WORKSPACE] == []
