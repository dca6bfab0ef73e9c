"""A shop that steers its recommendations, over real HTTP on 127.0.0.1: one query model for the
CLI, the API and the widget; rules through the admin API; catalog sync (upsert/delete now,
after a restart, folded into the next build); the examples query; the duplicate report on a
catalog with planted re-encoded, resized and copied photos."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image
from typer.testing import CliRunner

from lookalike.catalog.models import Product
from lookalike.cli import app as cli_app
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.query import QUERY_FIELDS
from lookalike.recommend.similar import Recommender
from lookalike.serve.app import create_app
from tests.serve.conftest import ADMIN_KEY, LiveServer, StaticServer, make_settings

pytestmark = pytest.mark.slow

CATEGORIES = ("dress", "hat", "pants")
OPTIONS = BuildOptions(progress=False, k=6, titles=False)
ADMIN = {"X-API-Key": ADMIN_KEY}


@dataclass
class Gamma:
    root: Path
    products: list[Product]
    photos: dict[str, bytes]  # a few photo bytes by name, served by a local "CDN"


def _jpeg(path: Path, quality: int, scale: float = 1.0, fmt: str = "JPEG") -> bytes:
    image = Image.open(path).convert("RGB")
    if scale != 1.0:
        image = image.resize((int(image.width * scale), int(image.height * scale)))
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return out.getvalue()


@pytest.fixture(scope="module")
def gamma(clothing_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Gamma:
    """15 products with a brand attribute (number 4 sold out) and three planted duplicates:
    dup-a re-encoded, dup-b resized as PNG, dup-c a byte copy."""
    root = tmp_path_factory.mktemp("gamma")
    planted = root / "planted"
    planted.mkdir()
    products, photos, files = [], {}, {}
    for category in CATEGORIES:
        for i, photo in enumerate(sorted((clothing_dir / "test" / category).glob("*.jpg"))[:6], 1):
            pid = f"g-{category}-{i}"
            files[pid] = photo
            if i == 6:  # held back: uploaded later through catalog sync
                photos[pid] = photo.read_bytes()
                continue
            products.append(
                Product(
                    id=pid,
                    title=f"Gamma {category} number {i}",
                    images=[str(photo)],
                    category=category,
                    price=10.0 * i,
                    in_stock=i != 4,
                    attrs={"brand": "acme" if i % 2 else "zeta"},
                )
            )
    for pid, source, data in (
        ("dup-a", "g-dress-1", _jpeg(files["g-dress-1"], 55)),
        ("dup-b", "g-hat-2", _jpeg(files["g-hat-2"], 0, 0.6, "PNG")),
        ("dup-c", "g-pants-3", files["g-pants-3"].read_bytes()),
    ):
        path = planted / f"{pid}.img"
        path.write_bytes(data)
        category = source.split("-")[1]
        products.append(
            Product(id=pid, title=f"Copy of {source}", images=[str(path)], category=category)
        )
    ws = root / "gamma"
    assert build_workspace(ws, products, OPTIONS).status == "ok"
    return Gamma(ws, products, photos)


@pytest.fixture()
def server(gamma: Gamma, tmp_path: Path) -> Iterator[str]:
    app = create_app([gamma.root], settings=make_settings(tmp_path, allow_private=True))
    try:
        with LiveServer(app) as live:
            yield live.url
    finally:
        app.state.lookalike.close()


def _ids(body: dict) -> list[str]:
    return [r["id"] for r in body["results"]]


def test_same_filter_same_results_cli_api_widget(gamma: Gamma, server: str) -> None:
    query = {"k": "3", "category": "same", "in_stock": "true", "attr": "brand=acme"}
    api = httpx.get(f"{server}/v1/shops/gamma/products/g-dress-2/similar", params=query).json()
    widget = httpx.get(
        f"{server}/v1/shops/gamma/widget", params={**query, "product_id": "g-dress-2"}
    ).text
    cli = CliRunner().invoke(
        cli_app,
        [
            "similar", str(gamma.root), "g-dress-2", "-k", "3", "--category", "same",
            "--in-stock", "--attr", "brand=acme", "--json",
        ],
    )  # fmt: skip
    assert cli.exit_code == 0, cli.output
    from_cli = [r["id"] for r in json.loads(cli.output)]
    from_widget = re.findall(r'data-id="([^"]+)"', widget)
    assert _ids(api) == from_cli == from_widget
    assert _ids(api) and all(r["category"] == "dress" for r in api["results"])
    assert all(r["attributes"]["brand"] == "acme" and r["in_stock"] for r in api["results"])


def test_openapi_documents_every_query_parameter(server: str) -> None:
    spec = httpx.get(f"{server}/openapi.json").json()
    params = spec["paths"]["/v1/shops/{shop}/products/{product_id}/similar"]["get"]["parameters"]
    documented = {p["name"]: p.get("description", "") for p in params}
    assert set(QUERY_FIELDS) <= set(documented)
    assert all(documented[name] for name in QUERY_FIELDS)
    item = spec["components"]["schemas"]["SimilarItem"]["properties"]
    assert {"attributes", "rules"} <= set(item)


def test_rules_through_the_admin_api(server: str) -> None:
    url = f"{server}/v1/shops/gamma/rules"
    plain = f"{server}/v1/shops/gamma/products/g-dress-1/similar?k=4"
    before = httpx.get(plain).json()  # a plain answer is cached: a rules change must show
    assert all(not r["rules"] for r in before["results"])
    assert httpx.put(url, json={"pins": []}).status_code == 401
    assert httpx.put(url, json={"fallback": "random"}, headers=ADMIN).status_code == 422
    rules = {
        "pins": [{"product_id": "g-pants-1", "position": 2, "for_product": "g-dress-1"}],
        "boosts": [{"attr": "brand", "value": "zeta", "factor": 0.2}],
        "exclude": ["g-dress-3"],
    }
    assert httpx.put(url, json=rules, headers=ADMIN).status_code == 200
    try:
        body = httpx.get(plain).json()
        assert _ids(body)[1] == "g-pants-1" and body["results"][1]["rules"] == ["pin:2"]
        assert "g-dress-3" not in _ids(body)
        assert httpx.get(url, headers=ADMIN).json()["exclude"] == ["g-dress-3"]
    finally:
        httpx.put(url, json={}, headers=ADMIN)


def test_catalog_sync_now_after_restart_and_in_the_next_build(
    gamma: Gamma, server: str, tmp_path: Path
) -> None:
    routes = {"/dress6.jpg": (200, "image/jpeg", gamma.photos["g-dress-6"])}
    cdn = StaticServer(routes)
    with cdn:
        put = httpx.put(
            f"{server}/v1/shops/gamma/products/new-dress",
            json={"title": "New dress", "category": "dress", "price": 42,
                  "attrs": {"brand": "acme"}, "image_url": f"{cdn.url}/dress6.jpg"},
            headers=ADMIN,
        )  # fmt: skip
        assert put.status_code == 200, put.text
        batch = httpx.post(
            f"{server}/v1/shops/gamma/sync",
            json={
                "upsert": [
                    {"id": "bad-image", "title": "x", "image_url": f"{cdn.url}/missing.jpg"}
                ],
                "delete": ["g-dress-2"],
            },
            headers=ADMIN,
        ).json()
    assert [i["status"] for i in batch["items"]][0] == "error" and batch["ok"] == 1
    upload = httpx.put(
        f"{server}/v1/shops/gamma/products/new-hat",
        files={"image": ("hat.jpg", gamma.photos["g-hat-6"], "image/jpeg")},
        data={"product": json.dumps({"title": "New hat", "category": "hat"})},
        headers=ADMIN,
    )
    assert upload.status_code == 200, upload.text
    assert httpx.delete(f"{server}/v1/shops/gamma/products/g-dress-2").status_code == 401

    def visible(base: str) -> None:
        product = httpx.get(f"{base}/v1/shops/gamma/products/new-dress").json()
        assert product["attributes"] == {"brand": "acme"} and product["price"] == 42
        assert httpx.get(f"{base}/v1/shops/gamma/products/new-dress/image").status_code == 200
        assert httpx.get(f"{base}/v1/shops/gamma/products/g-dress-2").status_code == 404
        near = httpx.get(f"{base}/v1/shops/gamma/products/g-dress-1/similar?k=17").json()
        assert "new-dress" in _ids(near) and "g-dress-2" not in _ids(near)
        own = httpx.get(f"{base}/v1/shops/gamma/products/new-hat/similar?k=3").json()
        assert own["results"] and own["results"][0]["category"] == "hat"
        photo = httpx.post(
            f"{base}/v1/shops/gamma/search?k=3",
            files={"image": ("d.jpg", gamma.photos["g-dress-6"], "image/jpeg")},
        ).json()
        assert _ids(photo)[0] == "new-dress"
        listed = httpx.get(f"{base}/v1/shops/gamma/products?query=new").json()
        assert {p["id"] for p in listed["items"]} == {"new-dress", "new-hat"}

    visible(server)
    # a restart (a new app over the same workspace) replays the journal
    app = create_app([gamma.root], settings=make_settings(tmp_path, allow_private=True))
    try:
        with LiveServer(app) as again:
            visible(again.url)
    finally:
        app.state.lookalike.close()
    # the next build folds the journal in: the build's own table knows the new products
    port = int(cdn.url.rsplit(":", 1)[1])
    with StaticServer(routes, port):  # the build fetches the synced product's image URL again
        options = BuildOptions(progress=False, k=6, titles=False, allow_private=True)
        assert build_workspace(gamma.root, gamma.products, options).status == "ok"
    with Recommender(gamma.root) as rec:
        assert not rec.overlay and rec.manifest["sync_seq"] >= 3
        assert "new-dress" in rec.neighbors and "g-dress-2" not in rec.neighbors
        assert "new-dress" in [r.product.id for r in rec.similar("g-dress-1", 17)]


def test_examples_query(server: str) -> None:
    url = f"{server}/v1/shops/gamma/recommend"
    for strategy in ("average_vector", "best_score"):
        body = {
            "positive": ["g-dress-1", "g-dress-3"],
            "negative": ["g-hat-1"],
            "strategy": strategy,
        }
        got = httpx.post(url, params={"k": 4}, json=body).json()
        ids = _ids(got)
        assert len(ids) == 4 and not {"g-dress-1", "g-dress-3", "g-hat-1"} & set(ids)
        assert sum(r["category"] == "dress" for r in got["results"]) >= 2
        hats = httpx.post(url, params={"k": 2, "category": "hat"}, json=body).json()
        assert [r["category"] for r in hats["results"]] == ["hat", "hat"]
    bad = httpx.post(url, json={"positive": ["g-dress-1"], "strategy": "nope"})
    assert bad.status_code == 422
    assert httpx.post(url, json={"positive": ["unknown"]}).status_code == 404


def test_duplicate_report(gamma: Gamma, server: str) -> None:
    expected = [{"dup-a", "g-dress-1"}, {"dup-b", "g-hat-2"}, {"dup-c", "g-pants-3"}]
    cli = CliRunner().invoke(cli_app, ["duplicates", str(gamma.root), "--json"])
    assert cli.exit_code == 0, cli.output
    clusters = [set(c["ids"]) for c in json.loads(cli.output)]
    assert all(pair in clusters for pair in expected), clusters
    reasons = {p["reason"] for c in json.loads(cli.output) for p in c["pairs"]}
    assert {"same image bytes", "near-identical photo"} <= reasons
    assert httpx.get(f"{server}/v1/shops/gamma/duplicates").status_code == 401
    body = httpx.get(f"{server}/v1/shops/gamma/duplicates", headers=ADMIN).json()
    assert [set(c["ids"]) for c in body["clusters"]] == clusters
    page = httpx.get(f"{server}/v1/shops/gamma/duplicates.html", headers=ADMIN).text
    assert page.count("<figure") == sum(len(c) for c in clusters)
