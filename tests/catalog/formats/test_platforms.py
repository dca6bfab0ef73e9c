"""Shopify, WooCommerce and Meta exports, Merchant without prefixes, YML availability, images.

The fixtures in tests/data/platforms were written for these tests from each platform's
published column documentation (Shopify's product CSV, WooCommerce's product CSV importer
schema, Meta's catalog data feed fields); no third-party file was copied.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from lookalike.catalog.formats import CatalogFile, detect_format, read_catalog
from lookalike.catalog.formats.problems import Problem
from lookalike.catalog.models import Product
from lookalike.errors import CatalogError

PLATFORMS = Path(__file__).resolve().parents[2] / "data" / "platforms"


def read(path: Path, **kwargs: object) -> tuple[dict[str, Product], list[Problem]]:
    problems: list[Problem] = []
    products: dict[str, Product] = {}
    for product in read_catalog(path, on_problem=problems.append, **kwargs):  # type: ignore[arg-type]
        products.setdefault(product.id, product)  # the first record of an id, as a build keeps
    return products, problems


def write(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("shopify_products.csv", "shopify"),
        ("woocommerce_products.csv", "woocommerce"),
        ("meta_catalog.csv", "meta"),
        ("meta_catalog.tsv", "meta"),
        ("merchant_unprefixed.rss.xml", "merchant"),
    ],
)
def test_platform_detected_from_the_header_row(name: str, expected: str) -> None:
    assert detect_format(CatalogFile.local(PLATFORMS / name)).name == expected


# --------------------------------------------------------------------------- Shopify


def test_shopify_continuation_rows_variants_and_image_order() -> None:
    products, problems = read(PLATFORMS / "shopify_products.csv")
    assert problems == []
    assert list(products) == ["LS-WHT-M", "LS-WHT-L", "LS-BLU-M", "canvas-tote", "wool-scarf"]
    cdn = "https://cdn.example.com/shop/linen-shirt/"
    ordered = [cdn + "front.jpg", cdn + "back.jpg", cdn + "detail.jpg"]  # Image Position 1, 2, 3
    white_m, white_l, blue_m = products["LS-WHT-M"], products["LS-WHT-L"], products["LS-BLU-M"]
    assert white_m.images == ordered and white_l.images == ordered
    assert blue_m.images == [cdn + "blue.jpg", *ordered]  # its Variant Image first
    assert {p.group_id for p in (white_m, white_l, blue_m)} == {"linen-shirt"}
    assert white_m.title == "Linen shirt - White / M"
    assert (white_m.attrs["Color"], white_m.attrs["Size"]) == ("White", "M")
    assert white_m.category == "Apparel & Accessories > Clothing > Shirts & Tops"
    assert white_m.attrs["type"] == "Shirts" and white_m.attrs["tags"] == "linen, summer"
    assert (white_m.price, blue_m.price, blue_m.attrs["regular_price"]) == (59.0, 55.0, 65.0)
    # qty 5: in stock; qty 0 + deny: out; qty 0 + continue (overselling allowed): in
    assert (white_m.in_stock, white_l.in_stock, blue_m.in_stock) == (True, False, True)
    assert (white_m.origin, white_l.origin) == ("row 2", "row 3")


def test_shopify_single_variant_product_is_its_handle() -> None:
    products, _ = read(PLATFORMS / "shopify_products.csv")
    tote, scarf = products["canvas-tote"], products["wool-scarf"]
    assert tote.images == [
        "https://cdn.example.com/shop/tote/main.jpg",
        "https://cdn.example.com/shop/tote/inside.jpg",  # from its continuation row
    ]
    assert (tote.group_id, tote.in_stock, tote.price) == ("", True, 24.0)  # stock not tracked
    assert "Title" not in tote.attrs  # "Default Title" is no option
    assert (scarf.category, scarf.in_stock) == ("Scarves", False)  # Type; Status draft


def test_shopify_current_column_names(tmp_path: Path) -> None:
    rows = [
        ["Title", "URL handle", "SKU", "Option1 name", "Option1 value", "Price",
         "Inventory tracker", "Inventory quantity", "Continue selling when out of stock",
         "Product image URL", "Image position", "Status"],
        ["Mug", "mug", "MUG-S", "Size", "Small", "9.5", "shopify", "0", "FALSE",
         "https://cdn.example.com/m2.jpg", "2", "active"],
        ["", "mug", "MUG-L", "", "Large", "11", "shopify", "0", "TRUE",
         "https://cdn.example.com/m1.jpg", "1", ""],
    ]  # fmt: skip
    products, problems = read(write(tmp_path / "export.csv", rows))
    assert problems == []
    small, large = products["MUG-S"], products["MUG-L"]
    assert small.images == ["https://cdn.example.com/m1.jpg", "https://cdn.example.com/m2.jpg"]
    assert (small.in_stock, large.in_stock) == (False, True)
    assert (small.price, large.price, large.group_id, large.title) == (
        9.5,
        11.0,
        "mug",
        "Mug - Large",
    )


def test_shopify_malformed_rows_are_reported(tmp_path: Path) -> None:
    rows = [
        ["Handle", "Title", "Variant SKU", "Variant Price", "Image Src", "Image Position"],
        ["cap", "Cap", "CAP-1", "10", "ftp://files.example.com/cap.jpg", "1"],
        ["cap", "", "", "", "https://cdn.example.com/cap.jpg", "2"],
        ["", "Orphan", "X", "1", "", ""],
        ["hat", "Hat", "HAT-1", "12", "https://cdn.example.com", "1"],
        ["cap", "Cap again", "CAP-2", "10", "", ""],
    ]
    products, problems = read(write(tmp_path / "s.csv", rows))
    assert products["cap"].images == ["https://cdn.example.com/cap.jpg"]  # the ftp one refused
    assert products["hat"].images == []  # product kept, its site-root picture refused
    messages = [str(p) for p in problems]
    assert any(m.startswith("row 2 (cap): image URL scheme ftp is not supported") for m in messages)
    assert "row 4: skipped: no Handle" in messages
    assert any(m.startswith("row 5 (hat): image URL is the site root") for m in messages)
    assert any(m.startswith("row 6 (cap): handle cap appears again") for m in messages)


# --------------------------------------------------------------------------- WooCommerce


def test_woocommerce_variations_images_categories_and_prices() -> None:
    products, problems = read(PLATFORMS / "woocommerce_products.csv")
    assert problems == []
    assert list(products) == ["HOODIE", "HOODIE-GREY", "HOODIE-NAVY", "MUG-ENAMEL", "111"]
    hoodie, grey, navy = products["HOODIE"], products["HOODIE-GREY"], products["HOODIE-NAVY"]
    assert hoodie.images == [
        "https://cdn.example.com/woo/hoodie-front.jpg",
        "https://cdn.example.com/woo/hoodie-back.jpg",
    ]
    assert hoodie.category == "Clothing > Hoodies"
    assert hoodie.attrs["categories"] == ["Clothing > Hoodies", "Clothing > Sale"]
    assert {hoodie.group_id, grey.group_id, navy.group_id} == {"HOODIE"}  # Parent by SKU, id:101
    assert grey.images == ["https://cdn.example.com/woo/hoodie-grey.jpg"]
    assert navy.images == hoodie.images  # no image of its own: the parent's
    assert (grey.category, navy.attrs["Color"]) == ("Clothing > Hoodies", "Navy")
    assert (grey.price, navy.price, navy.attrs["regular_price"]) == (45.0, 39.0, 45.0)
    assert (grey.in_stock, navy.in_stock) == (True, False)
    mug = products["MUG-ENAMEL"]
    assert len(mug.images) == 3 and mug.price == 8.5 and mug.category == "Kitchen > Mugs"
    napkins = products["111"]  # no SKU: the ID; "backorder" can be ordered now
    assert (napkins.price, napkins.in_stock, napkins.category) == (18.0, True, "Kitchen > Linen")


def test_woocommerce_malformed_rows(tmp_path: Path) -> None:
    rows = [
        ["ID", "Type", "SKU", "Name", "Regular price", "In stock?", "Images", "Parent"],
        ["", "simple", "", "Nameless", "5", "1", "", ""],
        ["7", "variation", "V-1", "Lost variation", "5", "1", "https://cdn.example.com/", ""],
    ]
    products, problems = read(write(tmp_path / "w.csv", rows))
    assert list(products) == ["V-1"]
    assert [str(p) for p in problems] == [
        "row 2: skipped: neither SKU nor ID",
        "row 3 (V-1): variation without Parent: read as a product of its own",
        "row 3 (V-1): image URL is the site root (no path to an image): https://cdn.example.com/",
    ]


# --------------------------------------------------------------------------- Meta


@pytest.mark.parametrize("name", ["meta_catalog.csv", "meta_catalog.tsv"])
def test_meta_catalog(name: str) -> None:
    products, problems = read(PLATFORMS / name)
    assert problems == []
    red_s, red_m, tote, belt = products.values()
    cdn = "https://cdn.example.com/meta/"
    assert red_s.images == [
        cdn + "dress-red.jpg",
        cdn + "dress-red-back.jpg",
        cdn + "dress-red-side.jpg",
    ]
    assert (red_s.price, red_s.attrs["regular_price"], red_s.attrs["currency"]) == (
        39.0,
        49.0,
        "EUR",
    )
    assert (red_m.price, red_m.in_stock, red_m.group_id) == (49.0, False, "WRAP-DRESS")
    assert red_s.category == "Women > Dresses > Midi"  # product_type before the Google category
    assert (red_s.attrs["brand"], red_s.attrs["size"], red_s.url) == (
        "Acme",
        "S",
        "https://shop.example.com/p/wrap-dress?v=red-s",
    )
    assert (tote.in_stock, tote.attrs["currency"], tote.category) == (
        True,  # "available for order"
        "USD",
        "Apparel & Accessories > Handbags",
    )
    assert (belt.in_stock, belt.price) == (False, 15.0)  # discontinued


def test_meta_prefixed_headers_and_bad_images(tmp_path: Path) -> None:
    ROOT = "https://cdn.example.com"  # noqa: N806
    rows = [
        ["g:id", "g:title", "g:image_link", "g:additional_image_link", "g:price", "g:availability"],
        ["A", "Lamp", f"{ROOT}/a.jpg", f"{ROOT},{ROOT}/a2.jpg", "30 CHF", "in stock"],
        ["", "No id", "https://cdn.example.com/b.jpg", "", "1 CHF", "in stock"],
    ]  # fmt: skip
    products, problems = read(write(tmp_path / "m.tsv", rows, "\t"))
    assert products["A"].images == [
        "https://cdn.example.com/a.jpg",
        "https://cdn.example.com/a2.jpg",
    ]
    assert products["A"].attrs == {"currency": "CHF"}
    assert [p.where for p in problems] == ["row 2", "row 3"]
    assert "site root" in problems[0].message and problems[1].message == "skipped: no id"


def test_format_override_reads_a_platform_export_under_any_name(tmp_path: Path) -> None:
    copy = tmp_path / "export.txt"
    copy.write_bytes((PLATFORMS / "meta_catalog.tsv").read_bytes())
    products, _ = read(copy, format="meta")
    assert len(products) == 4
    with pytest.raises(CatalogError, match="no id column"):  # the generic reader knows no Handle
        read(PLATFORMS / "shopify_products.csv", format="csv")


# --------------------------------------------------------------------------- Merchant, YML


def test_merchant_fields_without_the_g_prefix() -> None:
    products, problems = read(PLATFORMS / "merchant_unprefixed.rss.xml")
    assert problems == []
    cap, navy = products["CAP-1"], products["CAP-2"]
    cdn = "https://cdn.example.com/plain/"
    assert cap.images == [cdn + "cap.jpg", cdn + "cap-side.jpg", cdn + "cap-back.jpg"]
    assert (cap.price, cap.attrs["currency"], cap.category) == (19.9, "EUR", "Accessories > Hats")
    assert (cap.attrs["brand"], cap.group_id, cap.url) == (
        "Acme",
        "CAP",
        "https://shop.example.com/p/cap-1",
    )
    assert (navy.price, navy.attrs["regular_price"], navy.in_stock) == (14.9, 19.9, False)


def test_merchant_mixed_prefixes_and_refused_pictures() -> None:
    products, problems = read(PLATFORMS / "merchant_mixed.rss.xml")
    assert products["MUG-1"].images == ["https://cdn.example.com/mixed/mug.jpg"]
    assert products["MUG-2"].images == ["https://cdn.example.com/mixed/mug-black.jpg"]
    assert products["MUG-2"].title == "Stoneware mug, black"
    assert products["MUG-1"].attrs["color"] == "white"
    assert [(p.where, p.product) for p in problems] == [("line 6", "MUG-1"), ("line 15", "MUG-2")]
    assert "site root" in problems[0].message and "scheme ftp" in problems[1].message


YML = """<?xml version="1.0" encoding="UTF-8"?>
<yml_catalog><shop><url>https://shop.example.com/</url><offers>
<offer id="a" available="false"><name>A</name><picture>/img/a.jpg</picture></offer>
<offer id="b"><name>B</name><available>false</available><picture>ftp://x.example.com/b.jpg</picture>
<picture>https://cdn.example.com/b.jpg</picture></offer>
<offer id="c"><name>C</name><available>true</available><picture>/</picture></offer>
</offers></shop></yml_catalog>
"""


def test_yml_availability_as_attribute_or_child_and_bad_pictures(tmp_path: Path) -> None:
    (tmp_path / "shop.yml").write_text(YML, encoding="utf-8")
    products, problems = read(tmp_path / "shop.yml")
    assert [products[i].in_stock for i in "abc"] == [False, False, True]
    assert "available" not in products["b"].attrs
    assert products["a"].images == ["https://shop.example.com/img/a.jpg"]
    assert products["b"].images == ["https://cdn.example.com/b.jpg"]
    assert products["c"].images == []
    assert [(p.where, p.product) for p in problems] == [("line 4", "b"), ("line 6", "c")]
