"""The report from a shop's event log: what counts (running periods, non-empty impressions),
the files it writes, and the `lookalike ab` commands end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from lookalike.ab.events import Event, EventLog
from lookalike.ab.experiments import Variant
from lookalike.ab.report import pick_bucket_seconds, render_html, render_png
from lookalike.ab.reporting import collect_report, write_report
from lookalike.ab.stats import VariantCounts, compare_variants
from lookalike.ab.store import ExperimentStore
from lookalike.cli import app
from lookalike.errors import ConfigError, NotFoundError
from lookalike.workspace import EVENTS_FILE, Workspace
from tests.conftest import REPO
from tests.serve.abshop import build_ab_shop

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_ab_shop(tmp_path_factory.mktemp("abreport")).root


def _simulate(
    log: EventLog,
    variant: str,
    impressions: int,
    clicks: int,
    t0: float,
    experiment: str = "exp",
    step: float = 1.0,
) -> None:
    """``impressions`` impressions by 50 visitors, the first ``clicks`` of them clicked."""
    common = {"experiment": experiment, "variant": variant, "product_id": "shoes-0"}
    batch = []
    for i in range(impressions):
        visitor, ts = f"{variant}-{i % 50}", t0 + i * step
        batch.append(
            Event(
                "impression",
                "shop",
                visitor=visitor,
                shown=["shoes-1", "shoes-2"],
                user_agent=BROWSER,
                ts=ts,
                **common,
            )
        )
        if i < clicks:
            batch.append(
                Event(
                    "click",
                    "shop",
                    visitor=visitor,
                    target_id="shoes-2",
                    position=2,
                    user_agent=BROWSER,
                    ts=ts + step / 2,
                    **common,
                )
            )
    assert log.record_many(batch) == len(batch)


def test_report_counts_only_running_periods_and_real_impressions(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    store = ExperimentStore(root)
    store.start("exp", (Variant("attributes", 1), Variant("image", 1)), holdout=0.1, now=1000.0)
    with EventLog(root / EVENTS_FILE) as log:
        _simulate(log, "attributes", 400, 40, t0=1000.0)
        _simulate(log, "image", 400, 60, t0=1000.0)
        store.set_status("exp", "paused", now=2000.0)
        _simulate(log, "image", 100, 100, t0=3000.0)  # during the pause: not counted
        store.set_status("exp", "stopped", now=5000.0)
        for i in range(30):  # holdout exposures: nothing shown
            log.record(
                Event(
                    "impression",
                    "shop",
                    visitor=f"h{i}",
                    experiment="exp",
                    variant="holdout",
                    user_agent=BROWSER,
                    ts=1500.0,
                )
            )
        log.record(Event("click", "shop", user_agent="Googlebot/2.1", ts=1500.0))
        log.record(Event("click", "other", user_agent="Googlebot/2.1", ts=1500.0))  # not ours
        # Another shop served by the same process, with an experiment of the same name.
        log.record(
            Event(
                "impression",
                "other",
                visitor="o",
                experiment="exp",
                variant="image",
                shown=["x"],
                user_agent=BROWSER,
                ts=1500.0,
            )
        )
        report = collect_report(root, "exp", events=log)
    rows = {r.name: r for r in report.rows}
    assert (rows["attributes"].impressions, rows["attributes"].clicks) == (400, 40)
    assert (rows["image"].impressions, rows["image"].clicks) == (400, 60)
    expected = compare_variants(
        {"attributes": VariantCounts(400, 40), "image": VariantCounts(400, 60)}, "attributes"
    )
    assert report.rows == expected
    assert report.visitors == {"attributes": 50, "image": 50, "holdout": 30}
    assert report.status == "stopped" and report.periods == [(1000.0, 2000.0)]
    assert report.dropped == {"bot": 1}
    assert report.bucket_seconds == pick_bucket_seconds(1000.0) == 60
    # The series adds up to the totals.
    for name in ("attributes", "image"):
        points = report.series[name]
        assert sum(p.impressions for p in points) == rows[name].impressions
        assert sum(p.clicks for p in points) == rows[name].clicks
        assert [p.bucket for p in points] == sorted(p.bucket for p in points)

    paths = write_report(report, tmp_path / "out")
    with Image.open(paths["png"]) as png:
        assert png.format == "PNG" and png.size[0] > 300
    page = paths["html"].read_text()
    assert 'data-variant="image"' in page and 'data-variant="holdout"' in page
    assert "data:image/png;base64," in page and "<script" not in page
    data = json.loads(paths["json"].read_text())
    assert [v["name"] for v in data["variants"]] == ["attributes", "image"]
    assert data["variants"][0]["p_value"] is None  # NaN → null for the control
    np.testing.assert_allclose(data["variants"][1]["p_value"], rows["image"].p_value)


def test_report_defaults_to_active_or_latest_and_html_without_plot(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    store = ExperimentStore(root)
    with pytest.raises(ConfigError, match="no experiment"):
        collect_report(root)
    store.start("first", (Variant("image", 1), Variant("attributes", 1)), now=10.0)
    # A running experiment with no event log yet: a valid, empty report (and no file made).
    empty = collect_report(root)
    assert empty.experiment == "first" and empty.status == "running"
    assert [(r.impressions, r.clicks) for r in empty.rows] == [(0, 0), (0, 0)]
    assert empty.dropped == {} and not Workspace(root).events_path.exists()
    json.dumps(empty.to_dict(), allow_nan=False)  # strict JSON, no NaN
    assert "events rejected" in render_html(empty, render_png(empty))
    EventLog(Workspace(root).events_path).close()
    store.set_status("first", "stopped", now=20.0)
    store.start("second", (Variant("image", 1), Variant("popular", 1)), now=30.0)
    assert collect_report(root).experiment == "second"
    store.set_status("second", "stopped", now=40.0)
    report = collect_report(root)
    assert report.experiment == "second"
    assert all(r.impressions == 0 for r in report.rows)
    assert "no impressions" not in render_html(report)  # the text is in the PNG, not the page


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "lookalike", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def invoke(*args: str) -> str:
    """Run a CLI command in-process (fast); returns its output, asserting success."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_cli_lifecycle_and_report(shop: Path, tmp_path: Path) -> None:
    ws = str(shutil.copytree(shop, tmp_path / "shop"))
    started = invoke(
        "ab",
        "start",
        ws,
        "vis",
        "--variant",
        "image=50",
        "--variant",
        "attributes=50",
        "--holdout",
        "10",
    )
    assert "running" in started and "holdout 10%" in started and "image 45%" in started
    # No event yet (no log file either): an empty report, not an error.
    empty = invoke("ab", "report", ws, "vis")
    assert "CTR = clicks / impressions" in empty and "events rejected (not counted): none" in empty
    with EventLog(Workspace(ws).events_path) as log:
        start = ExperimentStore(ws).get("vis").periods[0][0]
        _simulate(log, "image", 120, 30, t0=start, experiment="vis", step=1e-4)
        _simulate(log, "attributes", 100, 10, t0=start, experiment="vis", step=1e-4)
    assert "paused" in invoke("ab", "pause", ws, "vis")
    assert "paused" in invoke("ab", "status", ws)
    assert "running" in invoke("ab", "resume", ws, "vis")
    assert "stopped" in invoke("ab", "stop", ws, "vis")
    assert "stopped" in invoke("ab", "status", ws)
    out = tmp_path / "report"
    report = invoke("ab", "report", ws, "vis", "--out", str(out))
    assert "CTR = clicks / impressions" in report and "25.00%" in report and "10.00%" in report
    assert sorted(p.name for p in out.iterdir()) == ["vis.html", "vis.json", "vis.png"]
    as_json = json.loads(invoke("ab", "report", ws, "--json"))
    counts = {v["name"]: (v["impressions"], v["clicks"]) for v in as_json["variants"]}
    assert counts == {"image": (120, 30), "attributes": (100, 10)}


def test_cli_errors_are_one_line_without_traceback(shop: Path, tmp_path: Path) -> None:
    ws = str(shutil.copytree(shop, tmp_path / "shop"))
    invoke("ab", "start", ws, "vis", "--variant", "image=1", "--variant", "attributes=1")
    for args, message in [
        (
            ("ab", "start", ws, "other", "--variant", "image=1", "--variant", "popular=1"),
            "is running; stop it",
        ),
        (("ab", "status", str(tmp_path / "nothing-here")), "lookalike build"),
    ]:
        result = run(*args)
        assert result.returncode == 1, result
        assert "error:" in result.stderr and message in result.stderr.replace("\n", " ")
        assert "Traceback" not in result.stderr
    # The same errors in-process: project errors, which main() prints as one line.
    for args, error, message in [
        (
            ("ab", "start", ws, "x", "--variant", "svd=1", "--variant", "image=1"),
            ConfigError,
            "unknown kind",
        ),
        (("ab", "report", ws, "nope"), NotFoundError, "no experiment 'nope'"),
        (("ab", "pause", ws, "nope"), NotFoundError, "no experiment 'nope'"),
    ]:
        result = CliRunner().invoke(app, list(args))
        assert isinstance(result.exception, error) and message in str(result.exception)
