"""Real photos, real build: near-duplicate and group exclusion, and every `similar` CLI option
end to end in a subprocess (as a user runs it)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from lookalike.recommend.filters import Filters
from lookalike.recommend.similar import Recommender
from tests.test_cli import run

pytestmark = pytest.mark.slow

CATEGORIES = ("dress", "hat", "pants", "shoes")
BRANDS = ("Acme", "Nordic", "Polar")


@pytest.fixture(scope="module")
def shop(photo_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """20 real photos with titles, prices, stock and brands; ``copy`` is a resized re-upload of
    ``dress-0`` under another SKU; ``dress-1`` and ``dress-2`` are variants of one group."""
    tmp = tmp_path_factory.mktemp("clishop")
    rows = []
    for c, category in enumerate(CATEGORIES):
        for i, photo in enumerate(sorted((photo_folder / category).glob("*.jpg"))[:5]):
            n = c * 5 + i
            rows.append(
                {
                    "id": f"{category}-{i}",
                    "title": f"{category.capitalize()} model {n}",
                    "image": str(photo),
                    "category": category,
                    "price": str(10 + 5 * n),
                    "in_stock": "no" if n % 4 == 3 else "yes",
                    "group_id": "dress-group" if category == "dress" and i in (1, 2) else "",
                    "brand": BRANDS[n % 3],
                }
            )
    rows[0]["title"] = "Summer Linen Dress"
    original = Path(rows[0]["image"])
    image = Image.open(original).convert("RGB")
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4))
    image.save(tmp / "copy.jpg", "JPEG", quality=80)
    image.close()
    rows.append({**rows[0], "id": "copy", "title": "Linen dress (reupload)"})
    rows[-1]["image"] = str(tmp / "copy.jpg")
    catalog = tmp / "catalog.csv"
    with catalog.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    ws = tmp / "ws"
    # the photos live in the shared photo folder, outside the catalog's own folder
    result = run(
        "build",
        str(ws),
        "--catalog",
        str(catalog),
        "-k",
        "8",
        "--quiet",
        "--allow-local-paths",
        str(photo_folder),
    )
    assert result.returncode == 0, result.stderr
    return {"ws": ws, "rows": {r["id"]: r for r in rows}}


def similar(shop: dict[str, object], *args: str) -> list[dict]:
    result = run("similar", str(shop["ws"]), *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_real_near_duplicate_and_group_are_excluded(shop: dict[str, object]) -> None:
    with Recommender(str(shop["ws"])) as rec:
        kept = rec.similar("dress-0", 3, filters=Filters(near_duplicate=None))
        assert kept[0].product.id == "copy" and kept[0].score > 0.97
        assert "copy" not in {r.product.id for r in rec.similar("dress-0", 8)}
        assert "copy" not in {r.product.id for r in rec.similar("dress-0", 15)}  # search path
        assert "dress-0" not in {r.product.id for r in rec.similar("copy", 8)}
        assert "dress-2" not in {r.product.id for r in rec.similar("dress-1", 15)}
        both = rec.similar("dress-1", 20, filters=Filters(exclude_group=False))
        assert "dress-2" in {r.product.id for r in both}


def test_cli_filters(shop: dict[str, object]) -> None:
    rows = shop["rows"]
    assert isinstance(rows, dict)
    same = similar(shop, "hat-0", "-k", "4", "--category", "same")
    assert [r["category"] for r in same] == ["hat"] * 4
    listed = similar(shop, "hat-0", "-k", "10", "--category", "pants,shoes")
    assert len(listed) == 10 and {r["category"] for r in listed} == {"pants", "shoes"}
    stocked = similar(shop, "hat-0", "-k", "20", "--in-stock")
    assert stocked and all(r["in_stock"] for r in stocked)
    assert len(stocked) == sum(r["in_stock"] == "yes" for r in rows.values()) - 1  # all eligible
    priced = similar(shop, "hat-0", "-k", "20", "--min-price", "40", "--max-price", "80")
    assert priced and all(40 <= r["price"] <= 80 for r in priced)
    rel = similar(shop, "hat-0", "-k", "20", "--price-within", "0.5,1")  # hat-0 costs 35
    assert rel and all(17.5 <= r["price"] <= 35 for r in rel)
    brand = similar(shop, "hat-0", "-k", "20", "--attr", "brand=acme", "--attr", "category=shoes")
    assert brand and all(r["attrs"]["brand"] == "Acme" and r["category"] == "shoes" for r in brand)
    same_brand = similar(shop, "hat-0", "-k", "20", "--same-attr", "brand")
    assert same_brand and {r["attrs"]["brand"] for r in same_brand} == {rows["hat-0"]["brand"]}
    diverse = similar(shop, "hat-0", "-k", "5", "--diversity", "0.5")
    assert len(diverse) == 5 and [r["rank"] for r in diverse] == [1, 2, 3, 4, 5]
    plain = similar(shop, "hat-0", "-k", "5", "--diversity", "1")
    assert [r["id"] for r in plain] == [r["id"] for r in similar(shop, "hat-0", "-k", "5")]
    dup = similar(shop, "dress-0", "-k", "1", "--near-duplicate", "off")
    assert dup[0]["id"] == "copy"
    group = similar(shop, "dress-1", "-k", "20", "--keep-group")
    assert "dress-2" in {r["id"] for r in group}


def test_cli_metric_weights_explain_and_title(shop: dict[str, object]) -> None:
    manhattan = similar(shop, "shoes-1", "-k", "3", "--metric", "manhattan")
    assert len(manhattan) == 3 and all(r["score"] < 0 for r in manhattan)
    hybrid = similar(shop, "shoes-1", "-k", "3", "--weights", "image=1,attrs=0.5", "--explain")
    for r in hybrid:
        assert set(r["components"]) == {"image", "title", "attrs"}
        assert sum(r["components"].values()) == pytest.approx(r["score"], abs=1e-5)
    table = run("similar", str(shop["ws"]), "shoes-1", "-k", "3", "--explain")
    assert table.returncode == 0 and "image" in table.stdout and "score" in table.stdout
    by_title = similar(shop, "--title", "  summer   LINEN dress ", "-k", "3")
    assert "dress-0" not in {r["id"] for r in by_title} and len(by_title) == 3
    same_as_id = similar(shop, "dress-0", "-k", "3")
    assert [r["id"] for r in by_title] == [r["id"] for r in same_as_id]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("hat-0", "--metric", "hamming"), "unknown metric"),
        (("hat-0", "--price-within", "2"), "relative_price"),
        (("hat-0", "--attr", "brand"), "key=value"),
        (("hat-0", "--diversity", "1.5"), "diversity"),
        (("hat-0", "--weights", "image=1,colour=2"), "unknown weight"),
        (("hat-0", "--weights", "title=1", "--metric", "euclidean"), "metric=cosine"),
    ],
)
def test_cli_bad_options_are_one_clear_line(
    shop: dict[str, object], args: tuple[str, ...], message: str
) -> None:
    result = run("similar", str(shop["ws"]), *args)
    assert result.returncode == 1, result.stdout
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
