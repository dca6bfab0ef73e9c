"""``--engine ray`` on a real local Ray cluster: the same vectors as the local engine on the same
catalog of real photos, per-image errors as data, fetching through Ray tasks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.topk import Neighbors
from lookalike.workspace import Workspace

pytestmark = pytest.mark.slow

QUIET = BuildOptions(progress=False, k=5, titles=False)


@pytest.fixture(scope="module")
def catalog(photo_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 40 real photos plus one file that is not an image."""
    root = tmp_path_factory.mktemp("raycat")
    shutil.copytree(photo_folder, root, dirs_exist_ok=True)
    (root / "hat" / "broken.jpg").write_bytes(b"this is not a jpeg")
    return root


def built(root: Path, catalog: Path, **options: Any) -> tuple[Workspace, dict[str, Any]]:
    ws = Workspace(root / "shop")
    report = build_workspace(
        ws, catalog, BuildOptions(progress=False, k=5, titles=False, **options)
    )
    return ws, report.to_dict()


def test_ray_engine_embeds_like_the_local_engine(
    ray_cluster: Any, catalog: Path, tmp_path: Path
) -> None:
    local_ws, local = built(tmp_path / "local", catalog)
    ray_ws, remote = built(tmp_path / "ray", catalog, engine="ray")
    assert (
        remote["images"]
        == local["images"]
        == {"total": 41, "ok": 40, "failed": 1, "embedded": 40, "cached": 0}
    )
    # the broken file is a failure with its reason, as data, in both engines
    assert (
        [(f["reason"], f["products"]) for f in remote["failures"]]
        == [(f["reason"], f["products"]) for f in local["failures"]]
        == [("not_an_image", ["broken"])]
    )
    a = local_ws.product_vectors.load()
    b = ray_ws.product_vectors.load()
    assert sorted(a.ids) == sorted(b.ids) and len(a) == 40
    cosines = np.einsum("ij,ij->i", a.vectors, b.take(a.ids).vectors)
    assert cosines.min() > 0.9999
    assert ray_ws.manifest()["engine"] == "ray"
    # the Ray shards are read back by id, then removed
    assert not any(ray_ws.ray_shards_dir.glob("*/*.parquet"))
    # the top-K tables agree as well (same vectors, same exact top-K step)
    table_a = Neighbors.load(local_ws.neighbors_dir, a.ids)
    table_b = Neighbors.load(ray_ws.neighbors_dir, b.ids)
    same = 0
    for pid in a.ids:
        same += [n for n, _ in table_a.lookup(pid)] == [n for n, _ in table_b.lookup(pid)]
    assert same >= len(a.ids) - 2  # only a near-tie (scores ~1e-7 apart) may swap


def test_ray_engine_fetches_urls_through_ray_tasks(
    ray_cluster: Any, photo_folder: Path, tmp_path: Path
) -> None:
    from tests.serve.conftest import StaticServer

    photos = sorted(photo_folder.rglob("*.jpg"))[:6]
    routes = {f"/img/{p.stem}.jpg": (200, "image/jpeg", p.read_bytes()) for p in photos}
    routes["/img/gone.jpg"] = (404, "text/plain", b"no")
    with StaticServer(routes) as server:
        lines = ["id,image,category"] + [
            f"{p.stem},{server.url}/img/{p.stem}.jpg,{p.parent.name}" for p in photos
        ]
        lines.append(f"gone,{server.url}/img/gone.jpg,hat")
        feed = tmp_path / "feed.csv"
        feed.write_text("\n".join(lines) + "\n")
        ws, report = built(tmp_path / "urls", feed, engine="ray", allow_private=True)
    assert report["downloads"]["fetched"] == 6 and report["downloads"]["failed"] == 1
    assert [(f["reason"], f["http_status"]) for f in report["failures"]] == [("http_404", 404)]
    local_ws, _ = built(tmp_path / "local-urls", photo_folder)
    a = ws.product_vectors.load()
    b = local_ws.product_vectors.load()
    by_stem = {pid.rsplit("/", 1)[-1]: pid for pid in b.ids}
    for pid in a.ids:
        assert float(a.get(pid) @ b.get(by_stem[pid])) > 0.9999


def test_ray_settings_are_checked_before_anything_runs(tmp_path: Path) -> None:
    from lookalike.errors import ConfigError

    with pytest.raises(ConfigError, match="--ray-address needs --engine ray"):
        BuildOptions(ray_address="ray://head:10001")
    with pytest.raises(ConfigError, match="engine must be"):
        BuildOptions(engine="spark")
