"""``train --method weights`` on constructed catalogs whose better weight is known.

Six categories of six products. Each product's image is a random flat colour (so images say
nothing about the category) and its title names its kind ("red running shoe"), so any title
share above 0 beats image-only on category P@10, on held-out products and categories too. A
folder catalog (titles invented from category and file name) is refused in one line.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import ConfigError
from lookalike.evaluate.compare import parse_compare
from lookalike.evaluate.runner import EvaluateOptions, run_evaluation
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.filters import Weights
from lookalike.recommend.similar import Recommender
from lookalike.recommend.tuned import default_weights, save_tuned_weights
from lookalike.train.weights import WeightsOptions, tune_weights
from lookalike.workspace import Workspace
from tests.test_cli import run

pytestmark = pytest.mark.slow  # builds with MiniLM titles: ~10 s
KINDS = {
    "shoes": "running shoe",
    "hats": "wool hat",
    "bags": "leather handbag",
    "lamps": "desk lamp",
    "mugs": "coffee mug",
    "shirts": "cotton t-shirt",
}
ADJECTIVES = ["red", "small", "classic", "blue", "large", "vintage"]
QUIET = BuildOptions(model="histogram", progress=False, k=10)


def _png(rng: np.random.Generator) -> bytes:
    colour = rng.integers(0, 8, 3) * 32 + 16
    pixels = np.clip(colour + rng.normal(0, 2, (48, 48, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("weights")
    rng = np.random.default_rng(0)
    rows = []
    for category, kind in KINDS.items():
        for j, adjective in enumerate(ADJECTIVES):
            pid = f"{category}-{j}"
            (root / f"{pid}.png").write_bytes(_png(rng))
            rows.append(
                {
                    "id": pid,
                    "title": f"{adjective} {kind}",
                    "image": f"{pid}.png",
                    "category": category,
                }
            )
    with (root / "catalog.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert build_workspace(Workspace(root / "ws"), root / "catalog.csv", QUIET).status == "ok"
    return root


@pytest.fixture
def shop(base: Path, tmp_path: Path) -> Workspace:
    return Workspace(Path(shutil.copytree(base, tmp_path / "copy")) / "ws")


def test_picks_a_title_share_that_beats_image_only_and_the_recommender_uses_it(shop) -> None:
    report = tune_weights(shop, WeightsOptions())
    best = max(report.grid, key=lambda r: r["P@10"])
    assert report.chosen["title"] == best["title_share"] > 0
    # 5 other products per category: 0.5 is a perfect P@10; image only is far below it
    assert best["P@10"] == pytest.approx(0.5) and report.grid[0]["P@10"] < 0.35
    assert report.adopted, report.decision
    assert {c["set"] for c in report.decision["checks"]} == {
        "held_out_products",
        "held_out_categories",
    }
    log = json.loads((shop.weights_dir / "training.json").read_text())
    assert log["adopted"] and log["chosen"] == report.chosen
    with Recommender(shop) as rec:
        assert rec.weights == Weights.parse(report.chosen)
        same = [r.product.category == "shoes" for r in rec.similar("shoes-0", k=5)]
    assert sum(same) >= 4  # the titles find the other shoes; the colours could not
    # the chosen weights also win in evaluate's hybrid comparison (the same scorer)
    chosen = f"image={report.chosen['image']:g},title={report.chosen['title']:g}"
    options = EvaluateOptions(
        k=5, queries=0, n_boot=50, compare=parse_compare([f"weights=image=1;{chosen}"])
    )
    results = run_evaluation(shop, options).results
    assert results[-1].overall["Precision@5"].mean > results[0].overall["Precision@5"].mean


def test_build_weights_win_over_tuned_ones(tmp_path: Path) -> None:
    save_tuned_weights(tmp_path, Weights(image=0.6, title=0.4), {})
    plain = {"recommend": {"weights": {"image": 1.0}, "titles": True}}
    assert default_weights(plain, tmp_path) == Weights(image=0.6, title=0.4)
    asked = {"recommend": {"weights": {"image": 0.5, "attrs": 0.5}, "titles": True}}
    assert default_weights(asked, tmp_path) == Weights(image=0.5, attrs=0.5)
    untitled = {"recommend": {"weights": {"image": 1.0}, "titles": False}}
    assert default_weights(untitled, tmp_path) == Weights()
    (tmp_path / "weights.json").write_text("{broken", encoding="utf-8")
    assert default_weights(plain, tmp_path) == Weights()  # a damaged file: logged, skipped


def test_folder_catalog_with_invented_titles_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for category in ("shoes", "hats"):
        (tmp_path / "folder" / category).mkdir(parents=True)
        for j in range(4):
            (tmp_path / "folder" / category / f"IMG_{j:04d}.png").write_bytes(_png(rng))
    ws = Workspace(tmp_path / "ws")
    assert build_workspace(ws, tmp_path / "folder", QUIET).status == "ok"
    with pytest.raises(ConfigError, match="real title"):
        tune_weights(ws, WeightsOptions())
    result = run("train", str(ws.root), "--method", "weights")
    assert result.returncode == 1 and "real title" in result.stderr
    assert "Traceback" not in result.stderr and not ws.weights_dir.exists()


def test_cli_weights(shop) -> None:
    result = run("train", str(shop.root), "--method", "weights")
    assert result.returncode == 0, result.stderr
    assert "adopted" in result.stdout and "held out categories" in result.stdout
    assert (shop.weights_dir / "weights.json").is_file()
