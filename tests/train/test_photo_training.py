"""Photo -> catalog training on a hand-made shop whose nuisance is known.

Twelve products, each a flat colour over one of three "decoration" colours (the catalog shot's
backdrop); a shop photo shows the product's colour over a *random* one of the three backdrops
(the shelf). With the colour-histogram model the backdrop outweighs the product's colour, so
untrained photo -> catalog top-1 is about a third: right only when the shelf happens to match.
A head that learns to ignore the backdrop colours finds the product, also for products it was
never trained on (they share the backdrops). The loser: photos on their own backdrop, which the
untrained features already match perfectly, so no head can beat them and it is kept off.
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

from lookalike.embed.head import Head
from lookalike.errors import ConfigError
from lookalike.evaluate.runner import EvaluateOptions, run_evaluation
from lookalike.evaluate.truth import TruthSpec
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.similar import Recommender
from lookalike.train.api import TRAINING_LOG
from lookalike.train.photo_api import REJECTED_PHOTO_DIR, train_photo_workspace
from lookalike.train.photo_fit import PhotoTrainOptions
from lookalike.workspace import Workspace
from tests.test_cli import run

LEVELS = [16 + 32 * k for k in range(8)]  # histogram bin centres (8 bins per channel)
PRODUCTS = [(LEVELS[r], LEVELS[g], LEVELS[b]) for r, g, b in
            [(7, 0, 0), (0, 7, 0), (0, 0, 7), (7, 7, 0), (7, 0, 7), (0, 7, 7),
             (4, 0, 0), (0, 4, 0), (0, 0, 4), (4, 4, 0), (4, 0, 4), (0, 4, 4)]]  # fmt: skip
BACKDROPS = [(LEVELS[2], LEVELS[2], LEVELS[2]), (LEVELS[6], LEVELS[6], LEVELS[6]),
             (LEVELS[2], LEVELS[6], LEVELS[5])]  # fmt: skip
QUIET = BuildOptions(model="histogram", progress=False, k=5)
pytestmark = pytest.mark.slow  # a few builds, trainings and evaluations: ~10 s each


def _png(top: tuple[int, int, int], bottom: tuple[int, int, int], seed: int) -> bytes:
    """40% product colour above 60% backdrop, with a little noise (never across a bin)."""
    rng = np.random.default_rng(seed)
    pixels = np.zeros((80, 80, 3))
    pixels[:32], pixels[32:] = top, bottom
    pixels = np.clip(pixels + rng.normal(0, 2, pixels.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def _photos(root: Path, name: str, per_product: int, seed: int, own_backdrop: bool) -> Path:
    """A photos CSV (the --queries-from format): photos of every product on shelves."""
    rng = np.random.default_rng(seed)
    folder = root / name
    folder.mkdir()
    rows = []
    for i, colour in enumerate(PRODUCTS):
        for j in range(per_product):
            shelf = BACKDROPS[i % 3] if own_backdrop else BACKDROPS[int(rng.integers(3))]
            (folder / f"p{i}-{j}.png").write_bytes(_png(colour, shelf, seed * 1000 + 10 * i + j))
            rows.append((f"{name}/p{i}-{j}.png", f"p{i}"))
    path = root / f"{name}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "product_id"])
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("photo-train")
    rows = []
    for i, colour in enumerate(PRODUCTS):
        (root / f"p{i}.png").write_bytes(_png(colour, BACKDROPS[i % 3], i))
        rows.append({"id": f"p{i}", "title": f"product {i}", "image": f"p{i}.png"})
    with (root / "catalog.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert build_workspace(Workspace(root / "ws"), root / "catalog.csv", QUIET).status == "ok"
    _photos(root, "train", 8, 1, own_backdrop=False)
    _photos(root, "val", 3, 2, own_backdrop=False)
    _photos(root, "easy", 8, 3, own_backdrop=True)
    return root


@pytest.fixture
def shop(base: Path, tmp_path: Path) -> tuple[Workspace, Path]:
    """A private copy of the shop and its photos (each test starts without a head)."""
    root = Path(shutil.copytree(base, tmp_path / "copy"))
    return Workspace(root / "ws"), root


def _top1(ws: Workspace, photos: Path) -> float:
    options = EvaluateOptions(
        k=5, queries=0, n_boot=50, queries_from=photos, truth=TruthSpec.parse("auto")
    )
    return run_evaluation(ws, options).results[0].overall["HitRate@1"].mean


def test_training_brings_photos_to_their_product_and_is_adopted(shop) -> None:
    ws, root = shop
    before = _top1(ws, root / "val.csv")
    assert before < 0.6  # the backdrop misleads the untrained features
    untrained_hits = _image_query_hits(ws, root)
    report = train_photo_workspace(ws, root / "train.csv", PhotoTrainOptions(progress=None))
    assert report.adopted, report.decision
    for name in ("held_out_products", "held_out_photos"):
        result = report.evaluation[name]
        assert result["after"]["Recall@1"] > result["before"]["Recall@1"]
    assert {c["set"] for c in report.decision["checks"]} == {"held_out_products", "held_out_photos"}
    assert report.refit and report.refit["rows"] == 96
    # form auto checks both maps: only the diagonal one (ignore the backdrops) generalises
    assert report.options["form"] == "diagonal"
    assert any(n.startswith("full map") and "fails" in n for n in report.notes)
    log = json.loads((ws.head_dir / TRAINING_LOG).read_text())
    assert log["adopted"] and log["options"]["photos"].endswith("train.csv")
    assert Head.load(ws.head_dir).meta["method"] == "photos"

    # until a build applies it, evaluation (like serving) uses the generation's head: none
    assert _top1(ws, root / "val.csv") == pytest.approx(before)
    build_workspace(ws, root / "catalog.csv", QUIET)  # applies the head to the catalog
    after = _top1(ws, root / "val.csv")  # photos never trained on, through the served head
    assert after > before + 0.3
    # an image query at serve time gets the same head: val photos find their product
    assert _image_query_hits(ws, root) > untrained_hits


def _image_query_hits(ws: Workspace, root: Path) -> int:
    """How many val photos, sent as image queries to the Recommender, find their product."""
    hits = 0
    with Recommender(ws) as rec:
        for i in range(len(PRODUCTS)):
            for j in range(3):
                found = rec.similar_to_image((root / f"val/p{i}-{j}.png").read_bytes(), k=1)
                hits += found[0].product.id == f"p{i}"
    return hits


def test_a_head_that_cannot_win_is_kept_off_and_force_adopts(shop) -> None:
    ws, root = shop
    report = train_photo_workspace(ws, root / "easy.csv", PhotoTrainOptions(epochs=5))
    assert not report.adopted and "does not beat" in report.decision["reason"]
    assert "1.000" in report.decision["reason"]  # the untrained features were already perfect
    assert not Head.exists(ws.head_dir)  # the active head (none) is left as it was
    assert (ws.train_dir / REJECTED_PHOTO_DIR / TRAINING_LOG).is_file()
    forced = train_photo_workspace(ws, root / "easy.csv", PhotoTrainOptions(epochs=5, force=True))
    assert forced.adopted and forced.decision["forced"] and Head.exists(ws.head_dir)


def test_photos_without_product_ids_are_refused(shop) -> None:
    ws, root = shop
    bad = root / "bad.csv"
    bad.write_text("image,category\ntrain/p0-0.png,red\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="product_id"):
        train_photo_workspace(ws, bad, PhotoTrainOptions())


def test_cli_train_photos(shop) -> None:
    ws, root = shop
    result = run("train", str(ws.root), "--photos", str(root / "easy.csv"), "--epochs", "3", "-q")
    assert result.returncode == 0, result.stderr
    assert "kept off" in result.stdout and "held out photos" in result.stdout
    missing = run("train", str(ws.root), "--photos", str(root / "nothing.csv"), "-q")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "nothing.csv" in missing.stderr  # one clear line, as evaluate --queries-from says it
