"""A damaged workspace gives one clear error naming the file and the fix, never a traceback,
and never a server that says healthy while answering 404 to everything."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from lookalike.errors import WorkspaceError
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.similar import Recommender
from lookalike.serve.app import create_app
from lookalike.serve.settings import ServeSettings
from lookalike.workspace import Workspace
from tests.pipeline.conftest import local_catalog
from tests.serve.conftest import ADMIN_KEY, LiveServer

OPTIONS = BuildOptions(model="histogram", k=3, titles=False, near_duplicate=None)


def delete(path: Path) -> None:
    path.unlink()


def empty(path: Path) -> None:
    path.write_bytes(b"")


def damage_page(path: Path) -> None:
    data = bytearray(path.read_bytes())
    assert len(data) >= 3 * 4096, len(data)
    data[4096 : 2 * 4096] = os.urandom(4096)  # page 2: a table's b-tree page
    path.write_bytes(bytes(data))


def empty_json(path: Path) -> None:
    path.write_text("{}")


CASES: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "deleted products db": ("products.sqlite", delete, "missing or empty"),
    "emptied products db": ("products.sqlite", empty, "missing or empty"),
    "damaged sqlite page": ("products.sqlite", damage_page, "products.sqlite"),
    "0-byte vectors": ("product_vectors.npy", empty, "product_vectors.npy"),
    "manifest {}": ("manifest.json", empty_json, "incomplete"),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corrupt")
    # enough products for a products table of several pages
    build_workspace(root / "pristine", local_catalog(root / "feed", 60), OPTIONS)
    return root


def broken(built: Path, case: str, tmp_path: Path) -> Workspace:
    import shutil

    name, breaker, _ = CASES[case]
    ws = Workspace(tmp_path / "shop")
    shutil.copytree(built / "pristine", ws.root)
    breaker(ws.served_dir / name)
    return ws


@pytest.mark.parametrize("case", list(CASES))
def test_a_reader_names_the_file_and_the_fix(built: Path, tmp_path: Path, case: str) -> None:
    ws = broken(built, case, tmp_path)
    with pytest.raises(WorkspaceError) as raised:
        Recommender(ws)
    message = str(raised.value)
    assert CASES[case][2] in message and "lookalike build" in message
    # the service refuses to start rather than answer 404s
    with pytest.raises(WorkspaceError):
        create_app([ws.root], settings=ServeSettings(events_db=tmp_path / "ev.sqlite"))


@pytest.mark.parametrize("case", ["damaged sqlite page", "manifest {}"])
def test_the_cli_prints_one_line(built: Path, tmp_path: Path, case: str) -> None:
    ws = broken(built, case, tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "lookalike", "similar", str(ws.root), "p1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and done.stderr.startswith("error:")
    assert "lookalike build" in done.stderr


def test_a_current_naming_a_missing_generation(built: Path, tmp_path: Path) -> None:
    ws = broken(built, "manifest {}", tmp_path)
    ws.current_path.write_text("20000101T000000-gone00\n")
    with pytest.raises(WorkspaceError, match="is missing: run `lookalike build"):
        Recommender(ws)


def test_a_reload_onto_a_broken_generation_keeps_the_old_one(built: Path, tmp_path: Path) -> None:
    import shutil

    ws = Workspace(tmp_path / "shop")
    shutil.copytree(built / "pristine", ws.root)
    settings = ServeSettings(events_db=tmp_path / "ev.sqlite", admin_key=ADMIN_KEY)
    app = create_app([ws.root], settings=settings)
    try:
        with LiveServer(app) as live, httpx.Client(base_url=live.url) as client:
            before = client.get("/v1/shops/shop/products/p1/similar?k=3").json()["results"]
            empty(ws.served_dir / "product_vectors.npy")
            reload = client.post("/v1/shops/shop/reload", headers={"X-API-Key": ADMIN_KEY})
            assert reload.status_code >= 500 and "product_vectors.npy" in reload.text
            after = client.get("/v1/shops/shop/products/p1/similar?k=3")
            assert after.status_code == 200 and after.json()["results"] == before
    finally:
        app.state.lookalike.close()
