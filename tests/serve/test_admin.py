"""Admin endpoints (API keys per shop), CORS per shop and the settings parser."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.testclient import TestClient

from lookalike.serve.deps import get_settings
from lookalike.serve.settings import ServeSettings, load_settings
from lookalike.workspace import Workspace
from tests.serve.conftest import ADMIN_KEY, ALPHA_ORIGIN, KEYS, Shops


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    client = TestClient(app)
    yield client
    client.close()


@pytest.mark.parametrize(
    ("shop", "key", "status"),
    [
        ("alpha", None, 401),
        ("alpha", "", 401),
        ("alpha", "wrong", 403),
        ("alpha", KEYS["beta"], 403),  # shop B's key cannot touch shop A
        ("beta", KEYS["alpha"], 403),
        ("alpha", KEYS["alpha"], 200),
        ("beta", KEYS["beta"], 200),
        ("alpha", ADMIN_KEY, 200),
        ("beta", ADMIN_KEY, 200),
        ("gamma", ADMIN_KEY, 404),
        ("gamma", KEYS["alpha"], 403),
    ],
)
@pytest.mark.parametrize("method", ["POST reload", "GET stats"])
def test_admin_keys(
    client: TestClient, shop: str, key: str | None, status: int, method: str
) -> None:
    verb, name = method.split()
    headers = {} if key is None else {"X-API-Key": key}
    response = client.request(verb, f"/v1/shops/{shop}/{name}", headers=headers)
    assert response.status_code == status, response.text
    if status == 401:
        assert response.json()["detail"] == "missing X-API-Key header"


def test_reload_swaps_in_a_fresh_recommender(client: TestClient, app: FastAPI) -> None:
    registry = app.state.lookalike.registry
    before = registry.info("beta").reloads
    with registry.borrow("beta") as old:
        response = client.post("/v1/shops/beta/reload", headers={"X-API-Key": KEYS["beta"]})
        assert response.status_code == 200
        # The request holding the old recommender can still use it after the swap.
        assert len(old.similar("b-shoes-1", 3)) == 3
        with registry.borrow("beta") as new:
            assert new is not old
    assert response.json()["reloads"] == before + 1
    assert response.json()["vectors"] == 15
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):  # its last borrower left
        old.store.count()


def test_stats(client: TestClient) -> None:
    body = client.get("/v1/shops/alpha/stats", headers={"X-API-Key": KEYS["alpha"]}).json()
    assert body["shop"] == "alpha"
    assert body["products"] == body["vectors"] == 15
    assert body["model"] == "lite0"
    assert body["k"] == 6
    assert body["catalog"]["categories"] == 3


def test_settings_dependency_can_be_overridden(app: FastAPI, client: TestClient) -> None:
    app.dependency_overrides[get_settings] = lambda: ServeSettings(admin_key="other")
    try:
        headers = {"X-API-Key": "other"}
        assert client.get("/v1/shops/alpha/stats", headers=headers).status_code == 200
        headers = {"X-API-Key": ADMIN_KEY}
        assert client.get("/v1/shops/alpha/stats", headers=headers).status_code == 403
    finally:
        app.dependency_overrides.clear()


def test_cors_only_for_the_shops_configured_origins(client: TestClient) -> None:
    path = "/v1/shops/alpha/products/a-dress-1/similar"
    allowed = client.get(path, headers={"Origin": ALPHA_ORIGIN})
    assert allowed.headers["access-control-allow-origin"] == ALPHA_ORIGIN
    assert "Origin" in allowed.headers["vary"]
    other = client.get(path, headers={"Origin": "http://evil.test"})
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
    # Alpha's origin is not one of beta's.
    beta = client.get("/v1/shops/beta/products/b-shoes-1", headers={"Origin": ALPHA_ORIGIN})
    assert "access-control-allow-origin" not in beta.headers
    preflight = {"Origin": ALPHA_ORIGIN, "Access-Control-Request-Method": "POST"}
    ok = client.options("/v1/shops/alpha/search", headers=preflight)
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == ALPHA_ORIGIN
    assert "POST" in ok.headers["access-control-allow-methods"]
    refused = client.options("/v1/shops/beta/search", headers=preflight)
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers


def test_settings_parse_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOKALIKE_API_KEYS", "demo=secret1, other=secret2")
    monkeypatch.setenv("LOOKALIKE_ADMIN_KEY", "root")
    monkeypatch.setenv(
        "LOOKALIKE_CORS_ORIGINS", "demo=https://a.test|https://b.test/,*=http://dev.test"
    )
    monkeypatch.setenv("LOOKALIKE_MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("LOOKALIKE_ALLOW_PRIVATE", "true")
    settings = ServeSettings()
    assert settings.api_keys == {"demo": "secret1", "other": "secret2"}
    assert settings.admin_key == "root"
    assert settings.origins_for("demo") == ["https://a.test", "https://b.test", "http://dev.test"]
    assert settings.origins_for("other") == ["http://dev.test"]
    assert settings.max_upload_bytes == 1234
    assert settings.allow_private is True
    load_settings.cache_clear()
    try:
        assert load_settings() is load_settings()  # read once
    finally:
        load_settings.cache_clear()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOOKALIKE_API_KEYS", "demo"),
        ("LOOKALIKE_API_KEYS", "=x"),
        ("LOOKALIKE_MAX_UPLOAD_BYTES", "0"),
    ],
)
def test_settings_reject_bad_values(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        ServeSettings()


def test_a_failed_reload_keeps_serving_the_old_index(shops: Shops, tmp_path: Path) -> None:
    import shutil

    from lookalike.serve.app import create_app
    from tests.serve.conftest import make_settings

    workspace = tmp_path / "delta"
    shutil.copytree(shops.alpha, workspace)
    app = create_app([workspace], settings=make_settings(tmp_path))
    try:
        with TestClient(app) as client:
            Workspace(workspace).manifest_path.unlink()  # a generation without its manifest
            response = client.post("/v1/shops/delta/reload", headers={"X-API-Key": ADMIN_KEY})
            assert response.status_code == 503
            assert "has not been built" in response.json()["detail"]
            again = client.get("/v1/shops/delta/products/a-hat-1/similar?k=3")
            assert again.status_code == 200 and len(again.json()["results"]) == 3
    finally:
        app.state.lookalike.close()
