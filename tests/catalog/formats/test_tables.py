"""Catalog readers: CSV/JSONL with configurable, missing and extra columns; folders of images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lookalike.catalog.formats import ColumnMap, read_catalog
from lookalike.catalog.formats.values import parse_price
from lookalike.errors import CatalogError
from tests.conftest import jpeg_bytes


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_standard_columns_and_extra_attributes(tmp_path: Path) -> None:
    csv_path = write(
        tmp_path / "products.csv",
        "id,title,image,category,price,in_stock,url,color,material\n"
        "A1,Red dress,img/a1.jpg,dress,19.90,yes,https://shop/a1,red,cotton\n"
        'B 2,Синее платье,https://cdn.example/b2.jpg|img/b2-back.jpg,dress,"1 299,00",0,,blue,\n',
    )
    products = list(read_catalog(csv_path))
    assert [p.id for p in products] == ["A1", "B 2"]
    first, second = products
    assert first.title == "Red dress"
    assert first.images == [str((tmp_path / "img/a1.jpg").resolve())]
    assert first.price == pytest.approx(19.90)
    assert first.in_stock is True
    assert first.url == "https://shop/a1"
    assert first.attrs == {"color": "red", "material": "cotton"}
    assert second.title == "Синее платье"
    assert second.images == [
        "https://cdn.example/b2.jpg",
        str((tmp_path / "img/b2-back.jpg").resolve()),
    ]
    assert second.price == pytest.approx(1299.0)
    assert second.in_stock is False
    assert second.attrs == {"color": "blue"}  # empty cells are not attributes


def test_csv_missing_optional_columns_gets_defaults(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "p.csv", "sku,photo\nX,x.jpg\n")
    (product,) = read_catalog(csv_path)
    assert product.id == "X"
    assert product.title == "X"  # falls back to the id
    assert product.category == ""
    assert product.price is None
    assert product.in_stock is True


def test_csv_without_id_column_says_which_columns_exist(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "p.csv", "name,photo\nX,x.jpg\n")
    with pytest.raises(CatalogError, match=r"no id column.*name, photo.*--columns"):
        list(read_catalog(csv_path))


def test_configurable_column_names(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "p.csv", "code;label;pic;kind\n7;Hat;h.jpg;hats\n")
    columns = ColumnMap.parse("id=code,title=label,image=pic,category=kind")
    (product,) = read_catalog(csv_path, columns)
    assert (product.id, product.title, product.category) == ("7", "Hat", "hats")
    assert product.images == [str((tmp_path / "h.jpg").resolve())]


def test_bad_column_mapping_is_a_clear_error(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "p.csv", "id,photo\n1,a.jpg\n")
    with pytest.raises(CatalogError, match="FIELD=COLUMN"):
        ColumnMap.parse("colour")
    with pytest.raises(CatalogError, match="column 'picture'.*not found"):
        list(read_catalog(csv_path, ColumnMap.parse("image=picture")))


def test_csv_extra_image_columns_and_rows_without_id(tmp_path: Path) -> None:
    csv_path = write(
        tmp_path / "p.csv",
        "id,image,image_2,additional_image_link\n1,a.jpg,b.jpg,http://x/c.jpg\n,z.jpg,,\n",
    )
    products = list(read_catalog(csv_path))
    assert len(products) == 1  # the row with an empty id is skipped with a warning
    assert [Path(s).name for s in products[0].images] == ["a.jpg", "b.jpg", "c.jpg"]


def test_jsonl_with_list_of_images_and_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "p1", "title": "Lamp", "images": ["a.png", "b.png"], "price": 5}),
        "not json",
        json.dumps([1, 2]),
        json.dumps({"id": "p 2 ü", "name": "Chair", "image": "c.png", "in_stock": False}),
    ]
    path = write(tmp_path / "p.jsonl", "\n".join(lines) + "\n")
    products = list(read_catalog(path))
    assert [p.id for p in products] == ["p1", "p 2 ü"]
    assert len(products[0].images) == 2
    assert products[0].price == 5.0
    assert products[1].title == "Chair"
    assert products[1].in_stock is False


def test_folder_reader_uses_stem_and_parent_folder(tmp_path: Path) -> None:
    (tmp_path / "shoes").mkdir()
    (tmp_path / "shoes" / "S 1.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "hats").mkdir()
    (tmp_path / "hats" / "S 1.jpg").write_bytes(jpeg_bytes())  # same stem, another folder
    (tmp_path / "top.png").write_bytes(jpeg_bytes())
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.jpg").write_bytes(jpeg_bytes())
    products = {p.id: p for p in read_catalog(tmp_path)}
    assert set(products) == {"S 1", "shoes/S 1", "top"}
    assert products["S 1"].category == "hats"
    assert products["top"].category == ""


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        read_catalog(tmp_path / "nope.csv")
    bad = write(tmp_path / "catalog.xlsx", "x")
    with pytest.raises(CatalogError, match="unknown catalog format"):
        read_catalog(bad)


@pytest.mark.parametrize(
    ("text", "value"),
    [("12.50 USD", 12.5), ("1 299,00 ₽", 1299.0), ("1,299.50", 1299.5), ("", None), ("n/a", None)],
)
def test_parse_price(text: str, value: float | None) -> None:
    assert parse_price(text) == value
