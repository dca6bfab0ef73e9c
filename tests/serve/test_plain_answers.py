"""Plain similar answers come from the JSON the build stored, byte for byte the live answer;
a rules change or a catalog sync shows at once (the live path answers)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from lookalike.catalog.models import Product
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.plain import plain_template
from lookalike.serve.app import create_app
from lookalike.serve.fastpath import render
from lookalike.workspace import Workspace
from tests.serve.conftest import ADMIN_KEY, make_settings

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

K = 5
ADMIN = {"X-API-Key": ADMIN_KEY}
TITLES = ["Dress \u00e9t\u00e9", "Платье", 'A "quoted" one', "emoji \U0001f457"]
# ids and fields that JSON and URLs must escape: slashes, %, quotes, non-ASCII, control chars
IDS = ["plain-1", "shoes/red.jpg", "50% off", 'say "hi"', "платье-4", "tab\tid", "x-6", "x-7"]


def _products(clothing: Path) -> list[Product]:
    photos = sorted((clothing / "test" / "dress").glob("*.jpg"))[: len(IDS)]
    out = []
    for i, (pid, photo) in enumerate(zip(IDS, photos, strict=True)):
        out.append(
            Product(
                id=pid,
                title=TITLES[i % 4],
                images=[str(photo)],
                category="dress",
                price=[None, 10, 12.5, 1e-7][i % 4],  # int, float, tiny float, none
                url="" if i % 2 else f"https://shop.example/p/{i}",
                in_stock=i != 2,
                attrs={"brand": "zeta", "sizes": ["S", "M"], "n": i, "x": None} if i % 3 else {},
            )
        )
    return out


@pytest.fixture(scope="module")
def shop(clothing_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("plain") / "plainshop"
    build_workspace(root, _products(clothing_dir), BuildOptions(progress=False, k=K))
    yield root


@pytest.fixture(scope="module")
def live_shop(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same build, without its stored answers: every answer is made live."""
    copy = tmp_path_factory.mktemp("live") / shop.name
    shutil.copytree(shop, copy)
    files = Workspace(copy).answer_files
    for path in (files.blob, files.offsets, files.meta):
        path.unlink()
    return copy


def _client(root: Path, tmp: Path) -> TestClient:
    app: FastAPI = create_app([root], settings=make_settings(tmp))
    return TestClient(app)


def _url(pid: str, k: int | None) -> str:
    query = "" if k is None else f"?k={k}"
    return f"/v1/shops/plainshop/products/{quote(pid, safe='')}/similar{query}"


def test_stored_bytes_equal_the_live_answer(shop: Path, live_shop: Path, tmp_path: Path) -> None:
    from lookalike.recommend.similar import Recommender

    prefix = (b'"plainshop"', b"http://testserver/v1/shops/plainshop/products/", b"/image")
    with _client(shop, tmp_path / "a") as fast, _client(live_shop, tmp_path / "b") as live:
        rec = Recommender(shop)
        for pid in IDS:
            for k in (1, 3, K, None):
                got, want = fast.get(_url(pid, k)), live.get(_url(pid, k))
                assert got.status_code == want.status_code == 200
                assert got.headers["content-type"] == want.headers["content-type"]
                assert got.content == want.content, (pid, k)
                stored = plain_template(rec, pid, k)  # what was sent: the stored bytes
                if k is not None:  # unset: 10, beyond the stored depth here (live)
                    assert stored is not None and render(stored, *prefix) == got.content
            other = {"host": "shop.example:8443"}
            assert (
                fast.get(_url(pid, 3), headers=other).content
                == live.get(_url(pid, 3), headers=other).content
            )
        # beyond the stored depth, filtered or unknown: answered by the routes, as before
        for path in (_url(IDS[0], K + 1), _url(IDS[0], 3) + "&category=same"):
            assert fast.get(path).json() == live.get(path).json()
        assert fast.get(_url("nope", 3)).status_code == 404
        assert fast.get(_url(IDS[0], 0)).status_code == 422
        metrics = fast.get("/metrics").text
        assert 'route="/v1/shops/{shop}/products/{product_id}/similar"' in metrics
        rec.close()


def test_stored_answers_are_used_only_while_they_are_the_answer(shop: Path) -> None:
    from lookalike.recommend.rules import Rules
    from lookalike.recommend.similar import Recommender

    with Recommender(shop) as rec:
        assert plain_template(rec, IDS[0], 3) is not None
        assert plain_template(rec, IDS[0], K + 1) is None  # beyond the stored depth
        rec.set_rules(Rules.model_validate({"exclude": [IDS[1]]}))
        assert plain_template(rec, IDS[0], 3) is None
        rec.set_rules(Rules())
        assert plain_template(rec, IDS[0], 3) is not None
    # weights tuned by `train --method weights` rank with titles too: not the table's answer
    from lookalike.recommend.filters import Weights
    from lookalike.recommend.tuned import WEIGHTS_FILE, save_tuned_weights

    folder = Workspace(shop).weights_dir
    folder.mkdir(parents=True, exist_ok=True)
    save_tuned_weights(folder, Weights.parse({"image": 0.7, "title": 0.3}), {})
    try:
        with Recommender(shop) as rec:
            assert not rec.weights.image_only
            assert plain_template(rec, IDS[0], 3) is None
    finally:
        (folder / WEIGHTS_FILE).unlink()


def test_rules_and_sync_show_at_once(shop: Path, tmp_path: Path) -> None:
    with _client(shop, tmp_path) as client:
        before = client.get(_url(IDS[0], 3)).json()
        first = before["results"][0]["id"]
        rules = {"exclude": [first]}
        assert client.put("/v1/shops/plainshop/rules", json=rules, headers=ADMIN).is_success
        try:
            after = client.get(_url(IDS[0], 3)).json()
            assert first not in [r["id"] for r in after["results"]]
        finally:
            assert client.put("/v1/shops/plainshop/rules", json={}, headers=ADMIN).is_success
        assert client.get(_url(IDS[0], 3)).json() == before
        renamed = json.dumps({"title": "Renamed by sync", "category": "dress"})
        photo = client.get(f"/v1/shops/plainshop/products/{quote(first, safe='')}/image").content
        put = client.put(
            f"/v1/shops/plainshop/products/{quote(first, safe='')}",
            files={"product": (None, renamed), "image": ("p.jpg", photo, "image/jpeg")},
            headers=ADMIN,
        )
        assert put.is_success, put.text
        titles = [r["title"] for r in client.get(_url(IDS[0], 3)).json()["results"]]
        assert "Renamed by sync" in titles
