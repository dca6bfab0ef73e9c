"""Feed readers: the sample YML / Merchant RSS / Atom feeds in tests/data, gzip, URLs, safety."""

from __future__ import annotations

import gzip
import io
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lookalike.catalog.formats import CatalogFile, read_catalog
from lookalike.catalog.formats.values import ImageResolver, split_price
from lookalike.catalog.formats.xmlsafe import PROLOGUE_PEEK, XmlEvents
from lookalike.catalog.formats.yml import YmlFeedReader, category_paths
from lookalike.catalog.http import FetchSettings
from lookalike.catalog.models import Product
from lookalike.errors import CatalogError, FeedError

if TYPE_CHECKING:
    from tests.catalog.conftest import LocalServer

DATA = Path(__file__).resolve().parents[2] / "data"
LOOPBACK = FetchSettings(allow_private=True, timeout=1.0, backoff=0.01, retries=0)


def products_of(source: str | Path, **kwargs: object) -> dict[str, Product]:
    return {p.id: p for p in read_catalog(source, **kwargs)}  # type: ignore[arg-type]


# --------------------------------------------------------------------------- sample feeds

YML_EXPECTED = {
    "dress-001": Product(
        id="dress-001",
        title="Платье летнее «Ромашка» 🌼",
        images=[
            "https://cdn.example.com/dress-001/front.jpg",
            "https://cdn.example.com/dress-001/back.jpg",
        ],
        category="Одежда > Женская одежда > Платья",
        price=2990.0,
        in_stock=True,
        url="https://shop.example.com/p/dress-001",
        group_id="DR1",
        attrs={
            "oldprice": "3990",
            "currencyId": "RUB",
            "vendor": "Зарина",
            "description": "<p>Лёгкое платье из хлопка.</p>",
            "Цвет": "белый",
            "Размер": "44 RU",
        },
    ),
    "dress-002": Product(
        id="dress-002",
        title="Платье летнее «Ромашка» 🌼",
        images=["https://shop.example.com/images/dress-002.jpg"],  # relative to <shop><url>
        category="Одежда > Женская одежда > Платья",
        price=2990.5,
        in_stock=False,
        url="https://shop.example.com/p/dress-002",
        group_id="DR1",
        attrs={"currencyId": "RUB", "Размер": "46 RU"},
    ),
    "boots-17": Product(
        id="boots-17",
        title="Ботинки Séverine Élan 17",  # type="vendor.model": typePrefix vendor model
        images=["https://cdn.example.com/boots-17.jpg"],
        category="Одежда > Обувь",
        price=5490.0,
        url="https://shop.example.com/p/boots-17",
        attrs={"currencyId": "RUB", "vendor": "Séverine"},
    ),
    "bag-9": Product(id="bag-9", title="Сумка-шоппер", category="Сумки", price=1200.0),
    "cafe-1": Product(
        id="cafe-1",
        title="Crème brûlée mug ☕",
        images=["https://cdn.example.com/café/crème.png"],
        category="Café & Crème",
        price=350.0,
    ),
    "misc-1": Product(id="misc-1", title="Товар без категории"),
}


def test_yml_sample_feed(caplog: pytest.LogCaptureFixture) -> None:
    products = products_of(DATA / "shop.yml")
    assert list(products) == list(YML_EXPECTED)  # feed order; the offer without id is skipped
    for pid, expected in YML_EXPECTED.items():
        assert products[pid].to_dict() == expected.to_dict(), pid
    assert "offer without id skipped" in caplog.text


def test_merchant_rss_sample_feed() -> None:
    products = products_of(DATA / "merchant.rss.xml")
    assert list(products) == ["TSHIRT-RED-M", "TSHIRT-RED-L", "SCARF-1"]
    m = products["TSHIRT-RED-M"]
    assert m.title == "T-shirt « Été » rouge ❤️"
    assert m.images == [
        "https://cdn.example.com/tshirt-red.jpg",
        "https://cdn.example.com/tshirt-red-back.jpg",
        "https://cdn.example.com/tshirt-red-side.jpg",
    ]
    assert m.category == "Apparel > Tops > T-shirts"  # separators normalised
    assert (m.price, m.in_stock, m.group_id) == (14.9, True, "TSHIRT-RED")  # sale price wins
    assert m.url == "https://boutique.example.com/p/tshirt-red-m"
    assert m.attrs == {
        "google_product_category": "Apparel & Accessories > Clothing > Shirts & Tops",
        "brand": "Éléonore",
        "color": "Rouge",
        "size": "M",
        "gtin": "3234567890126",
        "regular_price": 19.9,
        "currency": "EUR",
        "description": "Soft cotton tee",
    }  # g:shipping (nested) is not an attribute
    big = products["TSHIRT-RED-L"]
    assert (big.title, big.price, big.in_stock) == ("T-shirt « Été » rouge ❤️ (L)", 19.9, False)
    assert big.url == "https://boutique.example.com/p/tshirt-red-l"  # g:link
    assert big.group_id == m.group_id  # variants share item_group_id
    scarf = products["SCARF-1"]
    assert (scarf.category, scarf.in_stock, scarf.price) == ("166", False, 35.0)  # preorder


def test_merchant_atom_sample_feed() -> None:
    products = products_of(DATA / "merchant.atom.xml")
    assert list(products) == ["SNEAKER-42", "SANDAL-7"]
    sneaker = products["SNEAKER-42"]
    assert sneaker.title == "Кроссовки «Бег» 👟"
    assert sneaker.url == "https://shoes.example.com/p/sneaker-42"  # <link href>
    assert sneaker.category == "Обувь > Спорт > Кроссовки"
    assert (sneaker.price, sneaker.in_stock, sneaker.group_id) == (7490.0, True, "SNEAKER")
    assert sneaker.images == [
        "https://cdn.example.com/sneaker-42.jpg",
        "https://cdn.example.com/sneaker-42-sole.jpg",
    ]
    assert sneaker.attrs == {
        "brand": "Бегун",
        "color": "чёрный",
        "currency": "RUB",
        "description": "Беговые кроссовки",
    }
    sandal = products["SANDAL-7"]
    assert sandal.category == "Apparel & Accessories > Shoes"  # google_product_category
    assert (sandal.price, sandal.in_stock, sandal.attrs["currency"]) == (49.0, False, "USD")


def test_category_paths_missing_parents_and_cycles() -> None:
    paths = category_paths(
        {
            "1": ("Одежда", ""),
            "2": ("Платья", "1"),
            "3": ("Мини", "2"),
            "4": ("Orphan", "404"),
            "5": ("A", "6"),
            "6": ("B", "5"),
        }
    )
    assert paths["3"] == "Одежда > Платья > Мини"
    assert paths["4"] == "Orphan"
    assert paths["5"] == "B > A"  # the cycle is cut where it repeats


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12.50 USD", (12.5, "USD")), ("1 299,00 rub", (1299.0, "RUB")), ("35", (35.0, ""))],
)
def test_split_price(text: str, expected: tuple[float, str]) -> None:
    assert split_price(text) == expected


# --------------------------------------------------------------------------- files, gzip, sniffing


@pytest.mark.parametrize("name", ["shop.yml.gz", "shop.yml", "feed.bin", "feed"])
def test_gzip_is_recognised_by_magic_bytes(tmp_path: Path, name: str) -> None:
    packed = tmp_path / name
    packed.write_bytes(gzip.compress((DATA / "shop.yml").read_bytes()))
    assert products_of(packed).keys() == YML_EXPECTED.keys()


def test_format_sniffed_from_the_root_element(tmp_path: Path) -> None:
    for source, count in (("merchant.atom.xml", 2), ("merchant.rss.xml", 3), ("shop.yml", 6)):
        copy = tmp_path / f"{source}.txt"  # the extension says nothing
        shutil.copy(DATA / source, copy)
        assert len(products_of(copy)) == count


def test_gzipped_csv_and_plain_csv_with_feed_flag(tmp_path: Path) -> None:
    text = "id,title,image,group_id\nA,Été,img/a.jpg,G1\n"
    (tmp_path / "c.csv.gz").write_bytes(gzip.compress(text.encode()))
    (product,) = read_catalog(tmp_path / "c.csv.gz")
    assert (product.id, product.title, product.group_id) == ("A", "Été", "G1")
    assert product.images == [str((tmp_path / "img" / "a.jpg").resolve())]  # beside the .gz


def test_unknown_formats_are_refused(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("[1, 2]")
    with pytest.raises(CatalogError, match="unknown catalog format"):
        read_catalog(tmp_path / "x.json")
    (tmp_path / "other.xml").write_text("<html><body/></html>")
    with pytest.raises(FeedError, match=r"unknown XML feed <html>"):
        list(read_catalog(tmp_path / "other.xml"))
    (tmp_path / "broken.gz").write_bytes(gzip.compress(b"<yml_catalog>" * 100)[:30])
    with pytest.raises(FeedError, match="gzip"):
        list(read_catalog(tmp_path / "broken.gz"))


def test_malformed_xml_names_the_line(tmp_path: Path) -> None:
    lines = (DATA / "shop.yml").read_text(encoding="utf-8").splitlines()
    lines[30] = "        <price>oops</prize>"
    bad = tmp_path / "bad.yml"
    bad.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(FeedError, match=r"malformed XML at line 31"):
        list(read_catalog(bad))


def test_relative_images_resolve_against_the_feed_file(tmp_path: Path) -> None:
    resolve = ImageResolver(tmp_path)
    assert resolve("img/a.jpg") == str((tmp_path / "img" / "a.jpg").resolve())
    assert resolve("//cdn.example.com/a.jpg") == "https://cdn.example.com/a.jpg"
    assert ImageResolver("https://shop.example.com/feeds/f.xml")("a.jpg") == (
        "https://shop.example.com/feeds/a.jpg"
    )


# --------------------------------------------------------------------------- XML safety

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE yml_catalog [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<yml_catalog><shop><offers>
<offer id="1"><name>&lol9;</name><picture>https://cdn.example.com/1.jpg</picture></offer>
</offers></shop></yml_catalog>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss xmlns:g="http://base.google.com/ns/1.0"><channel><item>
<g:id>1</g:id><title>&xxe;</title></item></channel></rss>
"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_entity_declarations_are_refused(tmp_path: Path, payload: bytes) -> None:
    feed = tmp_path / "attack.xml"
    feed.write_bytes(payload)
    with pytest.raises(FeedError, match="declares XML entities"):
        list(read_catalog(feed))
    feed.write_bytes(gzip.compress(payload))
    with pytest.raises(FeedError, match="declares XML entities"):
        list(read_catalog(feed))


def test_entities_past_the_byte_scan_are_refused_by_the_dtd_check() -> None:
    # A long comment pushes the DOCTYPE beyond the raw prologue scan; lxml's view still sees it.
    padding = b"<!-- " + b"x" * PROLOGUE_PEEK + b" -->\n"
    payload = BILLION_LAUGHS.replace(b"<!DOCTYPE", padding + b"<!DOCTYPE", 1)
    with pytest.raises(FeedError, match="declares XML entities"):
        XmlEvents(io.BytesIO(payload), "padded.xml")


def test_plain_doctype_without_entities_is_accepted() -> None:
    # Real YML feeds start with <!DOCTYPE yml_catalog SYSTEM "shops.dtd">: the DTD is not loaded.
    assert b'SYSTEM "shops.dtd"' in (DATA / "shop.yml").read_bytes()
    assert len(products_of(DATA / "shop.yml")) == 6


# --------------------------------------------------------------------------- streaming


def big_yml(offers: int) -> bytes:
    rows = [
        f'<offer id="o{i}" available="true"><name>Offer {i}</name><categoryId>1</categoryId>'
        f"<picture>https://cdn.example.com/{i}.jpg</picture><price>{i}</price></offer>"
        for i in range(offers)
    ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?><yml_catalog><shop>'
        '<categories><category id="1">Всё</category></categories><offers>'
        + "".join(rows)
        + "</offers></shop></yml_catalog>"
    ).encode()


def test_offers_are_released_while_streaming() -> None:
    events = XmlEvents(io.BytesIO(big_yml(3000)), "big.yml")
    reader = YmlFeedReader(
        events, CatalogFile(Path("big.yml"), "big.yml", "https://shop.example.com/")
    )
    offers_in_tree = []
    count = 0
    for product in reader:
        count += 1
        offers = events.root_element.find("shop/offers")
        offers_in_tree.append(len(offers))
        assert product.category == "Всё"
    assert count == 3000
    # lxml parses one read buffer ahead (a few hundred small offers); everything already
    # handed out is gone, so the tree stays bounded by that buffer, not by the feed's size.
    assert max(offers_in_tree) < 300
    assert offers_in_tree[-1] <= 1


# --------------------------------------------------------------------------- URLs


def test_feed_by_url(http_server: LocalServer) -> None:
    http_server.state.files["feed.xml.gz"] = gzip.compress((DATA / "merchant.rss.xml").read_bytes())
    http_server.state.files["feed"] = (DATA / "shop.yml").read_bytes()
    url = http_server.url("/file/feed.xml.gz")
    assert list(products_of(url, fetch=LOOPBACK)) == ["TSHIRT-RED-M", "TSHIRT-RED-L", "SCARF-1"]
    assert products_of(http_server.url("/file/feed"), fetch=LOOPBACK).keys() == YML_EXPECTED.keys()


def test_feed_url_errors(http_server: LocalServer) -> None:
    with pytest.raises(FeedError, match="cannot download the feed.*HTTP 404"):
        list(read_catalog(http_server.url("/status/404"), fetch=LOOPBACK))
    with pytest.raises(FeedError, match="loopback"):
        list(read_catalog(http_server.url("/file/feed"), fetch=FetchSettings()))
    assert [path for path, _ in http_server.state.requests] == ["/status/404"]
