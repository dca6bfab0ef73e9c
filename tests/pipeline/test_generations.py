"""Generations: one commit point, the last two kept, a sweep, the publish guard, old layouts."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from lookalike.errors import CatalogError, FeedError, PublishError
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.similar import Recommender
from lookalike.workspace import LEGACY_SERVED, Workspace
from tests.pipeline.conftest import local_catalog, tiny

OPTIONS = BuildOptions(k=4, titles=False, near_duplicate=None)


def answers(ws: Workspace) -> dict[str, list[str]]:
    """Every product's similar ids, as served."""
    with Recommender(ws) as rec:
        return {pid: [r.product.id for r in rec.similar(pid, 4)] for pid in rec.vectors.ids}


def build(ws: Workspace, catalog: Path, **kw: object):
    return build_workspace(ws, catalog, replace(OPTIONS, **kw), embedder_factory=tiny)


def test_a_build_publishes_one_complete_generation(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "shop")
    report = build(ws, local_catalog(tmp_path / "feed", 8))
    current = ws.current_id()
    assert current == report.generation and report.status == "ok"
    folder = ws.generation_dir(current)
    names = {p.name for p in folder.iterdir()}
    assert {"products.sqlite", "product_vectors.npy", "neighbors.npy", "index"} <= names
    assert {"manifest.json", "neighbor_scores.npy", "product_vectors.ids.json"} <= names
    assert ws.manifest()["generation"] == current and ws.manifest()["previous"] is None
    assert not any((ws.root / name).exists() for name in LEGACY_SERVED)  # nothing at the top
    assert not list(ws.root.glob("**/*.tmp"))
    # the served products are the snapshot: editing the build's store changes nothing served
    with ws.open_build_store() as store:
        store.replace_catalog([])
    assert len(answers(ws)) == 8


def test_last_two_generations_kept_and_leftovers_swept(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "shop")
    catalog = local_catalog(tmp_path / "feed", 8)
    first = build(ws, catalog).generation
    second = build(ws, catalog).generation
    assert {p.name for p in ws.generations_dir.iterdir()} == {first, second}
    # leftovers of killed builds: a half-written generation, an unpublished complete one,
    # temp files of atomic writes
    (ws.staging_dir("19990101T000000-dead00") / "index").mkdir(parents=True)
    shutil.copytree(ws.generation_dir(second), ws.generation_dir("19990101T000001-dead01"))
    (ws.embeddings_dir / ".custom-meancolour.npy.x1.tmp").write_bytes(b"half")
    (ws.root / ".CURRENT.x2.tmp").write_text("nope")
    third = build(ws, catalog).generation
    assert {p.name for p in ws.generations_dir.iterdir()} == {second, third}
    assert ws.manifest()["previous"] == second
    assert not list(ws.root.glob("**/.*.tmp"))


def test_a_reader_stays_on_its_generation(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "shop")
    build(ws, local_catalog(tmp_path / "a", 8))
    with Recommender(ws) as before:
        build(ws, local_catalog(tmp_path / "b", 6, start=20), allow_shrink=True)
        # the old reader still answers from its own, complete generation
        assert len(before.vectors) == 8 and before.store.count() == 8
        assert {r.product.id for r in before.similar("p1", 4)} <= {f"p{i}" for i in range(8)}
    assert len(answers(ws)) == 6


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("empty.csv", "id,title,image\n"),
        (
            "empty.xml",
            '<?xml version="1.0"?><yml_catalog date="2026-01-01"><shop><name>s</name>'
            "<offers></offers></shop></yml_catalog>",
        ),
        (
            "empty.rss",
            '<?xml version="1.0"?><rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">'
            "<channel><title>s</title></channel></rss>",
        ),
    ],
)
def test_an_empty_feed_is_refused_and_the_shop_stays(tmp_path: Path, name: str, body: str) -> None:
    ws = Workspace(tmp_path / "shop")
    build(ws, local_catalog(tmp_path / "feed", 8))
    before, generation = answers(ws), ws.current_id()
    feed = tmp_path / name
    feed.write_text(body, encoding="utf-8")
    with pytest.raises(PublishError, match="no products"):
        build(ws, feed)
    assert ws.current_id() == generation and answers(ws) == before
    assert json.loads(ws.report_path.read_text())["refused"]


def test_no_vectors_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "shop")
    catalog = local_catalog(tmp_path / "feed", 8)
    build(ws, catalog)
    before = answers(ws)
    for photo in (tmp_path / "feed" / "img").iterdir():
        photo.write_bytes(b"<html>not an image</html>")
    with pytest.raises(PublishError, match=r"no product got a vector \(0 of 8\)"):
        build(ws, catalog)
    assert answers(ws) == before


def test_shrink_guard(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "shop")
    build(ws, local_catalog(tmp_path / "feed", 10))
    generation = ws.current_id()
    smaller = local_catalog(tmp_path / "small", 7)
    with pytest.raises(PublishError, match=r"from 10 to 7 \(-30%, more than --max-shrink 20%\)"):
        build(ws, smaller)
    assert ws.current_id() == generation
    assert build(ws, smaller, max_shrink=0.5).vectors == 7
    assert build(ws, local_catalog(tmp_path / "tiny", 2), allow_shrink=True).vectors == 2


def test_truncated_csv_and_xml_are_errors(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "shop")
    catalog = local_catalog(tmp_path / "feed", 8)
    build(ws, catalog)
    before = answers(ws)
    text = catalog.read_text()
    cut = tmp_path / "feed" / "cut.csv"
    cut.write_text(text[: text.index("p4,") + 7])  # cut off inside row 5: "p4,Colo"
    with pytest.raises(CatalogError, match="truncated"):
        build(ws, cut)
    quoted = tmp_path / "feed" / "quoted.csv"
    quoted.write_text('id,title,image\np1,"Colour 1')
    with pytest.raises(CatalogError, match="truncated"):
        build(ws, quoted)
    xml = tmp_path / "cut.xml"
    offers = "".join(
        f'<offer id="x{i}"><name>X</name><picture>http://127.0.0.1/x.jpg</picture></offer>'
        for i in range(5)
    )
    xml.write_text(
        f'<?xml version="1.0"?><yml_catalog date="2026-01-01"><shop><name>s</name>'
        f"<offers>{offers}</offers></shop></yml_catalog>"[:-40]
    )
    with pytest.raises(FeedError, match="malformed XML"):
        build(ws, xml)
    assert answers(ws) == before


def test_a_workspace_of_the_previous_layout_still_loads(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "shop")
    catalog = local_catalog(tmp_path / "feed", 8)
    build(ws, catalog)
    before = answers(ws)
    # make it look like version 1: every served file at the top level, no CURRENT
    folder = ws.generation_dir(ws.current_id() or "")
    for path in folder.iterdir():
        if path.name != "products.sqlite":
            shutil.move(path, ws.root / path.name)
    shutil.rmtree(ws.generations_dir)
    ws.current_path.unlink()
    assert ws.legacy and answers(ws) == before
    build(ws, catalog)  # a rebuild moves it to generations and drops the old files
    assert not ws.legacy and answers(ws) == before
    assert not any((ws.root / name).exists() for name in LEGACY_SERVED)
