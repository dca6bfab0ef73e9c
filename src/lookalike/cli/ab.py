"""A/B testing commands: ``lookalike ab start|pause|resume|stop|status|report``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table

from lookalike.cli.common import (
    Workspace_,
    app,
    console,
    err_console,
)

if TYPE_CHECKING:
    from lookalike.ab.experiments import Experiment
    from lookalike.ab.report import ABReport

ab_app = typer.Typer(
    help="A/B tests of recommendation variants: start, pause, resume, stop, status, report.",
    no_args_is_help=False,  # a missing command is a usage error (exit 2), not the help page
)
app.add_typer(ab_app, name="ab")
Experiment_ = Annotated[str, typer.Argument(help="Experiment name.")]


@ab_app.command("start")
def ab_start(
    workspace: Workspace_,
    name: Experiment_,
    variant: Annotated[
        list[str] | None,
        typer.Option(
            "--variant",
            "-v",
            help="NAME=WEIGHT (NAME=WEIGHT:KIND for a custom name); kinds: image,"
            " attributes, hybrid, popular. Omit to start a draft from experiments.json.",
        ),
    ] = None,
    holdout: Annotated[
        float | None, typer.Option(help="Percent of visitors shown nothing (0-90).")
    ] = None,
    control: Annotated[str, typer.Option(help="The baseline variant (default: the first).")] = "",
) -> None:
    """Start an experiment; visitors are assigned by hash of the experiment name and visitor."""
    from lookalike.ab.experiments import parse_variant
    from lookalike.ab.store import ExperimentStore
    from lookalike.workspace import Workspace

    ws = Workspace(workspace)
    ws.require_built()
    variants = [parse_variant(v) for v in variant or []]
    share = None if holdout is None else holdout / 100.0
    experiment = ExperimentStore(ws.root).start(name, variants, holdout=share, control=control)
    _render_ab_status([experiment])


def _ab_set(workspace: str, name: str, status: Literal["running", "paused", "stopped"]) -> None:
    from lookalike.ab.store import ExperimentStore
    from lookalike.workspace import Workspace

    ws = Workspace(workspace)
    ws.require_built()
    _render_ab_status([ExperimentStore(ws.root).set_status(name, status)])


@ab_app.command("pause")
def ab_pause(workspace: Workspace_, name: Experiment_) -> None:
    """Pause: everyone gets the control variant and nothing is attributed."""
    _ab_set(workspace, name, "paused")


@ab_app.command("resume")
def ab_resume(workspace: Workspace_, name: Experiment_) -> None:
    """Resume a paused experiment (visitors keep their variant)."""
    _ab_set(workspace, name, "running")


@ab_app.command("stop")
def ab_stop(workspace: Workspace_, name: Experiment_) -> None:
    """Stop for good: the experiment is frozen, its report still works."""
    _ab_set(workspace, name, "stopped")


@ab_app.command("status")
def ab_status(workspace: Workspace_) -> None:
    """List the shop's experiments with their status and traffic split."""
    from lookalike.ab.store import ExperimentStore
    from lookalike.workspace import Workspace

    ws = Workspace(workspace)
    ws.require_built()
    experiments = list(ExperimentStore(ws.root).load().values())
    if not experiments:
        console.print(f"no experiments in {ws.root} (start one with `lookalike ab start`)")
        return
    _render_ab_status(experiments)


def _render_ab_status(experiments: list[Experiment]) -> None:
    table = Table(title="experiments")
    for col in ("experiment", "status", "control", "traffic"):
        table.add_column(col)
    for e in experiments:
        split = ", ".join(f"{k} {v:.0%}" for k, v in e.shares().items() if v)
        table.add_row(e.name, e.status, e.control, split)
    console.print(table)


@ab_app.command("report")
def ab_report(
    workspace: Workspace_,
    name: Annotated[
        str | None, typer.Argument(help="Experiment (default: the active or latest).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for the JSON, PNG and HTML.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
    events: Annotated[
        Path | None,
        typer.Option(
            help="The service's event log (default: $LOOKALIKE_EVENTS_DB or events.sqlite"
            " beside the workspace)."
        ),
    ] = None,
) -> None:
    """Per variant: impressions, clicks, CTR with 95% CI, lift, p-value, P(beat), sample size."""
    from lookalike.ab.reporting import collect_report, write_report
    from lookalike.workspace import Workspace

    ws = Workspace(workspace)
    ws.require_built()
    report = collect_report(ws.root, name, events=events)
    if as_json:
        console.print_json(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        _render_ab_report(report)
    if out is not None:
        paths = write_report(report, out)
        err_console.print("wrote " + ", ".join(str(p) for p in paths.values()))


def _fmt_spec(value: float | None, spec: str) -> str:
    return "-" if value is None or value != value else format(value, spec)


def _render_ab_report(report: ABReport) -> None:
    table = Table(title=f"{report.experiment} ({report.status}), control {report.control}")
    for col in (
        "variant",
        "visitors",
        "impr.",
        "clicks",
        "CTR",
        "95% CI",
        "lift [95% CI]",
        "p",
        "P(beat)",
        "needed/arm",
    ):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for r in report.rows:
        lift = (
            "control"
            if r.is_control
            else (
                f"{_fmt_spec(r.lift, '+.1%')} "
                f"[{_fmt_spec(r.lift_low, '+.1%')}, {_fmt_spec(r.lift_high, '+.1%')}]"
            )
        )
        table.add_row(
            r.name,
            str(report.visitors.get(r.name, 0)),
            str(r.impressions),
            str(r.clicks),
            _fmt_spec(r.ctr, ".2%"),
            f"[{_fmt_spec(r.ctr_low, '.2%')}, {_fmt_spec(r.ctr_high, '.2%')}]",
            lift,
            _fmt_spec(r.p_value, ".4f"),
            _fmt_spec(r.prob_beat_control, ".1%"),
            "-" if r.sample_size_per_arm is None else str(r.sample_size_per_arm),
        )
    if report.holdout:
        table.add_row(
            "holdout",
            str(report.visitors.get("holdout", 0)),
            "-",
            "-",
            "-",
            "-",
            "shown nothing",
            "-",
            "-",
            "-",
        )
    console.print(table)
    console.print("CTR = clicks / impressions (an impression = one widget render with products).")
    rejected = ", ".join(f"{k} {v}" for k, v in sorted(report.dropped.items())) or "none"
    console.print(f"events rejected (not counted): {rejected}")
