"""Attribute recommendations: same category first, nearest price, shared attributes, no images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.catalog.models import Product
from lookalike.catalog.store import ProductStore
from lookalike.errors import NotFoundError
from lookalike.recommend.attributes import AttributeRecommender, attribute_pairs


@pytest.fixture()
def store(tmp_path: Path):
    products = [
        Product("q", category="shoes", price=10.0, attrs={"material": "Leather", "color": "dark"}),
        Product("a", category="shoes", price=20.0, attrs={"material": "canvas", "color": "dark"}),
        Product("b", category="shoes", price=30.0, attrs={"material": "leather ", "color": "DARK"}),
        Product("c", category="bags", price=10.0, attrs={"material": "leather", "color": "dark"}),
        Product("d", category="shoes", price=None, attrs={}),
        Product("e", category="hats", price=11.0, attrs={"size": ""}),
    ]
    with ProductStore(tmp_path / "products.sqlite") as s:
        s.replace_catalog(products)
        yield s


def test_scores_match_the_formula(store: ProductStore) -> None:
    rec = AttributeRecommender(store)
    assert rec.ids == ["q", "a", "b", "c", "d", "e"]
    expected = [
        -1.0,
        (1 + (10 / 20 + 1 / 3) / 2) / 2,  # same category, half the price, 1 of 3 pairs shared
        (1 + (10 / 30 + 1.0) / 2) / 2,  # same category, a third of the price, all pairs shared
        (0 + (1.0 + 1.0) / 2) / 2,  # other category, same price, all pairs shared
        (1 + (0.0 + 0.0) / 2) / 2,  # same category, no price, no attributes
        (0 + (10 / 11 + 0.0) / 2) / 2,  # empty attribute values are ignored
    ]
    np.testing.assert_allclose(rec.scores("q"), expected, rtol=1e-12)


def test_same_category_ranks_first_and_self_is_excluded(store: ProductStore) -> None:
    rec = AttributeRecommender(store)
    results = rec.similar("q", 10)
    assert [r.product.id for r in results] == ["b", "a", "d", "c", "e"]
    assert [r.rank for r in results] == [1, 2, 3, 4, 5]
    assert [r.product.id for r in rec.similar("q", 2)] == ["b", "a"]
    assert rec.same_category("q").tolist() == [True, True, True, False, True, False]


def test_unknown_product_and_pairs(store: ProductStore) -> None:
    rec = AttributeRecommender(store)
    with pytest.raises(NotFoundError):
        rec.similar("nope")
    assert attribute_pairs(Product("x", attrs={"Color": " Light  Blue ", "n": None})) == {
        ("color", "light blue")
    }
