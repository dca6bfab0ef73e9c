"""What each variant serves through ShopExperiments, on a real (small) built shop."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lookalike.ab.events import Event, EventLog
from lookalike.ab.experiments import HOLDOUT, Variant
from lookalike.ab.variants import ShopExperiments
from lookalike.errors import NotFoundError
from lookalike.recommend.attributes import AttributeRecommender
from lookalike.recommend.filters import Weights
from lookalike.recommend.similar import Recommender
from tests.serve.abshop import build_ab_shop

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36"


@pytest.fixture(scope="module")
def shop_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_ab_shop(tmp_path_factory.mktemp("abshop")).root


@pytest.fixture()
def rec(shop_root: Path, tmp_path: Path):
    # Each test gets its own copy: its own experiments file and event log.
    root = Path(shutil.copytree(shop_root, tmp_path / "shop"))
    with Recommender(root) as rec:
        yield rec


@pytest.fixture()
def runtime(rec: Recommender, tmp_path: Path):
    with EventLog(tmp_path / "events.sqlite") as log:
        yield ShopExperiments(rec.workspace.root, "shop", log)


def _visitor_in(runtime: ShopExperiments, variant: str) -> str:
    for i in range(10_000):
        assignment = runtime.assign(f"visitor-{i}")
        if assignment is not None and assignment.variant == variant:
            return f"visitor-{i}"
    raise AssertionError(f"no visitor lands in {variant}")


def test_without_experiment_image_similarity_unattributed(
    runtime: ShopExperiments, rec: Recommender
) -> None:
    served = runtime.similar(rec, "shoes-0", "visitor-1", 5)
    expected = rec.similar("shoes-0", 5)
    assert served.recommendations == expected
    assert (served.experiment, served.variant) == ("", "")


def test_each_variant_serves_its_recommender(runtime: ShopExperiments, rec: Recommender) -> None:
    mix = {"image": 0.5, "title": 0.25, "attrs": 0.25}
    runtime.store.start(
        "exp",
        (
            Variant("image", 1),
            Variant("attributes", 1),
            Variant("popular", 1),
            Variant("mix", 1, "hybrid", mix),
        ),
        holdout=0.2,
    )
    attributes = AttributeRecommender(rec.store)
    hybrid = rec.similar("shoes-0", 4, weights=Weights(**mix))
    assert hybrid != rec.similar("shoes-0", 4)
    for variant, expected in (
        ("image", rec.similar("shoes-0", 4)),
        ("attributes", attributes.similar("shoes-0", 4)),
        ("mix", hybrid),
        ("popular", None),
    ):
        visitor = _visitor_in(runtime, variant)
        served = runtime.similar(rec, "shoes-0", visitor, 4)
        assert (served.experiment, served.variant) == ("exp", variant)
        assert len(served.recommendations) == 4
        if expected is not None:
            assert served.recommendations == expected
        # the same visitor sees the same list again
        assert runtime.similar(rec, "shoes-0", visitor, 4) == served
    holdout = runtime.similar(rec, "shoes-0", _visitor_in(runtime, HOLDOUT), 4)
    assert (holdout.recommendations, holdout.experiment, holdout.variant) == ([], "exp", HOLDOUT)
    with pytest.raises(NotFoundError):
        runtime.similar(rec, "no-such-product", _visitor_in(runtime, HOLDOUT), 4)
    with pytest.raises(NotFoundError):
        runtime.similar(rec, "no-such-product", _visitor_in(runtime, "attributes"), 4)


def test_paused_serves_control_unattributed(runtime: ShopExperiments, rec: Recommender) -> None:
    runtime.store.start("exp", (Variant("attributes", 1), Variant("image", 1)))
    visitor = _visitor_in(runtime, "image")
    assert runtime.attribute("exp", "image", visitor) == ("exp", "image")
    assert runtime.attribute("exp", "attributes", visitor) == ("", "")  # not what it was shown
    assert runtime.attribute("", "", visitor) == ("", "")
    runtime.store.set_status("exp", "paused")
    served = runtime.similar(rec, "hats-2", visitor, 3)
    assert (served.experiment, served.variant) == ("", "")
    assert served.recommendations == runtime.variants.attributes(rec).similar("hats-2", 3)
    assert runtime.attribute("exp", "image", visitor) == ("", "")  # nothing while paused
    runtime.store.set_status("exp", "stopped")
    assert runtime.similar(rec, "hats-2", visitor, 3).recommendations == rec.similar("hats-2", 3)


def test_popular_ranks_by_clicks_in_category_then_attributes(
    runtime: ShopExperiments, rec: Recommender
) -> None:
    variants = runtime.variants
    # No clicks yet: the attribute list, scores 0.
    no_clicks = variants.popular(rec, "shoes-0", 5)
    assert [r.product.id for r in no_clicks] == [
        r.product.id for r in variants.attributes(rec).similar("shoes-0", 5)
    ]
    assert all(r.score == 0.0 for r in no_clicks)
    clicks = {"shoes-4": 3, "shoes-2": 1, "bags-1": 9, "shoes-0": 7}  # bags: other category
    for target, n in clicks.items():
        for i in range(n):
            variants.events.record(
                Event("click", "shop", visitor=f"v{i}", target_id=target, user_agent=BROWSER)
            )
    variants.events.record(
        Event("click", "other-shop", visitor="x", target_id="shoes-5", user_agent=BROWSER)
    )
    assert variants.popular(rec, "shoes-0", 4) == no_clicks[:4]  # cached for a minute
    variants.clear_cache()
    ranked = variants.popular(rec, "shoes-0", 4)
    assert [r.product.id for r in ranked][:2] == ["shoes-4", "shoes-2"]
    assert [r.score for r in ranked][:2] == [0.75, 0.25]
    assert "shoes-0" not in {r.product.id for r in ranked}
    assert all(r.product.category == "shoes" for r in ranked)
    assert variants.popular(rec, "shoes-0", 4, days=0.0)[0].score == 0.0  # window excludes all
