"""``--store milvus-lite:PATH``: a shop built into milvus-lite answers the Recommender and the
HTTP API exactly as the local store on the same data (filters, image search, upsert, delete),
and two shops in one database never see each other's products."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from lookalike.catalog.models import Product
from lookalike.catalog.store import ProductStore
from lookalike.errors import ConfigError
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.filters import Filters
from lookalike.recommend.milvus import MilvusShopStore, StoreSpec
from lookalike.recommend.milvus_publish import write_generation
from lookalike.recommend.similar import Recommender
from lookalike.workspace import Workspace

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::ResourceWarning")]

CATEGORIES = ("dress", "hat", "pants")
BRANDS = ("acme", "zeta")
EMPTY = np.zeros((0, 1280), dtype=np.float32)


def products(clothing: Path, prefix: str, categories: tuple[str, ...]) -> list[Product]:
    out = []
    for category in categories:
        for i, photo in enumerate(sorted((clothing / "test" / category).glob("*.jpg"))[:6]):
            out.append(
                Product(
                    id=f"{prefix}-{category}-{i}",
                    title=f"{category} {i}",
                    images=[str(photo)],
                    category=category.upper() if i == 2 else category,  # case is ignored
                    price=None if i == 5 else 10.0 + 7 * i,
                    in_stock=i % 3 != 1,
                    group_id=f"{category}-g{i // 2}",
                    attrs={"brand": BRANDS[i % 2]},
                )
            )
    return out


@dataclass
class Built:
    local: Workspace
    milvus: Workspace
    other: Workspace
    spec: str
    products: list[Product]


@pytest.fixture(scope="module")
def built(clothing_dir: Path, milvus_lite: None, tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("milvus")
    items = products(clothing_dir, "a", CATEGORIES)
    options = BuildOptions(progress=False, k=6, titles=False)
    local = Workspace(root / "local" / "alpha")
    assert build_workspace(local, items, options).status == "ok"
    # the same shop again, its embedding cache copied: this build only publishes to Milvus
    shutil.copytree(local.root, root / "milvus" / "alpha")
    spec = f"milvus-lite:{root / 'shops.db'}"
    milvus = Workspace(root / "milvus" / "alpha")
    store_options = BuildOptions(progress=False, k=6, titles=False, store=spec, index="flat")
    assert build_workspace(milvus, items, store_options).status == "ok"
    other = Workspace(root / "milvus" / "beta")
    beta = products(clothing_dir, "b", ("shoes", "shorts"))
    assert build_workspace(other, beta, store_options).status == "ok"
    return Built(local, milvus, other, spec, items)


def ranked(results: list) -> list[tuple[str, float]]:
    return [(r.product.id, round(r.score, 4)) for r in results]


FILTERS = [
    Filters(),
    Filters(category="same"),
    Filters(category="hat,PANTS"),
    Filters(in_stock=True),
    Filters(min_price=15, max_price=40),
    Filters(relative_price=(0.5, 1.5)),
    Filters(attrs={"brand": "Acme"}),
    Filters(attrs_same=("brand",), in_stock=True),
    Filters(exclude_group=False, near_duplicate=None),
    Filters(diversity=0.5),
]


def test_milvus_answers_like_the_local_store(built: Built) -> None:
    with Recommender(built.local) as local, Recommender(built.milvus) as milvus:
        assert milvus.manifest["store"]["kind"] == "milvus-lite"
        assert len(milvus.vectors) == len(local.vectors) == 18
        for product in built.products:
            if product.price is None:
                continue  # relative price needs one
            assert ranked(milvus.similar(product.id, 5)) == ranked(local.similar(product.id, 5))
            for filters in FILTERS:
                want = ranked(local.similar(product.id, 8, filters=filters))
                assert ranked(milvus.similar(product.id, 8, filters=filters)) == want, filters
        photo = Path(built.products[3].images[0]).read_bytes()
        for filters in (None, Filters(category="pants"), Filters(in_stock=True)):
            want = ranked(local.similar_to_image(photo, 6, filters=filters))
            assert ranked(milvus.similar_to_image(photo, 6, filters=filters)) == want
        # beyond the stored K and under another metric: the search paths
        assert ranked(milvus.similar("a-hat-0", 12)) == ranked(local.similar("a-hat-0", 12))
        assert ranked(milvus.similar("a-hat-0", 4, metric="euclidean")) == ranked(
            local.similar("a-hat-0", 4, metric="euclidean")
        )


@pytest.fixture(scope="module")
def client(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from lookalike.serve.app import create_app
    from tests.serve.conftest import make_settings

    app = create_app(
        [built.milvus.root, built.other.root],
        settings=make_settings(tmp_path_factory.mktemp("ev"), api_keys={}, cors_origins={}),
    )
    client = TestClient(app)
    yield client
    client.close()
    app.state.lookalike.close()


def ids(response: dict) -> list[str]:
    return [item["id"] for item in response["results"]]


def test_the_api_serves_a_milvus_shop_like_the_local_one(built: Built, client: TestClient) -> None:
    with Recommender(built.local) as local:
        path = "/v1/shops/alpha/products/a-dress-0/similar"
        assert ids(client.get(f"{path}?k=5").json()) == [
            r.product.id for r in local.similar("a-dress-0", 5)
        ]
        same = client.get(f"{path}?k=5&category=same&in_stock=true").json()
        want = local.similar("a-dress-0", 5, filters=Filters(category="same", in_stock=True))
        assert ids(same) == [r.product.id for r in want]
        photo = Path(built.products[7].images[0]).read_bytes()
        found = client.post("/v1/shops/alpha/search?k=4", files={"image": ("p.jpg", photo)})
        assert found.status_code == 200
        assert ids(found.json()) == [r.product.id for r in local.similar_to_image(photo, 4)]


def test_shops_in_one_database_stay_apart(built: Built, client: TestClient) -> None:
    alpha = client.get("/v1/shops/alpha/products/a-dress-0/similar?k=17").json()
    assert ids(alpha) and all(i.startswith("a-") for i in ids(alpha))
    beta_photo = Path(built.products[0].images[0]).read_bytes()  # an alpha photo, asked of beta
    beta = client.post("/v1/shops/beta/search?k=30", files={"image": ("p.jpg", beta_photo)})
    assert ids(beta.json()) and all(i.startswith("b-") for i in ids(beta.json()))
    assert client.get("/v1/shops/beta/products/a-dress-0/similar").status_code == 404
    spec = StoreSpec.parse(built.spec)
    beta_collection = MilvusShopStore(spec, "beta").collection
    with pytest.raises(ConfigError, match="belongs to shop 'beta'"):
        MilvusShopStore(spec, "alpha", collection=beta_collection)
    # a build of another shop aimed at alpha's collection is refused before anything is written
    with pytest.raises(ConfigError, match="belongs to shop 'alpha'"):
        write_generation(StoreSpec(spec.kind, spec.uri, "lookalike_alpha"), "gamma", [], EMPTY, {})


def test_upsert_and_delete_are_served_at_once(built: Built, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "alpha")
    shutil.copytree(built.milvus.root, ws.root)
    spec = StoreSpec.parse(built.spec)
    with Recommender(ws) as rec:
        store = rec.index.store  # the shop's published collection
        gone = rec.similar("a-dress-0", 3)[0].product.id
        store.delete([gone])
        assert gone not in [r.product.id for r in rec.similar("a-dress-0", 5)]
        searched = rec.similar("a-dress-0", 5, filters=Filters(category="any", in_stock=True))
        assert gone not in [r.product.id for r in searched]
        # a new product: its record in the product store, its vector and top-K in Milvus
        new = Product(
            id="a-new",
            title="new hat",
            images=built.products[6].images,
            category="hat",
            price=12.0,
            attrs={"brand": "acme"},
        )
        # written into the served products snapshot (out of band: this test's shortcut)
        with ProductStore(ws.pinned().served_db) as db:
            db.replace_catalog([*db.iter_products(), new])
        twin = built.products[6].id  # the new product reuses this hat's photo
        vector = rec.vectors.get(twin)
        assert vector is not None
        table = [(r.product.id, r.score) for r in rec.similar(twin, 6)]
        store.upsert([new], vector[None, :], {"a-new": table})
        hits = rec.similar("a-hat-1", 5, filters=Filters(category="hat"))
        assert "a-new" in [r.product.id for r in hits]
        assert [r.product.id for r in rec.similar("a-new", 3)][0] != "a-new"
    # and the change survives a restart (a fresh connection, as after a server restart)
    reopened = MilvusShopStore(spec, "alpha")
    try:
        assert "a-new" in reopened.vectors(["a-new"]) and not reopened.vectors([gone])
    finally:
        reopened.close()


def test_catalog_sync_api_upserts_and_deletes_go_to_milvus(
    built: Built, client: TestClient
) -> None:
    from tests.serve.conftest import ADMIN_KEY

    admin = {"X-API-Key": ADMIN_KEY}
    photo = Path(built.products[12].images[0]).read_bytes()  # a pants photo
    product = {"title": "synced pants", "category": "pants", "price": 30.0}
    put = client.put(
        "/v1/shops/alpha/products/a-synced",
        headers=admin,
        files={"image": ("p.jpg", photo, "image/jpeg")},
        data={"product": json.dumps(product)},
    )
    assert put.status_code == 200, put.text
    store = MilvusShopStore(StoreSpec.parse(built.spec), "alpha")
    try:
        assert "a-synced" in store.vectors(["a-synced"])  # in Milvus, not only the overlay
        found = client.post("/v1/shops/alpha/search?k=3", files={"image": ("p.jpg", photo)})
        assert set(ids(found.json())[:2]) == {"a-synced", built.products[12].id}
        assert client.delete("/v1/shops/alpha/products/a-synced", headers=admin).status_code == 200
        assert not store.vectors(["a-synced"])
        found = client.post("/v1/shops/alpha/search?k=3", files={"image": ("p.jpg", photo)})
        assert "a-synced" not in ids(found.json())
    finally:
        store.close()
