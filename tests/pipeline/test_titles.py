"""Titles are embedded only when the catalog has real ones; models load only when needed."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from lookalike.catalog.formats.folder import read_folder
from lookalike.catalog.models import Product
from lookalike.embed import registry
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.pipeline import titles as text
from lookalike.pipeline.titled import has_real_title, titled_products


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("", False),
        ("sku-123", False),  # the id (CSV readers fall back to it)
        ("IMG_0042.jpg", False),
        ("5b2f1e0c-1d2e-4f00-9a8b-0c1d2e3f4a5b", False),
        ("Dress sku-123", False),  # category + id, what the folder reader makes up
        ("Red linen summer dress", True),
        ("Bed", True),  # hex letters, but a word
        ("Size 10 dress sku-123", True),
        ("Dress 1", True),  # "1" is not this product's id
    ],
)
def test_has_real_title(title: str, expected: bool) -> None:
    product = Product(id="sku-123", title=title, images=["/shop/sku-123.jpg"], category="dress")
    assert has_real_title(product) is expected


def test_short_ids_remove_whole_words_only() -> None:
    assert has_real_title(Product(id="1", title="Size 10 shirt", category="shirt"))
    assert not has_real_title(Product(id="1", title="Shirt 1", category="shirt"))


def test_url_file_stems_are_not_made_up_titles() -> None:
    seo = Product(id="77", title="Blue dress", images=["https://cdn.example/blue-dress.jpg"])
    assert has_real_title(seo)


def test_folder_catalog_titles_are_all_made_up(photo_folder: Path) -> None:
    products = list(read_folder(photo_folder))
    assert products and all(p.title for p in products)  # readers still fill a display title
    assert titled_products(products) == []


def test_folder_build_skips_titles_and_title_model(
    photo_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_model() -> None:
        raise AssertionError("the title model must not load for a folder catalog")

    monkeypatch.setattr(text, "load_title_encoder", no_model)
    report = build_workspace(tmp_path / "ws", photo_folder, BuildOptions())
    assert report.vectors == 40
    assert report.titles == {"titled": 0, "embedded": 0, "cached": 0}


def test_real_titles_are_embedded_and_rebuild_loads_no_model(
    photo_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = tmp_path / "shop.csv"
    photos = sorted(photo_folder.rglob("*.jpg"))[:6]
    with catalog.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "image", "category"])
        for i, path in enumerate(photos):
            # two made-up titles (the id) among real ones
            writer.writerow([f"p{i}", f"p{i}" if i < 2 else f"Cotton {path.parent.name}", path])
    report = build_workspace(tmp_path / "ws", catalog, BuildOptions())
    assert report.titles["titled"] == 4

    def no_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("nothing changed: no model may load")

    monkeypatch.setattr(text, "load_title_encoder", no_load)
    monkeypatch.setattr(registry, "get_embedder", no_load)
    again = build_workspace(tmp_path / "ws", catalog, BuildOptions())
    assert again.images["embedded"] == 0 and again.titles["embedded"] == 0
    assert again.vectors == 6
