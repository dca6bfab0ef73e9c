"""A/B testing domain: experiments, sticky assignment, the event log, statistics and reports.

No web code lives here: ``serve`` and ``cli`` import this package, never the other way round;
it imports ``recommend`` and the layers below. File locations come from
:class:`lookalike.workspace.Workspace` (``experiments_path``, ``events_path``).
"""

from lookalike.ab.events import EVENT_TYPES, Event, EventLog, Tally, is_bot
from lookalike.ab.experiments import (
    HOLDOUT,
    VARIANT_KINDS,
    Assignment,
    Experiment,
    Variant,
    assign_variant,
    parse_variant,
)
from lookalike.ab.report import ABReport, render_html, render_png
from lookalike.ab.reporting import collect_report, latest_experiment, write_report
from lookalike.ab.stats import VariantCounts, VariantStats, compare_variants
from lookalike.ab.store import ExperimentStore
from lookalike.ab.variants import Served, ShopExperiments

__all__ = [
    "ABReport",
    "Assignment",
    "EVENT_TYPES",
    "Event",
    "EventLog",
    "Experiment",
    "ExperimentStore",
    "HOLDOUT",
    "Served",
    "ShopExperiments",
    "Tally",
    "VARIANT_KINDS",
    "Variant",
    "VariantCounts",
    "VariantStats",
    "assign_variant",
    "collect_report",
    "compare_variants",
    "is_bot",
    "latest_experiment",
    "parse_variant",
    "render_html",
    "render_png",
    "write_report",
]
