"""Plain similar requests are answered from bytes built once; the answer does not change."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from lookalike.recommend.similar import Recommender
from lookalike.serve.jsoncache import ResponseCache
from tests.serve.conftest import Shops

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

PATH = "/v1/shops/alpha/products/a-dress-1/similar"


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    client = TestClient(app)
    yield client
    client.close()


def test_cached_answer_is_the_recommenders_answer(client: TestClient, shops: Shops) -> None:
    first = client.get(f"{PATH}?k=5")
    again = client.get(f"{PATH}?k=5")
    assert first.status_code == again.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.content == again.content
    body = first.json()
    assert body["source"] == "precomputed" and body["query"]["id"] == "a-dress-1"
    with Recommender(shops.alpha) as rec:
        expected = rec.similar("a-dress-1", 5)
    assert [r["id"] for r in body["results"]] == [r.product.id for r in expected]
    assert [r["score"] for r in body["results"]] == [round(r.score, 6) for r in expected]
    assert body["results"][0]["image"].startswith("http://testserver/")
    # k and the host are part of the key
    assert len(client.get(f"{PATH}?k=3").json()["results"]) == 3
    other = client.get(f"{PATH}?k=5", headers={"host": "shop.example"}).json()
    assert other["results"][0]["image"].startswith("http://shop.example/")
    # a filtered request is still searched, not served from the cache
    assert client.get(f"{PATH}?k=5&category=same").json()["source"] == "index"


def test_cache_is_bounded_and_keeps_no_failure() -> None:
    class Owner:  # any weak-referenceable recommender stand-in
        pass

    cache, rec = ResponseCache(limit=2), Owner()
    assert cache.get_or_build(rec, ("a", 1, ""), lambda: b"A") == b"A"
    assert cache.get_or_build(rec, ("a", 1, ""), lambda: b"changed") == b"A"
    cache.get_or_build(rec, ("b", 1, ""), lambda: b"B")
    cache.get_or_build(rec, ("c", 1, ""), lambda: b"C")  # full: cleared first
    assert cache.size(rec) == 1

    def fail() -> bytes:
        raise KeyError("unknown product")

    with pytest.raises(KeyError):
        cache.get_or_build(rec, ("x", 1, ""), fail)
    assert cache.size(rec) == 1
    assert cache.size(Owner()) == 0  # per recommender
