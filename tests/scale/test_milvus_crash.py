"""kill -9 a real ``lookalike build --store milvus-lite:PATH`` at every point of its Milvus and
publish steps: the service only ever reads a complete collection, the one ``CURRENT``'s
generation names, and the next build repairs the alias and drops what the killed one left.

The build runs as a subprocess with ``LOOKALIKE_CRASH_AT`` naming a point (``lookalike.
crashpoints``). After each kill, ``similar`` (served from milvus-lite) must answer exactly as the
previous generation, or the new one once the kill came after the commit point (``CURRENT``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lookalike.crashpoints import CRASH_AT, CRASH_LOG
from lookalike.recommend.milvus import SHOP_PROPERTY, StoreSpec, connect
from lookalike.recommend.similar import Recommender
from lookalike.workspace import Workspace
from tests.pipeline.test_crash import catalog

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::ResourceWarning")]

COMMIT_POINT = "publish.current:1"  # from here on the new generation is the served one
SHOP = "shop"


def run_build(ws: Path, feed: Path, db: Path, **env: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "lookalike", "build", str(ws), "--catalog", str(feed)]
    args += ["--model", "histogram", "-k", "4", "-q", "--store", f"milvus-lite:{db}"]
    return subprocess.run(
        args, env={**os.environ, **env}, capture_output=True, text=True, timeout=180
    )


def release(db: Path) -> None:
    """Stop this process's milvus-lite server of ``db``: it holds the database (a lock) until
    the process exits, and the next build runs in another process."""
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(str(db))


def answers(ws: Workspace) -> dict[str, list[tuple[str, float]]]:
    with Recommender(ws) as rec:
        assert rec.milvus is not None, "served from Milvus"
        found = {
            pid: [(r.product.id, round(r.score, 4)) for r in rec.similar(pid, 4)]
            for pid in rec.neighbors.ids
        }
    release(Path(served_record(ws)["uri"]))
    return found


def milvus_state(db: Path) -> tuple[str | None, dict[str, int]]:
    """The alias target and ``{collection: rows}`` of the shop's collections."""
    client = connect(StoreSpec("milvus-lite", str(db)))
    try:
        try:
            alias = str(client.describe_alias(f"lookalike_{SHOP}")["collection_name"])
        except Exception:  # no alias yet
            alias = None
        rows = {}
        for name in client.list_collections():
            props = client.describe_collection(name).get("properties") or {}
            if props.get(SHOP_PROPERTY) == SHOP:
                rows[name] = int(client.get_collection_stats(name)["row_count"])
        return alias, rows
    finally:
        client.close()
        release(db)


def served_record(ws: Workspace) -> dict:
    return Workspace(ws.root).manifest()["store"]


def check_consistent(ws: Workspace, db: Path, *, repaired: bool) -> None:
    """The served generation's collection is complete; after a clean build the alias is on it
    and only the collections of the kept generations remain."""
    record = served_record(ws)
    alias, rows = milvus_state(db)
    assert rows.get(record["name"]) == record["count"], (record, rows)
    if repaired:
        assert alias == record["name"]
        previous = ws.manifest()["previous"]
        kept = {record["name"]}
        if previous:
            old = Workspace(ws.root, generation=ws.generation_dir(previous)).manifest()
            kept.add(old["store"]["name"])
        assert set(rows) == kept, (rows, kept)


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("milvus-crash")
    v1 = catalog(root / "v1", list(range(10)))
    v2 = catalog(root / "v2", [*range(2, 10), 20, 21])  # 2 gone, 2 new (new photos)
    return {"root": root, "v1": v1, "v2": v2}


def fresh(feeds: dict[str, Path], name: str) -> tuple[Workspace, Path]:
    """A shop built from v1 into its own milvus-lite database, at ``root/name``. The manifest
    records the database's absolute path, so copies of one build are made at one place."""
    folder = feeds["root"] / name
    ws, db = Workspace(folder / SHOP), folder / "shops.db"
    template = feeds["root"] / f"{name}.v1"
    if not template.exists():
        done = run_build(ws.root, feeds["v1"], db)
        assert done.returncode == 0, done.stderr
        shutil.copytree(folder, template)
    else:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(template, folder)
    return ws, db


def kill_points(feeds: dict[str, Path]) -> list[str]:
    """The points a v2 rebuild passes in its Milvus steps (the repair at the start, the
    write, the commit) and publish steps, with their hit numbers;
    the local build's other points are tests/pipeline's."""
    ws, db = fresh(feeds, "case")
    log = feeds["root"] / "points.log"
    done = run_build(ws.root, feeds["v2"], db, **{CRASH_LOG: str(log)})
    assert done.returncode == 0, done.stderr
    seen: dict[str, int] = {}
    points = []
    for name in log.read_text().split():
        seen[name] = seen.get(name, 0) + 1
        if name.startswith(("store.", "publish.")):
            points.append(f"{name}:{seen[name]}")
    return points


def test_kill_at_every_milvus_publish_point(feeds: dict[str, Path]) -> None:
    points = kill_points(feeds)
    for needed in ("store.created:1", "store.inserted:1", "store.flushed:1", COMMIT_POINT):
        assert needed in points
    # the commit at the end: the alias moves only after CURRENT names the new generation
    assert {"store.alias:2", "store.dropped:2"} <= set(points)
    assert points.index("store.flushed:1") < points.index(COMMIT_POINT)
    assert points.index(COMMIT_POINT) < points.index("store.alias:2")
    reference, reference_db = fresh(feeds, "reference")
    before = answers(reference)
    assert run_build(reference.root, feeds["v2"], reference_db).returncode == 0
    after = answers(reference)
    assert before != after
    committed = False
    table = []
    for point in points:
        committed = committed or point == COMMIT_POINT
        ws, db = fresh(feeds, "case")
        killed = run_build(ws.root, feeds["v2"], db, **{CRASH_AT: point})
        assert killed.returncode == -9, (point, killed.returncode, killed.stderr[-2000:])
        check_consistent(ws, db, repaired=False)
        assert answers(ws) == (after if committed else before), point
        # the alias never runs ahead of CURRENT; it may lag one step, until the repair
        on_served = milvus_state(db)[0] == served_record(ws)["name"]
        assert on_served or point == COMMIT_POINT, point
        table.append((point, "new" if committed else "previous", on_served))
        # the rerun repairs the alias, drops what the killed build left, serves v2
        rerun = run_build(ws.root, feeds["v2"], db)
        assert rerun.returncode == 0, rerun.stderr
        check_consistent(ws, db, repaired=True)
        assert answers(ws) == after, point
    print("\nkill point -> served after the kill, alias on the served collection")
    for point, served_by, on in table:
        print(f"{point:28s} {served_by:8s} {on}")


def test_two_killed_builds_in_a_row_never_drop_the_served_collection(
    feeds: dict[str, Path],
) -> None:
    """A build killed mid-insert leaves an orphan collection; a second build killed just
    before its commit point must not drop the served collection to make room."""
    ws, db = fresh(feeds, "twice")
    before = answers(ws)
    for point in ("store.inserted:1", "publish.renamed:1"):
        killed = run_build(ws.root, feeds["v2"], db, **{CRASH_AT: point})
        assert killed.returncode == -9, (point, killed.stderr[-2000:])
        check_consistent(ws, db, repaired=False)
        assert answers(ws) == before, point
    assert run_build(ws.root, feeds["v2"], db).returncode == 0
    check_consistent(ws, db, repaired=True)
