"""The JSON API in-process (starlette's TestClient, an httpx client over ASGI): every endpoint,
its status codes and tenant isolation."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image
from starlette.testclient import TestClient

from lookalike.recommend.similar import Recommender
from tests.serve.conftest import K_STORED, Shops

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    # Not entered as a context manager: the session app must outlive this module.
    client = TestClient(app)
    yield client
    client.close()


def ids(response_json: dict) -> list[str]:
    return [item["id"] for item in response_json["results"]]


def test_healthz_lists_shops(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "shops": ["alpha", "beta"]}


@pytest.mark.parametrize("k", [1, 3, K_STORED])
def test_similar_reads_the_precomputed_table(client: TestClient, shops: Shops, k: int) -> None:
    response = client.get(f"/v1/shops/alpha/products/a-dress-1/similar?k={k}")
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "precomputed"
    assert body["metric"] == "cosine"
    assert body["query"]["id"] == "a-dress-1"
    with Recommender(shops.alpha) as rec:
        expected = rec.similar("a-dress-1", k)
    assert ids(body) == [r.product.id for r in expected]
    np.testing.assert_allclose(
        [item["score"] for item in body["results"]], [r.score for r in expected], atol=1e-6
    )
    first = body["results"][0]
    assert set(first) >= {"id", "title", "url", "image", "price", "score", "rank", "category"}
    assert first["image"].endswith(f"/v1/shops/alpha/products/{first['id']}/image")
    assert first["url"] == f"https://alpha.example/p/{first['id']}"


def test_similar_beyond_the_stored_k_searches_the_index(client: TestClient) -> None:
    body = client.get(f"/v1/shops/alpha/products/a-hat-2/similar?k={K_STORED + 4}").json()
    assert body["source"] == "index"
    assert len(body["results"]) == K_STORED + 4
    assert "a-hat-2" not in ids(body)
    stored = client.get(f"/v1/shops/alpha/products/a-hat-2/similar?k={K_STORED}").json()
    assert ids(body)[:K_STORED] == ids(stored)  # the same ranking, just longer


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("k=0", "greater than or equal"),
        ("k=101", "less than or equal"),
        ("k=abc", "integer"),
        ("metric=hamming", "unknown metric"),
        ("min_price=9&max_price=2", "above max_price"),
        ("min_price=-1", "greater than or equal"),
        ("in_stock=maybe", "boolean"),
    ],
)
def test_similar_rejects_bad_parameters(client: TestClient, query: str, needle: str) -> None:
    response = client.get(f"/v1/shops/alpha/products/a-dress-1/similar?{query}")
    assert response.status_code == 422
    assert needle in str(response.json()["detail"])


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan"])
def test_similar_under_each_metric(client: TestClient, shops: Shops, metric: str) -> None:
    body = client.get(f"/v1/shops/alpha/products/a-dress-1/similar?k=5&metric={metric}").json()
    assert body["metric"] == metric
    assert body["source"] == ("precomputed" if metric == "cosine" else "index")
    with Recommender(shops.alpha) as rec:
        expected = rec.similar("a-dress-1", 5, metric=metric)
    assert ids(body) == [r.product.id for r in expected]
    scores = [item["score"] for item in body["results"]]
    assert scores == sorted(scores, reverse=True)  # higher is closer under every metric


def test_similar_with_filters_searches_and_filters(client: TestClient, shops: Shops) -> None:
    by_id = {p.id: p for p in shops.products["alpha"]}
    path = "/v1/shops/alpha/products/a-dress-1/similar"
    same = client.get(f"{path}?k=4&category=same").json()
    assert same["source"] == "index"
    assert [by_id[i].category for i in ids(same)] == ["dress"] * 4  # all 4 other dresses
    listed = client.get(f"{path}?k=10&category=hat,pants").json()
    assert {by_id[i].category for i in ids(listed)} == {"hat", "pants"}
    stock = client.get(f"{path}?k=14&in_stock=true").json()
    assert len(ids(stock)) == 11 and all(by_id[i].in_stock for i in ids(stock))
    cheap = client.get(f"{path}?k=14&min_price=20&max_price=40").json()
    assert ids(cheap) and all(20 <= by_id[i].price <= 40 for i in ids(cheap))
    # Filtered lists follow the unfiltered ranking.
    everything = ids(client.get(f"{path}?k=14").json())
    assert ids(cheap) == [i for i in everything if 20 <= by_id[i].price <= 40]


def test_unknown_product_and_shop_are_404(client: TestClient) -> None:
    for path in (
        "/v1/shops/alpha/products/nope/similar",
        "/v1/shops/alpha/products/nope",
        "/v1/shops/alpha/products/nope/image",
        "/v1/shops/gamma/products/a-dress-1/similar",
        "/v1/shops/gamma/products",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/json"
        assert "unknown" in response.json()["detail"]


def test_tenants_are_isolated(client: TestClient, shops: Shops) -> None:
    alpha_ids = {p.id for p in shops.products["alpha"]}
    beta_ids = {p.id for p in shops.products["beta"]}
    for pid in sorted(alpha_ids):
        got = set(ids(client.get(f"/v1/shops/alpha/products/{pid}/similar?k=14").json()))
        assert got <= alpha_ids and len(got) == 14
    # Shop A's products are unknown to shop B, by id, title and URL.
    assert client.get("/v1/shops/beta/products/a-dress-1/similar").status_code == 404
    assert client.get("/v1/shops/beta/products/a-dress-1").status_code == 404
    assert client.get("/v1/shops/beta/products/a-dress-1/image").status_code == 404
    # An alpha title in beta finds beta's nearest title: still only beta's products.
    by_title = client.get("/v1/shops/beta/similar", params={"title": "Alpha dress number 1"})
    assert by_title.status_code == 200
    assert {by_title.json()["query"]["id"], *ids(by_title.json())} <= beta_ids
    assert client.get("/v1/shops/beta/products", params={"query": "a-"}).json()["items"] == []
    # A photo of a dress (alpha's) searched in beta gets beta's products only.
    photo = Path(shops.products["alpha"][0].images[0]).read_bytes()
    response = client.post("/v1/shops/beta/search?k=15", files={"image": ("d.jpg", photo)})
    assert response.status_code == 200
    assert set(ids(response.json())) == beta_ids


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Alpha hat number 3", "a-hat-3"),
        ("alpha  HAT number 3", "a-hat-3"),  # case and spaces do not matter
        ("Alpha hat number 3 | Alpha Shop", "a-hat-3"),  # a page title with the shop's name
        ("Alpha Shop – Alpha hat number 3", "a-hat-3"),
    ],
)
def test_similar_by_page_title(client: TestClient, title: str, expected: str) -> None:
    response = client.get("/v1/shops/alpha/similar", params={"title": title, "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["query"]["id"] == expected
    direct = client.get(f"/v1/shops/alpha/products/{expected}/similar?k=3").json()
    assert ids(body) == ids(direct)


def test_similar_by_a_title_that_matches_no_product_exactly(client: TestClient) -> None:
    """The nearest title embedding stands in for an exact match (MiniLM)."""
    body = client.get("/v1/shops/alpha/similar", params={"title": "alpha hats numbr 3"}).json()
    assert body["query"]["category"] == "hat"


def test_similar_by_page_url(client: TestClient) -> None:
    for url in ("https://alpha.example/p/a-pants-2", "https://alpha.example/p/a-pants-2/"):
        body = client.get("/v1/shops/alpha/similar", params={"url": url, "k": 2}).json()
        assert body["query"]["id"] == "a-pants-2"
        assert len(body["results"]) == 2


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"url": "https://alpha.example/p/none"}, 404),
        ({}, 422),
        ({"title": "Alpha hat number 3", "url": "https://alpha.example/p/a-hat-3"}, 422),
        ({"title": "   "}, 422),
    ],
)
def test_similar_by_page_errors(client: TestClient, params: dict, status: int) -> None:
    assert client.get("/v1/shops/alpha/similar", params=params).status_code == status


def test_product_and_its_image(client: TestClient, shops: Shops) -> None:
    body = client.get("/v1/shops/beta/products/b-shoes-2").json()
    assert body == {
        "id": "b-shoes-2",
        "title": "Beta shoes number 2",
        "url": "https://beta.example/p/b-shoes-2",
        "image": "http://testserver/v1/shops/beta/products/b-shoes-2/image",
        "price": 25.0,
        "category": "shoes",
        "in_stock": True,
        "attributes": {},
    }
    image = client.get("/v1/shops/beta/products/b-shoes-2/image")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert image.headers["x-content-type-options"] == "nosniff"
    source = next(p for p in shops.products["beta"] if p.id == "b-shoes-2").images[0]
    assert image.content == Path(source).read_bytes()


def test_products_are_paged_and_searchable(client: TestClient) -> None:
    first = client.get("/v1/shops/alpha/products?page_size=6").json()
    second = client.get("/v1/shops/alpha/products?page_size=6&page=2").json()
    last = client.get("/v1/shops/alpha/products?page_size=6&page=3").json()
    assert first["has_more"] and second["has_more"] and not last["has_more"]
    every = [p["id"] for page in (first, second, last) for p in page["items"]]
    assert len(every) == len(set(every)) == 15
    hats = client.get("/v1/shops/alpha/products?query=HAT").json()["items"]
    assert sorted(p["id"] for p in hats) == [f"a-hat-{i}" for i in range(1, 6)]
    assert client.get("/v1/shops/alpha/products?page=0").status_code == 422


def test_search_by_uploaded_image_finds_the_product_itself(
    client: TestClient, shops: Shops
) -> None:
    product = shops.products["alpha"][7]
    photo = Path(product.images[0]).read_bytes()
    response = client.post(
        "/v1/shops/alpha/search?k=4", files={"image": ("photo.jpg", photo, "image/jpeg")}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "image" and body["query"] is None
    assert body["results"][0]["id"] == product.id  # the same photo is its own nearest
    assert body["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert len(body["results"]) == 4


def png_bytes(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def test_search_by_image_with_metric_and_filter(client: TestClient, shops: Shops) -> None:
    photo = Path(shops.products["alpha"][0].images[0]).read_bytes()  # a dress
    response = client.post(
        "/v1/shops/alpha/search?k=5&category=hat&metric=manhattan",
        files={"image": ("photo.jpg", photo)},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["metric"] == "manhattan"
    assert sorted(ids(body)) == [f"a-hat-{i}" for i in range(1, 6)]


def test_search_accepts_png(client: TestClient) -> None:
    response = client.post("/v1/shops/beta/search", files={"image": ("x.png", png_bytes((90, 60)))})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 10


@pytest.mark.parametrize(
    ("files", "status", "reason"),
    [
        ({"image": ("a.jpg", b"this is not an image", "image/jpeg")}, 415, "not_an_image"),
        ({"image": ("a.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 100, "image/jpeg")}, 415, None),
        ({"image": ("a.jpg", b"", "image/jpeg")}, 415, "not_an_image"),
        ({"image": ("a.jpg", b"\xff" * (2 * 2**20 + 1), "image/jpeg")}, 413, "too_large"),
        ({"other": ("a.jpg", b"x", "image/jpeg")}, 422, None),
    ],
)
def test_search_rejects_bad_uploads(
    client: TestClient, files: dict, status: int, reason: str | None
) -> None:
    response = client.post("/v1/shops/alpha/search", files=files)
    assert response.status_code == status, response.text
    if reason:
        assert response.json()["reason"] == reason


def test_search_body_limit_is_enforced_while_streaming(client: TestClient) -> None:
    """No Content-Length (chunked upload): the server stops reading past the limit."""

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"\0" * 65536  # 4 MiB in all, twice the limit

    response = client.post(
        "/v1/shops/alpha/search",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 413
    assert response.json()["reason"] == "too_large"


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {"url": "ftp://example.org/a.jpg"}}, 422),
        ({"json": {"url": ""}}, 422),
        ({"json": {"nothing": 1}}, 422),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 422),
        ({"content": b"abc", "headers": {"content-type": "text/plain"}}, 422),
        # Loopback and private addresses are refused unless the setting allows them.
        ({"json": {"url": "http://127.0.0.1:9/a.jpg"}}, 422),
        ({"data": {"url": "http://10.0.0.1/a.jpg"}}, 422),
    ],
)
def test_search_by_url_rejects_bad_requests(client: TestClient, kwargs: dict, status: int) -> None:
    response = client.post("/v1/shops/alpha/search", **kwargs)
    assert response.status_code == status, response.text


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = set(schema["paths"])
    assert paths >= {
        "/v1/shops/{shop}/products/{product_id}/similar",
        "/v1/shops/{shop}/similar",
        "/v1/shops/{shop}/search",
        "/v1/shops/{shop}/products/{product_id}",
        "/v1/shops/{shop}/products",
        "/v1/shops/{shop}/products/{product_id}/image",
        "/v1/shops/{shop}/events",
        "/v1/shops/{shop}/reload",
        "/v1/shops/{shop}/stats",
        "/healthz",
        "/metrics",
    }
    search = schema["paths"]["/v1/shops/{shop}/search"]["post"]["requestBody"]["content"]
    assert set(search) == {"multipart/form-data", "application/json"}
    assert client.get("/docs").status_code == 200


def test_metrics_count_requests_by_route_and_report_index_size(client: TestClient) -> None:
    client.get("/v1/shops/beta/products/b-shoes-1/similar?k=2")
    client.get("/v1/shops/beta/products/nope/similar")
    text = client.get("/metrics").text
    route = 'route="/v1/shops/{shop}/products/{product_id}/similar"'
    lines = text.splitlines()
    count_200 = [
        ln
        for ln in lines
        if ln.startswith("lookalike_requests_total{" + route) and 'status="200"' in ln
    ]
    count_404 = [
        ln
        for ln in lines
        if ln.startswith("lookalike_requests_total{" + route) and 'status="404"' in ln
    ]
    assert count_200 and int(count_200[0].split()[-1]) >= 1
    assert count_404 and int(count_404[0].split()[-1]) >= 1
    assert 'lookalike_index_size{shop="alpha"} 15' in lines
    assert 'lookalike_index_size{shop="beta"} 15' in lines
    inf = [
        ln
        for ln in lines
        if ln.startswith("lookalike_request_duration_seconds_bucket{" + route) and 'le="+Inf"' in ln
    ]
    total = [
        ln for ln in lines if ln.startswith("lookalike_request_duration_seconds_count{" + route)
    ]
    assert inf[0].split()[-1] == total[0].split()[-1]
    # Raw paths never become labels: an unknown path is counted under one label.
    client.get("/no/such/path/12345")
    assert "/no/such/path" not in client.get("/metrics").text
