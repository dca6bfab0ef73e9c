"""GeM's p chosen on the catalog: a deterministic grid search under a stated criterion, and
the build that records the choice and keeps it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from lookalike.embed.features import FeatureEmbedder, FeatureSpec
from lookalike.embed.gem_select import GEM_GRID, choose_gem, score_grid, use_categories
from lookalike.embed.registry import get_embedder
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.workspace import Workspace

FAMILIES = ("stripes", "bars", "rings")


def pattern(family: str, seed: int) -> bytes:
    """A textured JPEG of one family (horizontal stripes, vertical bars, rings), its colours
    and spacing varied by ``seed``."""
    rng = np.random.default_rng(seed)
    fg = tuple(int(v) for v in rng.integers(40, 255, 3))
    image = Image.new("RGB", (96, 96), tuple(int(v) for v in rng.integers(0, 90, 3)))
    draw = ImageDraw.Draw(image)
    step = int(rng.integers(10, 18))
    for at in range(0, 96, step):
        if family == "stripes":
            draw.rectangle([0, at, 95, at + step // 2], fill=fg)
        elif family == "bars":
            draw.rectangle([at, 0, at + step // 2, 95], fill=fg)
        else:
            draw.ellipse([48 - at, 48 - at, 48 + at, 48 + at], outline=fg, width=3)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _images(per: int = 5) -> tuple[list[bytes], list[str]]:
    datas, labels = [], []
    for f, family in enumerate(FAMILIES):
        for i in range(per):
            datas.append(pattern(family, 100 * f + i))
            labels.append(family)
    return datas, labels


def test_auto_gem_parses_and_resolves() -> None:
    auto = FeatureSpec.parse("lite0+gem+flip")
    assert (
        auto.gem_auto
        and auto.key() == "lite0+gem3+flip" == FeatureSpec.parse("lite0+gem3+flip").key()
    )
    assert not FeatureSpec.parse("lite0+gem3").gem_auto and auto == FeatureSpec.parse(
        "lite0+gem3+flip"
    )
    assert (
        auto.with_gem(2.0).key() == "lite0+gem2+flip" and auto.with_gem(1.0).key() == "lite0+flip"
    )
    assert use_categories(["a", "a", "b", "b", ""]) and not use_categories(["a", "b", "", "", ""])


def test_grid_scores_are_deterministic_and_the_best_p_wins() -> None:
    datas, labels = _images()
    spec = FeatureSpec.parse("lite0+gem")
    base = get_embedder("lite0+gem6")
    assert isinstance(base, FeatureEmbedder)
    by_category = score_grid(spec, base, datas, labels)
    assert by_category.criterion == "category" and by_category.sample == len(datas)
    assert list(by_category.scores) == [f"{p:g}" for p in GEM_GRID]
    best = max(by_category.scores.values())
    first_best = next(p for p in GEM_GRID if by_category.scores[f"{p:g}"] == best)
    assert by_category.p == first_best  # ties go to the smaller p
    # leave-one-out P@10 of one p, by hand: the same number
    x = base.with_spec(FeatureSpec.parse("lite0+gem2")).embed(_preprocessed(datas))
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    near = np.argsort(-sims, axis=1, kind="stable")[:, :10]
    lab = np.array(labels)
    by_hand = (lab[near] == lab[:, None]).mean()
    assert by_category.scores["2"] == pytest.approx(by_hand, abs=1e-6)
    # without categories: the label-free stability criterion; the same answer twice
    free = choose_gem(spec, datas)
    assert free.criterion == "stability" and free == choose_gem(spec, datas)
    assert all(0.0 <= s <= 1.0 for s in free.scores.values())


def _preprocessed(datas: list[bytes]) -> np.ndarray:
    from lookalike.embed.decode import load_image
    from lookalike.embed.preprocess import preprocess

    return np.stack([preprocess(load_image(d, min_side=256), resize=256, crop=224) for d in datas])


def test_a_build_chooses_p_records_it_and_keeps_it(tmp_path: Path) -> None:
    datas, labels = _images(per=4)
    folder = tmp_path / "shop"
    (folder / "img").mkdir(parents=True)
    with (folder / "catalog.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "image", "category"])
        for i, (data, label) in enumerate(zip(datas, labels, strict=True)):
            (folder / "img" / f"p{i}.jpg").write_bytes(data)
            writer.writerow([f"p{i}", f"item {i}", f"img/p{i}.jpg", label])
    ws = Workspace(tmp_path / "ws")
    options = BuildOptions(model="lite0+gem", k=3, titles=False, progress=False)
    report = build_workspace(ws, folder / "catalog.csv", options)
    manifest = ws.manifest()
    choice = manifest["gem_choice"]
    assert choice["criterion"] == "category" and choice["sample"] == len(datas)
    expected = choose_gem(FeatureSpec.parse("lite0+gem"), datas, labels)
    assert choice["p"] == expected.p and choice["scores"] == expected.scores
    assert manifest["model_requested"] == "lite0+gem"
    assert manifest["model"] == FeatureSpec.parse("lite0+gem").with_gem(expected.p).key()
    assert "gem" in report.seconds
    again = build_workspace(ws, folder / "catalog.csv", options)
    assert "gem" not in again.seconds and again.images["cached"] == len(datas)
    assert ws.manifest()["model"] == manifest["model"] and ws.manifest()["gem_choice"] == choice
