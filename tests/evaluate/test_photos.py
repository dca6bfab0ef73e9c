"""Photo -> catalog evaluation on a tiny hand-made shop whose answers are known.

Five catalog products of distinct flat colours (histogram model: the colour decides); the
photos are noisy, resized copies of them, so by product each photo's top-1 is its own
product, except one labelled with the wrong product on purpose (a known miss). One photo is a
byte copy of a catalog image (not a query) and one file is missing (skipped).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import ConfigError
from lookalike.evaluate.report import write_report
from lookalike.evaluate.runner import EvaluateOptions, run_evaluation
from lookalike.evaluate.truth import TruthSpec
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.workspace import Workspace

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 40, 220),
    "yellow": (230, 220, 30),
    "purple": (140, 30, 160),
}
CATEGORY = {"red": "warm", "yellow": "warm", "green": "cool", "blue": "cool", "purple": "cool"}


def _jpeg(colour: tuple[int, int, int], seed: int, size: int = 96) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.normal(0, 12, (size, size, 3)), 0, 255)
    out = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Path]:
    root = tmp_path_factory.mktemp("photos")
    rows = []
    for i, (name, colour) in enumerate(COLOURS.items()):
        (root / f"{name}.jpg").write_bytes(_jpeg(colour, i))
        rows.append({"id": name, "title": name, "image": f"{name}.jpg", "category": CATEGORY[name]})
    with (root / "catalog.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    ws = Workspace(root / "ws")
    build_workspace(ws, root / "catalog.csv", BuildOptions(model="histogram", progress=False))
    shots = root / "shots"
    shots.mkdir()
    queries = []
    for i, (name, colour) in enumerate(COLOURS.items()):
        for j in range(2):
            (shots / f"{name}-{j}.jpg").write_bytes(_jpeg(colour, 100 + 10 * i + j, 120))
            queries.append((f"shots/{name}-{j}.jpg", name))
    queries.append(("shots/red-0.jpg", "red"))  # the same bytes again: counted once
    queries.append(("blue.jpg", "blue"))  # a catalog image itself: not an outside photo
    queries.append(("shots/gone.jpg", "red"))  # missing
    queries[0] = (queries[0][0], "green")  # a red photo labelled green: a known miss
    with (root / "photos.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "product_id"])
        writer.writerows(queries)
    return ws, root / "photos.csv"


def _options(csv_path: Path, **kwargs: object) -> EvaluateOptions:
    base: dict[str, object] = {"k": 3, "queries": None, "n_boot": 50, "progress": False}
    return EvaluateOptions(queries_from=csv_path, **(base | kwargs))  # type: ignore[arg-type]


def test_product_relevance_known_answers(shop: tuple[Workspace, Path], tmp_path: Path) -> None:
    ws, photos = shop
    ev = run_evaluation(ws, _options(photos, truth=TruthSpec.parse("auto")))
    ref = ev.results[0]
    assert ev.truth.searchable == 5 and len(ref.queries) == 10
    assert ev.truth.notes["in_catalog"] == 1 and ev.truth.notes["missing_file"] == 1
    assert ev.truth.notes["duplicate"] == 1
    # every result is a catalog product, never another photo
    assert (ref.results < 5).all()
    top1 = ref.per_query["HitRate@1"]
    assert top1.sum() == 9 and top1[0] == 0  # the mislabelled photo misses
    assert ref.overall["HitRate@1"].mean == pytest.approx(0.9)
    # one relevant item per photo: the mislabelled one finds green at rank 2 or 3 or not at all
    assert ref.overall["mAP@3"].mean <= 0.9 + 0.1 / 2 + 1e-9
    out = write_report(ev, tmp_path / "report")
    html = out.read_text(encoding="utf-8")
    assert "5 products · 10 outside photos as queries" in html
    assert "data:image/jpeg;base64" in html  # the photo grids have thumbnails
    data = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["queries"] == 10


def test_category_relevance(shop: tuple[Workspace, Path]) -> None:
    ws, photos = shop
    ev = run_evaluation(ws, _options(photos, truth=TruthSpec.parse("category")))
    ref = ev.results[0]
    # category of each photo from its product: the mislabelled red one is "cool" (green),
    # and its red top-1 is "warm": 9 of 10 right at rank 1
    assert ref.overall["HitRate@1"].mean == pytest.approx(0.9)
    # warm has 2 products, cool 3: recall@3 of a warm photo whose top-3 holds both is 1
    assert ev.truth.n_relevant(ref.queries).tolist().count(2) == 3  # red x1 + yellow x2


def test_bad_photo_file_is_a_clear_error(shop: tuple[Workspace, Path], tmp_path: Path) -> None:
    ws, _ = shop
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="needs an image column"):
        run_evaluation(ws, _options(bad))
    with pytest.raises(ConfigError, match="cannot read photo queries"):
        run_evaluation(ws, _options(tmp_path / "none.csv"))


def test_whiten_and_expand_axes(shop: tuple[Workspace, Path]) -> None:
    from lookalike.evaluate.compare import parse_compare

    ws, photos = shop
    compare = parse_compare(["whiten=none,64", "expand=none,dba"])
    ev = run_evaluation(ws, _options(photos, compare=compare))
    labels = [r.label for r in ev.results]
    assert labels == [
        "histogram",
        "histogram · dba",
        "histogram · whiten64",
        "histogram · whiten64 · dba",
    ]
    scores = [r.scores for r in ev.results]
    assert not np.allclose(scores[0], scores[1]) and not np.allclose(scores[0], scores[2])
    again = run_evaluation(ws, _options(photos, compare=compare))  # deterministic
    for a, b in zip(ev.results, again.results, strict=True):
        np.testing.assert_array_equal(a.scores, b.scores)
    with pytest.raises(ConfigError, match="expand must be"):
        run_evaluation(ws, _options(photos, compare=parse_compare(["expand=sideways"])))
