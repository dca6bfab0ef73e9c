"""The near-duplicate threshold is calibrated per build (model + head) on re-encoded copies:
on a catalog of distinct generated products plus re-encoded copies of some, the served lists
keep every distinct product and drop the copies; the table and the service use the same value;
an older generation (no calibrated value) falls back to the fixed one."""

from __future__ import annotations

import io
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from lookalike.embed import registry
from lookalike.embed.head import Head
from lookalike.index.vectors import VectorSet
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.pipeline.neardup import HIGHEST, LOWEST, copy_scores, threshold_from
from lookalike.recommend.exclusions import DEFAULT_NEAR_DUPLICATE
from lookalike.recommend.filters import Filters
from lookalike.recommend.results import table_filters
from lookalike.recommend.similar import Recommender
from lookalike.workspace import Workspace
from tests.conftest import texture_image

DISTINCT, COPIES = 24, 6


def _catalog(folder: Path) -> Path:
    """``p<i>``: distinct products; ``copy<i>``: p<i> re-uploaded (smaller, JPEG q60) under
    another SKU, in a way the calibration's own variants do not use."""
    folder.mkdir(parents=True)
    rows = ["id,title,image"]
    for i in range(DISTINCT):
        image = texture_image(i)
        image.save(folder / f"p{i}.png")
        rows.append(f"p{i},Product {i} shirt,p{i}.png")
        if i < COPIES:
            small = image.resize((200, 250), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            small.save(buffer, "JPEG", quality=60)
            (folder / f"copy{i}.jpg").write_bytes(buffer.getvalue())
            rows.append(f"copy{i},Copied item {i},copy{i}.jpg")
    (folder / "shop.csv").write_text("\n".join(rows) + "\n")
    return folder / "shop.csv"


OPTIONS = BuildOptions(model="histogram", k=10, titles=False)
EVERYONE = {f"p{i}" for i in range(DISTINCT)} | {f"copy{i}" for i in range(COPIES)}


def _copies_of(pid: str) -> set[str]:
    partner = pid.replace("copy", "p") if pid.startswith("copy") else pid.replace("p", "copy")
    return {partner} & EVERYONE - {pid}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _catalog(tmp_path_factory.mktemp("neardup") / "shop")


def _check_served(ws: Workspace) -> float:
    """Every served list (from the table, and from a search deeper than the table) is the
    raw ranking without the query's copies: distinct products kept, copies dropped."""
    recommend = ws.manifest()["recommend"]
    calibration, threshold = recommend["near_duplicate_calibration"], recommend["near_duplicate"]
    assert calibration["method"] == "reencoded" and calibration["threshold"] == threshold
    assert calibration["images"] == DISTINCT + COPIES
    # the products whose nearest other product is above it: the originals and their copies
    assert calibration["nearest_above"] == pytest.approx(2 * COPIES / len(EVERYONE))
    rec = Recommender(ws)
    assert rec.table_filters.near_duplicate == threshold
    for pid in sorted(EVERYONE):
        raw = rec.similar(pid, len(EVERYONE), filters=Filters(near_duplicate=None))
        assert len(raw) == len(EVERYONE) - 1
        copies = _copies_of(pid)
        assert all((r.score > threshold) == (r.product.id in copies) for r in raw), pid
        expected = [r.product.id for r in raw if r.product.id not in copies]
        assert rec.recommend(pid, 10).source == "precomputed"
        assert [r.product.id for r in rec.similar(pid, 10)] == expected[:10], pid
        assert [r.product.id for r in rec.similar(pid, 40)] == expected, pid  # search path
    return float(threshold)


def _compressing_head(ws: Workspace) -> None:
    """A head that pulls every vector towards one direction, as a trained head pulls a shop's
    products together: distinct products then score above the fixed 0.97."""
    vectors = np.asarray(ws.product_vectors.load().vectors)
    centre = vectors.mean(axis=0)
    dim = vectors.shape[1]
    Head(
        mean=np.zeros(dim, np.float32),
        std=np.ones(dim, np.float32),
        weights=(np.eye(dim, dtype=np.float32),),
        biases=(3 * centre / np.linalg.norm(centre),),
        meta={"model_key": ws.manifest()["model_key"], "method": "test"},
    ).save(ws.head_dir)


def test_calibrated_threshold_keeps_distinct_products_and_drops_copies(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_workspace(tmp_path / "ws", shop, OPTIONS)
    ws = Workspace(tmp_path / "ws")
    plain = _check_served(ws)

    _compressing_head(ws)

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("images and their copies are cached: no model may load")

    monkeypatch.setattr(registry, "get_embedder", no_model)
    build_workspace(ws.root, shop, OPTIONS)  # the head applies: the threshold follows it
    assert ws.manifest()["head"] is not None
    with_head = _check_served(ws)
    assert with_head > plain
    assert ws.manifest()["recommend"]["near_duplicate_calibration"]["fixed_above"] > 0.5


def test_fixed_threshold_for_old_generations_and_when_asked(shop: Path, tmp_path: Path) -> None:
    assert table_filters({"recommend": {"exclude_group": True}}).near_duplicate == (
        DEFAULT_NEAR_DUPLICATE
    )
    options = replace(OPTIONS, calibrate_near_duplicate=False)
    build_workspace(tmp_path / "ws", shop, options)
    recommend = Workspace(tmp_path / "ws").manifest()["recommend"]
    assert recommend["near_duplicate"] == DEFAULT_NEAR_DUPLICATE
    assert recommend["near_duplicate_calibration"] is None


def _drawing(seed: int) -> Image.Image:
    """Flat shapes on a flat background: Lite0 is not robust to re-encoding these."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (160, 160), tuple(int(c) for c in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = (int(v) for v in rng.integers(0, 120, 2))
        w, h = (int(v) for v in rng.integers(20, 80, 2))
        fill = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x, y, x + w, y + h), fill=fill)
    return image


def test_a_model_that_cannot_tell_copies_apart_keeps_the_fixed_threshold(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    rows = ["id,title,image"]
    for i in range(12):
        _drawing(i).save(shop / f"d{i}.jpg", quality=90)
        rows.append(f"d{i},Drawing {i},d{i}.jpg")
    (shop / "shop.csv").write_text("\n".join(rows) + "\n")
    build_workspace(tmp_path / "ws", shop / "shop.csv", BuildOptions(k=5, titles=False))
    recommend = Workspace(tmp_path / "ws").manifest()["recommend"]
    calibration = recommend["near_duplicate_calibration"]
    assert recommend["near_duplicate"] == DEFAULT_NEAR_DUPLICATE
    assert calibration["method"] == "fixed" and calibration["copies"]  # measured, not trusted
    # the measured rule would have hidden most products' nearest neighbour
    measured = threshold_from(np.full(10, calibration["copies"]["q02"]))
    assert measured < calibration["distinct"]["median"]


def test_threshold_rule() -> None:
    assert threshold_from(np.full(20, 1.0)) == HIGHEST  # exact copies are still dropped
    assert threshold_from(np.full(20, 0.2)) == LOWEST
    copies = np.linspace(0.99, 1.0, 50)
    assert 0.985 < threshold_from(copies) < 0.99
    space = VectorSet(["a", "b"], np.eye(2, dtype=np.float32))
    reencoded = VectorSet(["a:0", "b:1"], np.asarray([[0.6, 0.8], [0.0, 1.0]], np.float32))
    assert copy_scores(space, reencoded).tolist() == pytest.approx([0.6, 1.0])


def test_a_copy_that_cannot_be_made_is_skipped_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from lookalike.errors import ImageError
    from lookalike.pipeline import neardup

    catalog = _catalog(tmp_path / "shop")
    bad = (tmp_path / "shop" / "p0.png").read_bytes()
    real = neardup.reencode

    def refusing_p0(data: bytes, quality: int, scale: float) -> bytes:
        if data == bad:  # raised in a decode thread, like a real failure
            raise ImageError("cannot re-encode", reason="corrupt")
        return real(data, quality, scale)

    monkeypatch.setattr(neardup, "reencode", refusing_p0)
    with caplog.at_level(logging.WARNING, logger="lookalike.pipeline.neardup"):
        build_workspace(tmp_path / "ws", catalog, OPTIONS)
    calibration = Workspace(tmp_path / "ws").manifest()["recommend"]["near_duplicate_calibration"]
    assert calibration["images"] == DISTINCT + COPIES - 1  # every image but p0
    assert "near-duplicate calibration skips" in caplog.text and "corrupt" in caplog.text
