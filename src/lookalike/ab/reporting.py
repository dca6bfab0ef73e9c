"""Builds an experiment's report from the shop's experiments file and event log."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lookalike.ab.events import EventLog
from lookalike.ab.experiments import HOLDOUT, Experiment
from lookalike.ab.report import (
    ABReport,
    SeriesPoint,
    pick_bucket_seconds,
    render_html,
    render_png,
)
from lookalike.ab.stats import VariantCounts, compare_variants
from lookalike.ab.store import ExperimentStore
from lookalike.atomic import write_bytes_atomic, write_json_atomic
from lookalike.errors import ConfigError
from lookalike.workspace import Workspace, resolve_workspace

__all__ = ["collect_report", "latest_experiment", "write_report"]


def latest_experiment(store: ExperimentStore) -> Experiment:
    """The active experiment, else the one started last (``ConfigError`` when there is none)."""
    active = store.active()
    if active is not None:
        return active
    started = [e for e in store.load().values() if e.periods]
    if not started:
        raise ConfigError(f"no experiment has been started in {store.path.parent}")
    return max(started, key=lambda e: e.periods[0][0])


def collect_report(
    workspace: str | os.PathLike[str],
    name: str | None = None,
    *,
    events: EventLog | str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> ABReport:
    """The report of experiment ``name`` (default: the active or latest one).

    ``events``: an open log, a path, or None for where the service writes
    (:attr:`~lookalike.workspace.Workspace.events_path`).
    """
    root = resolve_workspace(workspace)
    shop = root.name
    store = ExperimentStore(root)
    experiment = store.get(name) if name else latest_experiment(store)
    if isinstance(events, EventLog):
        log = events
    else:
        path = Path(events) if events is not None else Workspace(root).events_path
        # No log yet (nothing was served): an empty report, without creating a file there.
        log = EventLog(path if path.exists() else Path(":memory:"), retention_days=None)
    try:
        periods = list(experiment.periods)
        totals = log.tally(experiment.name, shop=shop, periods=periods)
        first = min((s for s, _ in periods), default=0.0)
        open_ended = any(e is None for _, e in periods)
        last = time.time() if open_ended or not periods else max(e or 0.0 for _, e in periods)
        bucket = pick_bucket_seconds(max(last - first, 1.0))
        bucketed = log.tally(experiment.name, shop=shop, periods=periods, bucket_seconds=bucket)
        visitors = log.visitors(experiment.name, shop=shop, periods=periods)
        dropped = log.dropped(shop, periods=periods)
    finally:
        if log is not events:
            log.close()

    variant_names = [v.name for v in experiment.variants]
    counts = {v: VariantCounts(0, 0) for v in variant_names}
    for t in totals:
        if t.variant not in counts or (t.type == "impression" and t.empty):
            continue
        old = counts[t.variant]
        if t.type == "impression":
            counts[t.variant] = VariantCounts(old.impressions + t.count, old.clicks)
        else:
            counts[t.variant] = VariantCounts(old.impressions, old.clicks + t.count)
    series: dict[str, dict[float, list[int]]] = {v: {} for v in variant_names}
    for t in bucketed:
        if t.variant not in series or (t.type == "impression" and t.empty):
            continue
        point = series[t.variant].setdefault(t.bucket, [0, 0])
        point[0 if t.type == "impression" else 1] += t.count
    return ABReport(
        shop=shop,
        experiment=experiment.name,
        status=experiment.status,
        control=experiment.control,
        holdout=experiment.holdout,
        expected_shares=experiment.shares(),
        periods=periods,
        rows=compare_variants(counts, experiment.control, seed=seed),
        visitors={v: visitors.get(v, 0) for v in [*variant_names, HOLDOUT]},
        bucket_seconds=bucket,
        series={
            v: [SeriesPoint(b, imp, clk) for b, (imp, clk) in sorted(points.items())]
            for v, points in series.items()
        },
        dropped=dropped,
    )


def write_report(report: ABReport, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``<experiment>.json``, ``.png`` and ``.html`` into ``out_dir`` (atomically)."""
    out = Path(out_dir)
    png = render_png(report)
    paths = {
        "json": out / f"{report.experiment}.json",
        "png": out / f"{report.experiment}.png",
        "html": out / f"{report.experiment}.html",
    }
    write_json_atomic(paths["json"], report.to_dict())
    if png is None:  # no matplotlib: numbers only
        del paths["png"]
    else:
        write_bytes_atomic(paths["png"], png)
    write_bytes_atomic(paths["html"], render_html(report, png).encode("utf-8"))
    return paths
