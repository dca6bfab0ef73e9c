"""Invented titles (folder "<Category> <stem>", an id as title) are flagged in catalog/, kept in
the store, and never reach the title encoder: not in the build, not at serve time, not in
training's title mining."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lookalike.catalog.formats.folder import read_folder
from lookalike.catalog.models import Product
from lookalike.catalog.store import ProductStore
from lookalike.embed import titles as title_model
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.pipeline import titles as build_titles
from lookalike.recommend import similar
from lookalike.recommend.filters import Weights
from lookalike.recommend.similar import Recommender
from lookalike.train.data import load_workspace_data
from lookalike.train.mining import title_positives
from lookalike.train.titles import title_vectors_for
from lookalike.workspace import Workspace

REAL = {"p2": "Red linen summer dress", "p3": "Red cotton summer dress", "p4": "Blue wool hat"}


class RecordingEncoder:
    """The real MiniLM encoder, recording every title it is given."""

    def __init__(self, real: Any) -> None:
        self.real, self.dim, self.seen = real, real.dim, list[str]()

    def encode(self, titles: list[str]) -> np.ndarray:
        self.seen.extend(titles)
        return np.asarray(self.real.encode(titles))


@pytest.fixture()
def recorder(monkeypatch: pytest.MonkeyPatch) -> RecordingEncoder:
    """Every path to the title model (build, serve, train) goes through one recorder."""
    rec = RecordingEncoder(title_model.load_title_encoder())
    for module in (build_titles, similar, title_model):
        monkeypatch.setattr(module, "load_title_encoder", lambda: rec)
    return rec


def _image(path: Path, colour: tuple[int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(sum(colour))
    noise = rng.integers(0, 40, (48, 64, 3))
    Image.fromarray((np.array(colour) + noise).clip(0, 255).astype(np.uint8)).save(path)
    return path


def _shop(tmp_path: Path) -> Path:
    """p0, p1: no title (the reader shows the id); p2-p4: real titles."""
    colours = [(200, 30, 30), (190, 40, 30), (30, 30, 200), (40, 30, 190), (30, 200, 30)]
    catalog = tmp_path / "shop.csv"
    with catalog.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "image", "category", "group_id"])
        for i, colour in enumerate(colours):
            image = _image(tmp_path / "img" / f"p{i}.png", colour)
            category = "dress" if i < 4 else "hat"
            writer.writerow([f"p{i}", REAL.get(f"p{i}", ""), image, category, ""])
    return catalog


def test_readers_flag_the_titles_they_invent(tmp_path: Path) -> None:
    _image(tmp_path / "folder" / "dress" / "summer-linen.png", (200, 30, 30))
    _image(tmp_path / "folder" / "hat" / "a1b2.png", (30, 30, 200))
    products = list(read_folder(tmp_path / "folder"))
    assert [p.title for p in products] == ["Dress summer-linen", "Hat a1b2"]
    assert all(p.title_invented for p in products)
    assert not Product(id="x", title="Red linen summer dress").title_invented
    assert Product(id="sku-9", title="sku-9").title_invented  # the id as a title


def test_store_keeps_the_flag_and_reads_old_stores(tmp_path: Path) -> None:
    path = tmp_path / "products.db"
    with ProductStore(path) as store:
        store.replace_catalog(
            [
                Product(id="a", title="Red summer dress", title_invented=True),
                Product(id="b", title="Blue hat"),
            ]
        )
        assert [p.title_invented for p in store.iter_products()] == [True, False]
    db = sqlite3.connect(path)  # what an older version wrote: no such column
    db.execute("ALTER TABLE products DROP COLUMN title_invented")
    db.commit()
    db.close()
    with ProductStore(path, read_only=True) as old:
        assert [p.title for p in old.iter_products()] == ["Red summer dress", "Blue hat"]
    with ProductStore(path) as migrated:  # a writable open adds the column
        assert [p.id for p in migrated.iter_products()] == ["a", "b"]


def test_invented_titles_never_reach_the_title_encoder(
    tmp_path: Path, recorder: RecordingEncoder
) -> None:
    catalog = _shop(tmp_path)
    report = build_workspace(tmp_path / "ws", catalog, BuildOptions(model="histogram", k=3))
    assert report.titles["titled"] == 3
    assert sorted(recorder.seen) == sorted(REAL.values())
    ws = Workspace(tmp_path / "ws")
    assert sorted(ws.title_vectors.load().ids) == ["p2", "p3", "p4"]

    rec = Recommender(ws)
    for pid in ("p0", "p1"):  # hybrid scoring of an invented-title query: no title term
        results = rec.similar(pid, k=3, weights=Weights.parse("image=0.5,title=0.5"), explain=True)
        assert results and all(r.components and r.components["title"] == 0 for r in results)
    assert sorted(recorder.seen) == sorted(REAL.values())

    data, _ = load_workspace_data(ws)  # training sees no invented title
    titles = dict(zip(data.product, data.title, strict=True))
    assert titles == {"p0": "", "p1": "", **REAL}
    recorder.seen.clear()
    vectors = title_vectors_for(list(data.product), list(data.title), None)  # no stored vectors
    assert sorted(recorder.seen) == sorted(REAL.values())
    positives = title_positives(vectors, data.product, threshold=0.5)
    invented = [i for i, p in enumerate(data.product) if p in ("p0", "p1")]
    assert all(not positives[i] for i in invented)
    assert any(positives[i] for i in range(len(data.product)) if i not in invented)
