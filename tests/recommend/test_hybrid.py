"""Hybrid scores (image + MiniLM title + attributes) and query by title, on real titles.

The image vectors are synthetic (titles and attributes are what is under test); the titles go
through the real MiniLM model, loaded once for the module (a few seconds: marked slow).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.catalog.models import Product
from lookalike.errors import NotFoundError
from lookalike.pipeline.titles import update_title_vectors
from lookalike.recommend.filters import Filters, Weights
from lookalike.recommend.hybrid import AttributeTable, attribute_match
from lookalike.recommend.similar import Recommender
from lookalike.workspace import Workspace
from tests.recommend.conftest import make_workspace

TITLES = [
    ("tee-white", "Men's white cotton crew-neck T-shirt", "t-shirt", "Acme", "white"),
    ("tee-black", "Men's black cotton crew-neck T-shirt", "t-shirt", "Acme", "black"),
    ("tee-vneck", "Women's V-neck linen T-shirt, sky blue", "t-shirt", "Nordic", "blue"),
    ("hoodie", "Grey zip-up fleece hoodie with kangaroo pocket", "outwear", "Acme", "grey"),
    ("parka", "Waterproof winter parka with faux-fur hood", "outwear", "Polar", "green"),
    ("jeans-slim", "Slim-fit stretch denim jeans, dark wash", "pants", "Denimco", "blue"),
    ("chinos", "Beige cotton chino trousers, regular fit", "pants", "Acme", "beige"),
    ("runner", "Lightweight running sneakers with mesh upper", "shoes", "Swift", "white"),
    ("boots", "Leather Chelsea boots, brown", "shoes", "Polar", "brown"),
    ("sandals", "Women's flat leather sandals", "shoes", "Nordic", "brown"),
    ("dress-midi", "Floral print midi dress with short sleeves", "dress", "Nordic", "red"),
    ("dress-black", "Little black cocktail dress, sleeveless", "dress", "Acme", "black"),
    ("cap", "Baseball cap, adjustable strap, navy", "hat", "Swift", "blue"),
    ("beanie", "Chunky knit wool beanie", "hat", "Polar", "grey"),
    ("ru-dress", "Красное платье миди с длинным рукавом", "dress", "Ромашка", "red"),
    ("ru-jacket", "Тёплая зимняя куртка-пуховик с капюшоном", "outwear", "Polar", "black"),
    ("ru-sneakers", "Белые кожаные кроссовки для бега", "shoes", "Swift", "white"),
    ("ru-shirt", "Мужская рубашка в клетку из хлопка", "shirt", "Ромашка", "blue"),
    ("shirt-oxford", "Oxford button-down shirt, light blue", "shirt", "Acme", "blue"),
    ("skirt", "Pleated wool midi skirt, charcoal", "skirt", "Nordic", "grey"),
    ("untitled", "", "skirt", "Nordic", "grey"),
]


def catalog() -> list[Product]:
    return [
        Product(
            id=pid,
            title=title,
            category=cat,
            price=20.0 + i,
            url=f"https://shop.example/p/{pid}",
            attrs={"brand": brand, "color": color, "description": f"item {i}"},
        )
        for i, (pid, title, cat, brand, color) in enumerate(TITLES)
    ]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((len(TITLES), 16)).astype(np.float32)
    ws = make_workspace(tmp_path_factory.mktemp("h") / "shop", catalog(), vectors, k=5)
    manifest = ws.manifest()
    manifest["recommend"]["titles"] = True
    ws.write_manifest(manifest)
    report = update_title_vectors(ws.title_cache, ws.title_vectors, catalog())
    assert (report.titled, report.embedded, report.cached) == (20, 20, 0)
    return ws


def test_attribute_match_definition() -> None:
    a, b = catalog()[0], catalog()[1]  # same category and brand, other colour
    assert attribute_match(a, b) == pytest.approx(2 / 3)
    assert attribute_match(a, a) == 1.0
    # description is free text, not one of the compared keys; case/spacing ignored
    b2 = Product(id="x", category=" T-SHIRT ", attrs={"brand": "acme", "color": "white"})
    assert attribute_match(a, b2) == 1.0
    assert attribute_match(Product(id="bare"), a) == 0.0
    table = AttributeTable([p.id for p in catalog()], catalog())
    np.testing.assert_allclose(
        table.scores(a), [attribute_match(a, p) for p in catalog()], rtol=1e-6
    )


@pytest.mark.slow
def test_components_sum_to_the_score_and_rank_the_list(shop: Workspace) -> None:
    weights = Weights(image=1.0, title=0.5, attrs=0.25)
    with Recommender(shop) as rec:
        results = rec.similar("tee-white", 8, weights=weights, filters=Filters(near_duplicate=None))
        assert len(results) == 8
        for r in results:
            assert set(r.components) == {"image", "title", "attrs"}
            assert sum(r.components.values()) == pytest.approx(r.score, abs=1e-5)
            assert r.to_dict()["components"] == {k: round(v, 6) for k, v in r.components.items()}
        assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
        # each component is the weight times the raw score
        img = rec.vectors.get("tee-white")
        black = next(r for r in results if r.product.id == "tee-black")
        img_sim = float(np.dot(img, rec.vectors.get("tee-black")))
        title_sim = float(
            np.dot(rec.title_vectors.get("tee-white"), rec.title_vectors.get("tee-black"))
        )
        assert black.components["image"] == pytest.approx(img_sim, abs=1e-5)
        assert black.components["title"] == pytest.approx(0.5 * title_sim, abs=1e-5)
        assert black.components["attrs"] == pytest.approx(0.25 * 2 / 3, abs=1e-6)
        # title-only ranks the other T-shirt first; image-only never returns components
        title_only = rec.similar("tee-white", 3, weights=Weights(image=0, title=1))
        assert title_only[0].product.id == "tee-black"
        assert all(r.components is None for r in rec.similar("tee-white", 3))
        explained = rec.similar("tee-white", 3, explain=True)
        assert all(r.components == {"image": r.score} for r in explained)


@pytest.mark.slow
def test_weights_from_the_workspace_config(shop: Workspace) -> None:
    manifest = shop.manifest()
    manifest["recommend"]["weights"] = {"image": 0.0, "title": 1.0, "attrs": 0.0}
    shop.write_manifest(manifest)
    try:
        with Recommender(shop) as rec:
            assert rec.weights == Weights(image=0, title=1)
            assert rec.similar("jeans-slim", 1)[0].product.id == "chinos"
        with Recommender(shop, weights=Weights()) as rec:  # per-instance override
            assert rec.similar("jeans-slim", 1)[0].components is None
    finally:
        manifest["recommend"]["weights"] = {"image": 1.0, "title": 0.0, "attrs": 0.0}
        shop.write_manifest(manifest)


@pytest.mark.slow
def test_query_by_title_exact_normalised_and_paraphrased(shop: Workspace) -> None:
    with Recommender(shop) as rec:
        assert rec.find_by_title("Chunky knit wool beanie").id == "beanie"
        assert rec.find_by_title("  chunky   KNIT wool BEANIE ").id == "beanie"
        assert rec.find_by_title("красное платье миди с длинным рукавом").id == "ru-dress"
        # no exact match: the nearest title embedding
        assert rec.find_by_title("warm knitted woolly hat").id == "beanie"
        assert rec.find_by_title("waterproof coat for winter with a hood").id == "parka"
        assert rec.find_by_title("пуховик зимний").id == "ru-jacket"
        assert rec.find_by_title("dark blue skinny denim").id == "jeans-slim"
        product, results = rec.similar_by_title(
            "Leather Chelsea Boots, Brown", 4, filters=Filters(category="shoes")
        )
        assert product.id == "boots"
        assert {r.product.id for r in results} == {"runner", "sandals", "ru-sneakers"}
        assert rec.find_by_url("https://shop.example/p/cap/").id == "cap"
        with pytest.raises(NotFoundError):
            rec.find_by_url("https://shop.example/p/none")


@pytest.mark.slow
def test_title_vectors_are_cached_by_title_text(shop: Workspace, tmp_path: Path) -> None:
    # same titles again: nothing embedded (the model is not even needed)
    again = update_title_vectors(shop.title_cache, shop.title_vectors, catalog())
    assert (again.embedded, again.cached) == (0, 20)
    changed = catalog()
    changed[0].title = "Men's white organic cotton T-shirt"
    report = update_title_vectors(shop.title_cache, Workspace(tmp_path).title_vectors, changed)
    assert (report.embedded, report.cached) == (1, 19)
    assert shop.title_cache.npy.exists()


def test_empty_catalog_title_lookup(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "empty", [], np.zeros((0, 4), np.float32))
    with Recommender(ws) as rec:
        with pytest.raises(NotFoundError):
            rec.find_by_title("anything")
        assert rec.similar_to_vector(np.ones(4, np.float32), 3) == []
