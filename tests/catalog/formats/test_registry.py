"""The one format registry: detection by extension and content, ``format=`` override, errors."""

from __future__ import annotations

import dataclasses
import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest

from lookalike.catalog.formats import (
    FORMATS,
    CatalogFile,
    ColumnMap,
    Format,
    detect_format,
    get_format,
    read_catalog,
)
from lookalike.catalog.formats.delimited import CSV
from lookalike.catalog.models import Product
from lookalike.errors import CatalogError, ConfigError, FeedError

DATA = Path(__file__).resolve().parents[2] / "data"
RSS = (DATA / "merchant.rss.xml").read_bytes()


def detect(path: Path) -> str:
    return detect_format(CatalogFile.local(path)).name


def test_every_format_has_a_unique_name_and_a_description() -> None:
    names = [f.name for f in FORMATS]
    assert len(set(names)) == len(names)
    assert {"folder", "csv", "tsv", "jsonl", "yml", "merchant"} <= set(names)
    assert all(f.description for f in FORMATS)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.csv", b"id,title\n1,x\n", "csv"),
        ("a.tsv", b"id\ttitle\n1\tx\n", "tsv"),
        ("a.jsonl", b'{"id": 1}\n', "jsonl"),
        ("a.ndjson", b'{"id": 1}\n', "jsonl"),
        ("a.data", b'\xef\xbb\xbf  {"id": 1}\n', "jsonl"),  # unknown extension: content
        ("shop.xml", (DATA / "shop.yml").read_bytes(), "yml"),
        ("feed.yml", RSS, "merchant"),  # an XML extension: the root decides
        ("feed.txt", RSS, "merchant"),
        ("feed", (DATA / "merchant.atom.xml").read_bytes(), "merchant"),
    ],
)
def test_detection_by_extension_then_content(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    (tmp_path / name).write_bytes(content)
    assert detect(tmp_path / name) == expected
    packed = tmp_path / f"{name}.gz"  # gzip is told by its magic bytes, the .gz is ignored
    packed.write_bytes(gzip.compress(content))
    assert detect(packed) == expected


def test_folder_is_its_own_format(tmp_path: Path) -> None:
    assert detect(tmp_path) == "folder"
    with pytest.raises(CatalogError, match="is a folder: it cannot be read as csv"):
        read_catalog(tmp_path, format="csv")
    (tmp_path / "a.csv").write_text("id\n1\n")
    with pytest.raises(CatalogError, match="is a file: it cannot be read as folder"):
        read_catalog(tmp_path / "a.csv", format="folder")


def test_unknown_content_and_unknown_xml(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("[1]")
    with pytest.raises(CatalogError, match="unknown catalog format for .*a.json"):
        detect(tmp_path / "a.json")
    (tmp_path / "page.xml").write_text("<!-- hi --><html/>")
    with pytest.raises(FeedError, match="unknown XML feed <html>"):
        detect(tmp_path / "page.xml")


def test_format_override_skips_detection(tmp_path: Path) -> None:
    text = tmp_path / "export.txt"  # no format claims .txt, and CSV is never sniffed
    text.write_text("id;title\n7;Hat\n")
    with pytest.raises(CatalogError, match="unknown catalog format"):
        read_catalog(text)
    (product,) = read_catalog(text, format="csv")
    assert (product.id, product.title) == ("7", "Hat")
    tsv = tmp_path / "export.dat"
    tsv.write_text("id\ttitle\n8\tCap, blue\n")
    (product,) = read_catalog(tsv, format=" TSV ")
    assert product.title == "Cap, blue"


def test_override_with_the_wrong_xml_reader_says_so(tmp_path: Path) -> None:
    (tmp_path / "feed.xml").write_bytes(RSS)
    with pytest.raises(FeedError, match="not a YML feed: the root is <rss>"):
        list(read_catalog(tmp_path / "feed.xml", format="yml"))


def test_unknown_format_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown catalog format 'xlsx': use one of folder, "):
        get_format("xlsx")


def test_not_utf8_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("id,title\n1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(CatalogError, match="not UTF-8 text"):
        list(read_catalog(bad))


def test_a_new_format_is_one_format_value(tmp_path: Path) -> None:
    # What a new format module defines: a Format; the registry needs only the entry.
    def read_lines(file: CatalogFile, columns: ColumnMap | None) -> Iterator[Product]:
        with file.open_text() as handle:
            yield from (Product(id=line.strip()) for line in handle if line.strip())

    ids = Format(
        name="ids",
        description="one id per line",
        suffixes=(".ids",),
        sniff=lambda file: file.head.startswith(b"#ids"),
        read=read_lines,
    )
    registry = (ids, *FORMATS)
    (tmp_path / "x.ids").write_text("#ids\nA\nB\n")
    file = CatalogFile.local(tmp_path / "x.ids")
    assert detect_format(file, registry) is ids
    assert [p.id for p in ids.read(file, None)] == ["#ids", "A", "B"]
    assert get_format("ids", registry) is ids
    # a specific CSV dialect placed before the generic CSV wins on its header row
    dialect = dataclasses.replace(CSV, name="dialect", sniff=lambda f: "Handle" in f.header)
    (tmp_path / "s.csv").write_text("Handle,Title\nh,x\n")
    assert detect_format(CatalogFile.local(tmp_path / "s.csv"), (dialect, *FORMATS)) is dialect
    (tmp_path / "g.csv").write_text("id,Title\nh,x\n")
    assert detect_format(CatalogFile.local(tmp_path / "g.csv"), (dialect, *FORMATS)) is CSV
