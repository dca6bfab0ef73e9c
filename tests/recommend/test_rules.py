"""Merchandising rules, shop.toml defaults and the query model, on a small synthetic shop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.catalog.models import Product
from lookalike.errors import ConfigError
from lookalike.recommend.query import SimilarQuery, parse_query
from lookalike.recommend.rules import parse_rules
from lookalike.recommend.shopconfig import load_shop_config
from lookalike.recommend.similar import Recommender
from lookalike.recommend.steer import similar_for_product
from tests.recommend.conftest import make_workspace


def _shop(tmp_path: Path) -> Recommender:
    """12 products on a line of angles: p0 is the query; similarity falls with the index.
    Dresses are p0-p5, skirts p6-p11; odd ones are brand acme; p3 is out of stock."""
    products = []
    for i in range(12):
        products.append(
            Product(
                id=f"p{i}",
                title=f"item {i}",
                category="dress" if i < 6 else "skirt",
                price=10.0 + i,
                in_stock=i != 3,
                attrs={
                    "brand": "acme" if i % 2 else "other",
                    "popularity": str(100 - i * 7 % 50),
                    "created": f"2026-11-{10 + i:02d}",
                    **({"sponsored": "true"} if i in (9, 10) else {}),
                },
            )
        )
    angles = np.linspace(0, 1.4, 12)
    vectors = np.stack([np.cos(angles), np.sin(angles), np.zeros(12)], axis=1)
    ws = make_workspace(tmp_path / "shop", products, vectors, near_duplicate=None)
    return Recommender(ws)


def _ids(rec: Recommender, query: SimilarQuery | None = None, product: str = "p0") -> list[str]:
    results = similar_for_product(rec, product, query or SimilarQuery(), "api").results
    return [r.product.id for r in results]


def _rules(rec: Recommender, product: str = "p0", **query: object) -> list[tuple[str, ...]]:
    results = similar_for_product(rec, product, parse_query(query), "api").results
    return [r.rules for r in results]


def test_no_rules_is_the_plain_ranking(tmp_path: Path) -> None:
    with _shop(tmp_path) as rec:
        assert _ids(rec, SimilarQuery(k=4)) == ["p1", "p2", "p3", "p4"]
        assert similar_for_product(rec, "p0", SimilarQuery(k=4)).source == "precomputed"


def test_every_rule_kind(tmp_path: Path) -> None:
    with _shop(tmp_path) as rec:
        rec.set_rules(
            parse_rules(
                {
                    "exclude": ["p2"],
                    "pins": [
                        {"product_id": "p11", "position": 1, "for_product": "p0"},
                        {"product_id": "p8", "position": 3, "for_category": "skirt"},
                    ],
                    "boosts": [
                        {"attr": "brand", "value": "acme", "factor": 1.5},
                        {"attr": "category", "value": "skirt", "factor": 0.1},
                    ],
                }
            )
        )
        results = similar_for_product(rec, "p0", SimilarQuery(k=5)).results
        ids = [r.product.id for r in results]
        assert ids[0] == "p11" and results[0].rules[-1] == "pin:1"  # pinned for this query
        assert "p2" not in ids  # excluded
        # acme (odd) dresses are boosted above the others; skirts are buried
        assert ids[1:] == ["p1", "p3", "p5", "p4"]
        assert results[1].rules == ("boost:brand=acme*1.5",)
        assert results[4].rules == ()
        # the category pin applies to query products of that category only
        skirt = similar_for_product(rec, "p7", SimilarQuery(k=4)).results
        assert skirt[2].product.id == "p8" and "pin:3" in skirt[2].rules
        assert all(r.product.id != "p11" or "pin:1" not in r.rules for r in skirt)
        # the rules survive a reload (rules.json)
        with Recommender(rec.workspace) as again:
            assert again.rules == rec.rules


def test_bury_factor_moves_products_down(tmp_path: Path) -> None:
    with _shop(tmp_path) as rec:
        assert _ids(rec, SimilarQuery(k=3)) == ["p1", "p2", "p3"]
        rec.set_rules(parse_rules({"boosts": [{"attr": "brand", "value": "acme", "factor": 0.5}]}))
        buried = similar_for_product(rec, "p0", SimilarQuery(k=5)).results
        assert [r.product.id for r in buried] == ["p2", "p4", "p6", "p8", "p1"]
        assert buried[4].rules == ("bury:brand=acme*0.5",) and buried[0].rules == ()


def test_sponsored_share_is_capped(tmp_path: Path) -> None:
    with _shop(tmp_path) as rec:
        rec.set_rules(
            parse_rules(
                {
                    "boosts": [
                        {"attr": "category", "value": "skirt", "factor": 50, "sponsored": True}
                    ],
                    "max_sponsored_share": 0.25,
                }
            )
        )
        results = similar_for_product(rec, "p0", SimilarQuery(k=4)).results
        sponsored = [r for r in results if any(t.startswith("sponsored:") for t in r.rules)]
        assert len(sponsored) == 1  # floor(0.25 * 4): the other boosted skirts moved out
        assert results[0] is sponsored[0]


def test_threshold_with_fallback(tmp_path: Path) -> None:
    with _shop(tmp_path) as rec:
        # cos(angle) of p1..p5 ~ 0.99, 0.95, 0.90, 0.82, 0.72: a 0.9 threshold keeps 3
        assert _ids(rec, SimilarQuery(k=5, threshold=0.9)) == ["p1", "p2", "p3"]
        rec.set_rules(parse_rules({"min_score": 0.9, "fallback": "newest"}))
        results = similar_for_product(rec, "p0", SimilarQuery(k=5)).results
        assert [r.product.id for r in results] == ["p1", "p2", "p3", "p5", "p4"]
        assert results[3].rules == ("fallback:newest",)
        rec.set_rules(parse_rules({"min_score": 0.9, "fallback": "popular"}))
        ids = _ids(rec, SimilarQuery(k=5, in_stock=True))
        # in stock only: p3 goes; the fallback fills from the dresses by popularity, in stock
        # (p3 is out of stock, p0 is the query): the category has no more to give
        assert ids == ["p1", "p2", "p4", "p5"]
        rec.set_rules(parse_rules({"min_score": 0.9, "fallback": "none"}))
        assert _ids(rec, SimilarQuery(k=5)) == ["p1", "p2", "p3"]


def test_query_exclusions_and_attribute_filters(tmp_path: Path) -> None:
    with _shop(tmp_path) as rec:
        assert _ids(rec, parse_query({"k": 3, "exclude": "p1,p2"})) == ["p3", "p4", "p5"]
        assert _ids(rec, parse_query({"k": 3, "attr": ["brand=acme"]})) == ["p1", "p3", "p5"]
        assert _ids(rec, parse_query({"k": 2, "same_attr": "brand"})) == ["p2", "p4"]
        assert _ids(rec, parse_query({"k": 2, "category": "skirt"})) == ["p6", "p7"]


def test_shop_toml_defaults_per_surface(tmp_path: Path) -> None:
    with _shop(tmp_path) as rec:
        rec.workspace.shop_config_path.write_text(
            '[defaults]\nk = 3\n[widget]\ncategory = "same"\n[display]\ncurrency = "EUR"\n'
            'headline = "You may also like"\n[title_lookup]\nmin_confidence = 0.9\n',
            encoding="utf-8",
        )
        fresh = Recommender(rec.workspace)
        assert fresh.config.display.currency == "EUR"
        assert fresh.config.title_confidence == 0.9
        widget = similar_for_product(fresh, "p4", SimilarQuery(), "widget").results
        # widget: same category (dresses) and in stock by default (p3 hidden), k from [defaults]
        assert [r.product.id for r in widget][0] == "p5" and len(widget) == 3
        assert all(r.product.category == "dress" and r.product.in_stock for r in widget)
        api = similar_for_product(fresh, "p4", SimilarQuery(), "api").results
        assert {r.product.id for r in api[:2]} == {"p3", "p5"}  # (a float tie between them)
        # the query overrides the defaults
        shown = similar_for_product(fresh, "p4", parse_query({"in_stock": "false"}), "widget")
        assert "p3" in [r.product.id for r in shown.results]
        fresh.close()


@pytest.mark.parametrize(
    "text",
    ["[widget]\nin_stok = true\n", "[wigdet]\nk = 3\n", "[defaults]\nk = 0\n", "[display\n"],
)
def test_bad_shop_toml_is_a_one_line_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "shop.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_shop_config(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "values",
    [{"k": 0}, {"metric": "hamming"}, {"bogus": 1}, {"diversity": 2}, {"min_price": -1}],
)
def test_bad_query_is_a_config_error(values: dict) -> None:
    with pytest.raises(ConfigError):
        parse_query(values)


def test_bad_rules_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="factor"):
        parse_rules({"boosts": [{"attr": "brand", "value": "x", "factor": 0}]})
    with pytest.raises(ConfigError, match="fallback"):
        parse_rules({"fallback": "random"})
