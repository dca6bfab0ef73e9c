"""A Shopify export built end to end: the build keeps what ``catalog check`` counts."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from lookalike.catalog.check import check_products
from lookalike.catalog.formats.problems import Problem
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.pipeline.catalog import open_catalog
from lookalike.recommend.similar import Recommender
from lookalike.workspace import Workspace
from tests.conftest import jpeg_bytes

HEADER = ["Handle", "Title", "Option1 Name", "Option1 Value", "Variant SKU", "Variant Price",
          "Image Src", "Image Position", "Product Category"]  # fmt: skip


def shopify_shop(root: Path) -> Path:
    """4 products, one with 3 variants; images on continuation rows; one site-root picture."""
    colours = {"red": (220, 20, 20), "blue": (20, 20, 220), "green": (20, 200, 20)}
    for name, rgb in colours.items():
        (root / f"{name}.jpg").write_bytes(jpeg_bytes(rgb))
        (root / f"{name}-2.jpg").write_bytes(jpeg_bytes(tuple(max(0, c - 15) for c in rgb)))
    rows = [
        HEADER,
        ["tee", "Tee", "Size", "S", "TEE-S", "10", "red-2.jpg", "2", "Shirts"],
        ["tee", "", "", "M", "TEE-M", "10", "red.jpg", "1", ""],
        ["tee", "", "", "L", "TEE-L", "11", "", "", ""],
        ["cap", "Cap", "Title", "Default Title", "CAP", "5", "blue.jpg", "1", "Hats"],
        ["cap", "", "", "", "", "", "blue-2.jpg", "2", ""],
        ["sock", "Sock", "Title", "Default Title", "SOCK", "3", "green.jpg", "1", "Socks"],
        ["sock", "", "", "", "", "", "https://shop.example.com/", "2", ""],
        ["bag", "Bag", "Title", "Default Title", "BAG", "30", "green-2.jpg", "1", "Bags"],
    ]
    path = root / "products_export.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


@pytest.mark.parametrize("model", ["histogram"])
def test_build_of_a_shopify_export_matches_its_check(tmp_path: Path, model: str) -> None:
    export = shopify_shop(tmp_path)
    options = BuildOptions(model=model, k=5, titles=False)
    problems: list[Problem] = []
    name, products = open_catalog(export, options, on_problem=problems.append)
    check = check_products(name, products, problems)
    assert (check.products, check.images["total"], check.groups["products_in_groups"]) == (6, 10, 3)
    assert [p.message for p in check.problems] == [
        "image URL is the site root (no path to an image): https://shop.example.com/"
    ]

    ws = Workspace(tmp_path / "ws")
    report = build_workspace(ws, export, options)
    assert report.status == "ok", report.failures
    assert report.products["total"] == check.products
    with ws.open_store() as store:
        tee_m = store.get("TEE-M")
        assert tee_m.images == [str(tmp_path / "red.jpg"), str(tmp_path / "red-2.jpg")]
        assert tee_m.group_id == "tee" and store.get("cap").group_id == ""
    with Recommender(ws) as rec:
        similar = [r.product.id for r in rec.similar("TEE-S", k=5)]
    assert not {"TEE-M", "TEE-L"} & set(similar)  # its own variants are not recommended
