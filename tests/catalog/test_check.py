"""``lookalike catalog check``: the numbers a build would start from, every problem, exit codes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lookalike.catalog.check import check_products
from lookalike.catalog.formats.problems import Problem
from lookalike.catalog.models import Product
from lookalike.cli import main
from tests.test_cli import run

if TYPE_CHECKING:
    from tests.catalog.conftest import LocalServer

DATA = Path(__file__).resolve().parents[1] / "data"
PLATFORMS = DATA / "platforms"


def check(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict, str]:
    """Run ``catalog check ... --json`` in-process: (exit code, report, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["catalog", "check", *args, "--json"])
    out, err = capsys.readouterr()
    code = int(exit_info.value.code or 0)
    return code, (json.loads(out) if out.strip() else {}), err


@pytest.mark.parametrize(
    ("name", "products", "images", "grouped", "in_stock", "currencies"),
    [
        ("shopify_products.csv", 5, 13, (1, 3), 3, {"(none)": 5}),
        ("woocommerce_products.csv", 5, 9, (1, 3), 4, {"(none)": 4}),
        ("meta_catalog.csv", 4, 9, (1, 2), 2, {"EUR": 2, "USD": 2}),
        ("meta_catalog.tsv", 4, 9, (1, 2), 2, {"EUR": 2, "USD": 2}),
        ("merchant_unprefixed.rss.xml", 2, 4, (1, 2), 1, {"EUR": 2}),
    ],
)
def test_clean_fixtures(
    capsys: pytest.CaptureFixture[str],
    name: str,
    products: int,
    images: int,
    grouped: tuple[int, int],
    in_stock: int,
    currencies: dict,
) -> None:
    code, report, _ = check(str(PLATFORMS / name), capsys=capsys)
    assert (code, report["clean"], report["problems"], report["duplicates"]) == (0, True, [], [])
    assert (report["products"], report["records"]) == (products, products)
    assert report["images"]["total"] == images
    assert (report["groups"]["groups"], report["groups"]["products_in_groups"]) == grouped
    assert report["availability"] == {"in_stock": in_stock, "out_of_stock": products - in_stock}
    assert report["prices"]["currencies"] == currencies


def test_shopify_report_details(capsys: pytest.CaptureFixture[str]) -> None:
    _, report, _ = check(str(PLATFORMS / "shopify_products.csv"), capsys=capsys)
    assert report["images"]["per_product"] == {"1": 1, "2": 1, "3": 2, "4": 1}
    assert report["categories"]["count"] == 3
    assert report["categories"]["top"][0] == ["Apparel & Accessories > Clothing > Shirts & Tops", 3]
    assert (report["prices"]["min"], report["prices"]["max"]) == (24.0, 59.0)


def test_problems_are_listed_with_their_row_and_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = tmp_path / "meta.csv"
    feed.write_text(
        "id,title,image_link,price,availability\n"
        "A,Lamp,https://cdn.example.com/a.jpg,30 CHF,in stock\n"
        "B,Chair,ftp://files.example.com/b.jpg,40 CHF,in stock\n"
        "A,Lamp again,https://cdn.example.com/a2.jpg,31 CHF,in stock\n"
        ",No id,https://cdn.example.com/c.jpg,1 CHF,in stock\n"
        "C,Table,https://cdn.example.com/,50 CHF,out of stock\n",
        encoding="utf-8",
    )
    code, report, err = check(str(feed), capsys=capsys)
    assert code == 3 and not report["clean"]
    assert (report["products"], report["records"]) == (3, 4)  # A counted once, as a build keeps
    assert report["duplicates"] == [{"id": "A", "where": "row 4", "kept": "row 2"}]
    assert [(p["where"], p["product"]) for p in report["problems"]] == [
        ("row 3", "B"),
        ("row 5", ""),
        ("row 6", "C"),
    ]
    assert "scheme ftp is not supported" in report["problems"][0]["message"]
    assert report["problems"][1]["message"] == "skipped: no id"
    assert "site root" in report["problems"][2]["message"]
    assert report["images"]["products_without"] == 2  # B and C are kept, without the bad image
    assert err == ""  # problems are in the report, not logged on top


def test_table_output_lists_duplicates_and_problems(tmp_path: Path) -> None:
    feed = tmp_path / "shop.csv"
    feed.write_text("id,title,image\nA,x,https://cdn.example.com/a.jpg\nA,y,\n", encoding="utf-8")
    result = run("catalog", "check", str(feed))
    assert result.returncode == 3, result.stderr
    assert "A: row 3 repeats row 2" in result.stdout
    assert "problems found" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "catalog not found"),
        ("latin1.csv", "id,title\n1,caf\xe9\n".encode("latin-1"), "not UTF-8 text"),
        ("broken.xml.gz", b"\x1f\x8b\x08\x00 not deflate data", "broken gzip data"),
        ("cut.xml.gz", gzip.compress(b"<rss>" * 200)[:40], "malformed XML"),
        ("bad.xml", b"<rss><channel><item><g:id>1</item></rss>", "malformed XML at line 1"),
        ("sheet.xlsx", b"PK\x03\x04 not a catalog", "unknown catalog format"),
    ],
)
def test_unreadable_catalogs_exit_1_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: bytes | None,
    message: str,
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    code, report, err = check(str(path), capsys=capsys)
    assert (code, report) == (1, {})
    assert message in " ".join(err.split()) and err.count("error:") == 1  # rich may wrap it
    assert " at 0x" not in err and "Traceback" not in err


def test_empty_catalog_is_a_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    code, report, _ = check(str(tmp_path / "empty.jsonl"), capsys=capsys)
    assert code == 3 and report["problems"] == [
        {"where": "catalog", "product": "", "message": "no products"}
    ]


def test_format_override_and_bad_format_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "export.txt"
    copy.write_bytes((PLATFORMS / "woocommerce_products.csv").read_bytes())
    code, report, _ = check(str(copy), "--format", "woocommerce", capsys=capsys)
    assert (code, report["products"]) == (0, 5)
    code, _, err = check(str(copy), "--format", "magento", capsys=capsys)
    assert code == 2 and "unknown catalog format 'magento'" in err


def test_check_by_url_fetches_only_the_feed(
    http_server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    http_server.state.files["meta.tsv"] = (PLATFORMS / "meta_catalog.tsv").read_bytes()
    url = http_server.url("/file/meta.tsv")
    code, report, _ = check(url, "--allow-private", capsys=capsys)
    assert (code, report["products"], report["source"]) == (0, 4, url)
    assert [path for path, _ in http_server.state.requests] == ["/file/meta.tsv"]  # no image
    code, _, err = check(url, capsys=capsys)  # loopback refused without --allow-private
    assert code == 1 and "loopback" in err


def test_check_counts_what_the_store_keeps(tmp_path: Path) -> None:
    # The same first-record-wins rule as the store's replace_catalog.
    from lookalike.catalog.store import ProductStore

    products = [Product(id="a", origin="row 2"), Product(id="b"), Product(id="a", title="later")]
    report = check_products("x", iter(products), [Problem("row 9", "odd")])
    with ProductStore(tmp_path / "p.sqlite") as store:
        diff = store.replace_catalog(products)
        assert (store.count(), diff.duplicates) == (report.products, len(report.duplicates))
        assert store.get("a").title == ""  # the first record
    assert [str(p) for p in report.problems] == ["row 9: odd"]


def test_unreachable_feed_message_has_no_python_reprs(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = check(f"http://127.0.0.1:{port}/feed.xml", "--allow-private", capsys=capsys)
    message = " ".join(err.split())
    assert code == 1 and "cannot download the feed" in message
    assert "Error(" not in message and " at 0x" not in message and "<" not in message


def test_build_takes_format_too(tmp_path: Path) -> None:
    result = run("build", str(tmp_path / "ws"), "--catalog", str(tmp_path), "--format", "magento")
    assert result.returncode == 2 and "unknown catalog format 'magento'" in result.stderr
    assert not (tmp_path / "ws").exists()
