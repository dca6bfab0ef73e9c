"""kill -9 a real ``lookalike build`` at every named point: the shop never goes down.

The build runs as a subprocess with ``LOOKALIKE_CRASH_AT`` naming a point (``lookalike.
crashpoints``). After each kill, ``similar`` must answer exactly as the previous generation
(or as the new one, when the kill came after the commit point), a rerun must equal a clean
build, and no temp file or unpublished generation may survive the rerun.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lookalike.crashpoints import CRASH_AT, CRASH_LOG
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.similar import Recommender
from lookalike.recommend.topk import Neighbors
from lookalike.workspace import Workspace
from tests.pipeline.conftest import colour_jpeg, write_csv

pytestmark = pytest.mark.slow

OPTIONS = BuildOptions(model="histogram", k=4, near_duplicate=None)
CLI = ["-m", "lookalike", "build"]
# from this point on (in build order) the new generation is the published one
COMMIT_POINT = "publish.current:1"


def catalog(folder: Path, ids: list[int]) -> Path:
    """Products p<i> with their own photo; titles repeat so no new title needs the model."""
    (folder / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in ids:
        (folder / "img" / f"p{i}.jpg").write_bytes(colour_jpeg(i))
        rows.append({"id": f"p{i}", "title": f"Colour {i % 4}", "image": f"img/p{i}.jpg"})
    return write_csv(folder / "catalog.csv", rows)


def answers(ws: Workspace) -> dict[str, list[tuple[str, float]]]:
    with Recommender(ws) as rec:
        return {
            pid: [(r.product.id, round(r.score, 5)) for r in rec.similar(pid, 4)]
            for pid in rec.vectors.ids
        }


def run_build(ws: Path, feed: Path, **env: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, *CLI, str(ws), "--catalog", str(feed), "--model", "histogram"]
    args += ["-k", "4", "-q"]
    return subprocess.run(
        args, env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )


def leftovers(ws: Workspace) -> list[str]:
    found = [str(p.relative_to(ws.root)) for p in ws.root.glob("**/.*.tmp")]
    published = {ws.current_id(), ws.manifest().get("previous")}
    found += [p.name for p in ws.generations_dir.iterdir() if p.name not in published]
    return found


@pytest.fixture(scope="module")
def shops(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("crash")
    v1 = catalog(root / "v1", list(range(10)))
    v2 = catalog(root / "v2", [*range(2, 10), 20, 21])  # 2 gone, 2 new (new photos)
    build_workspace(root / "pristine", v1, OPTIONS)
    build_workspace(root / "clean", v2, OPTIONS)
    return {"root": root, "v1": v1, "v2": v2}


def kill_points(shops: dict[str, Path]) -> list[str]:
    """Every named point a v2 rebuild passes, and every third atomic file replacement (by
    its hit number) between them."""
    ws = shops["root"] / "probe"
    shutil.copytree(shops["root"] / "pristine", ws)
    log = shops["root"] / "points.log"
    done = run_build(ws, shops["v2"], **{CRASH_LOG: str(log)})
    assert done.returncode == 0, done.stderr
    points: list[str] = []
    seen: dict[str, int] = {}
    for name in log.read_text().split():
        seen[name] = seen.get(name, 0) + 1
        if name != "atomic.before_rename" or seen[name] % 3 == 1:
            points.append(f"{name}:{seen[name]}")
    return points


def test_kill_at_every_point(shops: dict[str, Path]) -> None:
    points = kill_points(shops)
    stages = {p.split(".")[0] for p in points}
    assert {"catalog", "images", "embed", "vectors", "index", "table", "titles"} <= stages
    assert {"snapshot", "publish", "atomic"} <= stages
    assert len(points) >= 20, points
    before = answers(Workspace(shops["root"] / "pristine"))
    clean_ws = Workspace(shops["root"] / "clean")
    after = answers(clean_ws)
    assert before != after
    committed = False
    table: list[tuple[str, str]] = []
    for point in points:
        committed = committed or point == COMMIT_POINT
        ws = Workspace(shops["root"] / f"ws-{point.replace(':', '-')}")
        shutil.copytree(shops["root"] / "pristine", ws.root)
        killed = run_build(ws.root, shops["v2"], **{CRASH_AT: point})
        assert killed.returncode == -9, (point, killed.returncode, killed.stderr[-2000:])
        served = answers(ws)
        assert served == (after if committed else before), point
        table.append((point, "new" if committed else "previous"))
        # the rerun equals a clean build and leaves nothing behind
        build_workspace(ws, shops["v2"], OPTIONS)
        assert answers(ws) == after, point
        got, want = ws.product_vectors.load(), clean_ws.product_vectors.load()
        assert got.ids == want.ids
        np.testing.assert_array_equal(np.asarray(got.vectors), np.asarray(want.vectors))
        np.testing.assert_array_equal(
            Neighbors.load(ws.neighbors_dir, got.ids).rows,
            Neighbors.load(clean_ws.neighbors_dir, want.ids).rows,
        )
        assert leftovers(ws) == [], point
        shutil.rmtree(ws.root)
    print("\nkill point -> served after the kill")
    for point, served_by in table:
        print(f"{point:32s} {served_by}")
