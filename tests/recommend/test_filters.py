"""Every filter, the default exclusions, filter-then-still-K and MMR, on synthetic vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.catalog.models import Product
from lookalike.errors import ConfigError
from lookalike.recommend.diversity import mmr
from lookalike.recommend.filters import Filters, Weights
from lookalike.recommend.similar import Recommender
from tests.recommend.conftest import make_workspace, unit

DIM = 8


def on_arc(theta: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """A unit vector at angle ``theta`` from e0 (plus a little noise in the other dims)."""
    v = np.zeros(DIM, np.float32)
    v[0], v[1] = np.cos(theta), np.sin(theta)
    if rng is not None:
        v[2:] = rng.normal(0, 1e-3, DIM - 2)
    return v


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Query ``q``; ``p01``..``p60`` ever further from it; shoes only at ranks 56-60;
    ``dup`` (same photo, another SKU) and ``var`` (a variant of q's group) right next to q."""
    rng = np.random.default_rng(0)
    products = [
        Product(
            id="q",
            title="Query shirt",
            category="shirt",
            price=40.0,
            group_id="g-q",
            attrs={"brand": "Acme", "color": "blue"},
        ),
        Product(id="dup", title="Query shirt copy", category="shirt", price=40.0),
        Product(id="var", title="Query shirt red", category="shirt", price=40.0, group_id="g-q"),
    ]
    vectors = [on_arc(0.0), on_arc(0.001), on_arc(0.28)]
    for i in range(1, 61):
        products.append(
            Product(
                id=f"p{i:02d}",
                title=f"Product {i}",
                category="shoes" if i > 55 else ("shirt" if i % 2 else "dress"),
                price=None if i == 7 else float(10 + i),
                in_stock=i % 3 != 0,
                group_id=f"g{i}",
                attrs={"brand": "acme " if i % 4 == 0 else "Other", "color": "blue"},
            )
        )
        vectors.append(on_arc(0.3 + i * 0.02, rng))
    return make_workspace(tmp_path_factory.mktemp("f") / "shop", products, np.array(vectors)).root


def ids(results) -> list[str]:
    return [r.product.id for r in results]


def plain_order(rec: Recommender) -> list[str]:
    """Every product by cosine to q, best first (the reference the filters cut down)."""
    q = rec.vectors.get("q")
    sims = np.asarray(rec.vectors.vectors) @ q
    return [rec.vectors.ids[i] for i in np.argsort(-sims, kind="stable")]


def test_default_excludes_self_group_and_near_duplicate_table_and_search_agree(
    shop: Path,
) -> None:
    with Recommender(shop) as rec:
        table = rec.similar("q", 5)
        assert ids(table) == ["p01", "p02", "p03", "p04", "p05"]
        # the same defaults through the search path (k above the stored K=10)
        assert ids(rec.similar("q", 12))[:5] == ids(table)
        np.testing.assert_allclose(
            [r.score for r in table], [r.score for r in rec.similar("q", 12)[:5]], rtol=1e-6
        )
        kept = rec.similar("q", 3, filters=Filters(exclude_group=False, near_duplicate=None))
        assert ids(kept) == ["dup", "var", "p01"]
        assert ids(rec.similar("q", 2, filters=Filters(near_duplicate=None))) == ["dup", "p01"]
        assert ids(rec.similar("q", 2, filters=Filters(exclude_group=False))) == ["var", "p01"]
        # the build stored the exclusions in the table itself, so exports agree too
        assert "dup" not in {pid for pid, _ in rec.neighbors.lookup("q")}


def test_category_far_down_the_ranking_still_gives_k(shop: Path) -> None:
    with Recommender(shop) as rec:
        shoes = rec.similar("q", 5, filters=Filters(category="shoes"))
        assert ids(shoes) == ["p56", "p57", "p58", "p59", "p60"]
        # fewer eligible than k: all of them, no padding
        assert len(rec.similar("q", 10, filters=Filters(category="shoes"))) == 5
        listed = rec.similar("q", 4, filters=Filters(category="shoes, dress"))
        assert ids(listed) == ["p02", "p04", "p06", "p08"]
        same = rec.similar("q", 30, filters=Filters(category="same"))
        assert len(same) == 28 and {r.product.category for r in same} == {"shirt"}
        expected = [pid for pid in plain_order(rec) if rec.product(pid).category == "shirt"]
        assert ids(same) == [p for p in expected if p not in {"q", "dup", "var"}][:28]


def test_price_filters(shop: Path) -> None:
    with Recommender(shop) as rec:
        absolute = rec.similar("q", 60, filters=Filters(min_price=30, max_price=35))
        assert ids(absolute) == [f"p{i:02d}" for i in range(20, 26)]
        # relative to q's price 40: 0.5x..1.0x = 20..40 -> p10..p30, except none missing
        relative = rec.similar("q", 60, filters=Filters(relative_price=(0.5, 1.0)))
        assert ids(relative) == [f"p{i:02d}" for i in range(10, 31)]
        # products without a price fail every price filter
        cheap = rec.similar("q", 60, filters=Filters(max_price=20))
        assert ids(cheap) == [f"p{i:02d}" for i in range(1, 11) if i != 7]
        with pytest.raises(ConfigError, match="query product"):
            rec.similar_to_vector(rec.vectors.get("q"), 3, filters=Filters(relative_price=(1, 2)))


def test_in_stock_and_attributes(shop: Path) -> None:
    with Recommender(shop) as rec:
        stocked = rec.similar("q", 10, filters=Filters(in_stock=True))
        assert ids(stocked) == [f"p{i:02d}" for i in range(1, 16) if i % 3][:10]
        # "acme " vs "Acme": compared case- and spacing-insensitively
        acme = rec.similar("q", 5, filters=Filters(attrs={"brand": "ACME"}))
        assert ids(acme) == ["p04", "p08", "p12", "p16", "p20"]
        same_brand = rec.similar("q", 5, filters=Filters(attrs_same=("brand",)))
        assert ids(same_brand) == ids(acme)
        both = Filters(attrs_same=("brand", "color"), in_stock=True, category="dress")
        assert ids(rec.similar("q", 3, filters=both)) == ["p04", "p08", "p16"]
        assert rec.similar("q", 3, filters=Filters(attrs={"brand": "nobody"})) == []


def test_parse_from_strings() -> None:
    parsed = Filters.parse(
        category="same",
        min_price="10",
        max_price="99.5",
        price_within="0.5,2",
        in_stock="true",
        attr=["brand=acme", "color=red"],
        same_attr="size,fit",
        exclude_group="false",
        near_duplicate="off",
        diversity="0.7",
    )
    assert parsed == Filters(
        category="same",
        min_price=10,
        max_price=99.5,
        relative_price=(0.5, 2.0),
        in_stock=True,
        attrs={"brand": "acme", "color": "red"},
        attrs_same=("size", "fit"),
        exclude_group=False,
        near_duplicate=None,
        diversity=0.7,
    )
    assert Filters.parse() == Filters()
    assert Filters.parse(category=None, attrs="brand=acme").attrs == {"brand": "acme"}
    assert hash(Filters.parse(attrs="a=1")) == hash(Filters(attrs={"a": "1"}))
    assert Weights.parse("image=1,title=0.5") == Weights(image=1, title=0.5, attrs=0)
    assert str(Weights.parse("attrs=2")) == "image=1,title=0,attrs=2"


@pytest.mark.parametrize(
    "params",
    [
        {"min_price": "cheap"},
        {"min_price": "-1"},
        {"min_price": "5", "max_price": "2"},
        {"price_within": "2"},
        {"price_within": "2,1"},
        {"in_stock": "maybe"},
        {"attrs": "brand"},
        {"near_duplicate": "1.5"},
        {"diversity": "0"},
        {"diversity": "1.2"},
        {"colour": "red"},
    ],
)
def test_parse_rejects_bad_values(params: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Filters.parse(**params)


@pytest.mark.parametrize("text", ["image=-1", "image=0", "pixels=1", "title=", "image=nan"])
def test_bad_weights(text: str) -> None:
    with pytest.raises(ConfigError):
        Weights.parse(text)


def test_mmr_reduces_redundancy_and_lambda_one_is_plain_ranking(tmp_path: Path) -> None:
    # three tight clusters; the best cluster holds the 6 most similar products
    rng = np.random.default_rng(3)
    centres = {"a": on_arc(0.1), "b": on_arc(0.5), "c": on_arc(-0.6)}
    counts = {"a": 6, "b": 4, "c": 4}
    products = [Product(id="q", category="x")]
    vectors = [on_arc(0.0)]
    for name, n in counts.items():
        for j in range(n):
            products.append(Product(id=f"{name}{j}", category="x"))
            noise = np.zeros(DIM, np.float32)
            noise[2:] = rng.normal(0, 0.02, DIM - 2)
            vectors.append(centres[name] + noise)
    ws = make_workspace(tmp_path / "mmr", products, np.array(vectors))
    with Recommender(ws) as rec:
        plain = rec.similar("q", 6, filters=Filters(near_duplicate=None))
        assert {pid[0] for pid in ids(plain)} == {"a"}
        lam1 = rec.similar("q", 6, filters=Filters(near_duplicate=None, diversity=1.0))
        assert ids(lam1) == ids(plain)
        diverse = rec.similar("q", 6, filters=Filters(near_duplicate=None, diversity=0.5))
        assert {pid[0] for pid in ids(diverse)} >= {"a", "c"}  # c: least like cluster a
        assert ids(diverse)[0] == ids(plain)[0]

        def redundancy(results) -> float:
            v = unit(np.array([rec.vectors.get(r.product.id) for r in results]))
            sims = v @ v.T
            return float(sims[np.triu_indices(len(v), 1)].mean())

        assert redundancy(diverse) < redundancy(plain) - 0.05


def test_mmr_function_directly() -> None:
    rel = np.array([0.9, 0.89, 0.5, 0.88])
    vecs = unit(np.array([[1, 0], [1, 0.01], [0, 1], [1, 0.02]]))
    np.testing.assert_array_equal(mmr(rel, vecs, 4, 1.0), np.argsort(-rel, kind="stable"))
    assert mmr(rel, vecs, 2, 0.5) == [0, 2]
    assert mmr(rel, vecs, 0, 0.5) == []
