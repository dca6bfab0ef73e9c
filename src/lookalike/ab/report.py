"""An A/B report as data, a CTR-over-time plot (PNG) and a self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, cast

import numpy as np

from lookalike.ab.stats import VariantStats, wilson_interval

__all__ = ["ABReport", "SeriesPoint", "render_html", "render_png", "pick_bucket_seconds"]

_NICE_BUCKETS = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)

DEFINITIONS = (
    "CTR = clicks / impressions. An impression is one widget render that showed products; a "
    "click is a click on one of them, attributed to the variant that was shown. Only events "
    "inside the experiment's running periods count. Intervals are 95% (Wilson for CTR, Katz "
    "log for the lift); p is the two-sided pooled two-proportion z-test against the control; "
    "P(beat) compares Beta(1+clicks, 1+misses) posteriors; 'needed per arm' is the impressions "
    "each arm needs to detect the observed difference at alpha 0.05 with power 0.8. Holdout "
    "visitors are shown nothing; they are counted as visitors only."
)


def pick_bucket_seconds(span: float, target: int = 30) -> int:
    """A round bucket width giving about ``target`` points over ``span`` seconds."""
    for width in _NICE_BUCKETS:
        if span / width <= target:
            return width
    return _NICE_BUCKETS[-1]


@dataclass(frozen=True)
class SeriesPoint:
    """Impressions and clicks of one variant in one time bucket."""

    bucket: float
    impressions: int
    clicks: int


@dataclass
class ABReport:
    """Everything the CLI and the service show about one experiment."""

    shop: str
    experiment: str
    status: str
    control: str
    holdout: float
    expected_shares: dict[str, float]
    periods: list[tuple[float, float | None]]
    rows: list[VariantStats]
    visitors: dict[str, int]
    bucket_seconds: int
    series: dict[str, list[SeriesPoint]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    generated: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "shop": self.shop,
            "experiment": self.experiment,
            "status": self.status,
            "control": self.control,
            "holdout": self.holdout,
            "expected_shares": self.expected_shares,
            "periods": [list(p) for p in self.periods],
            "variants": [r.to_dict() for r in self.rows],
            "visitors": self.visitors,
            "bucket_seconds": self.bucket_seconds,
            "series": {
                v: [[p.bucket, p.impressions, p.clicks] for p in points]
                for v, points in self.series.items()
            },
            "dropped": self.dropped,
            "generated": self.generated,
            "definitions": DEFINITIONS,
        }


def render_png(report: ABReport) -> bytes | None:
    """Cumulative CTR over time per variant with its 95% Wilson band, as PNG bytes.

    None without matplotlib (the ``reports`` extra): the page then shows the numbers only.
    """
    try:
        import matplotlib
    except ImportError:
        return None

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in a server

    fig = Figure(figsize=(8, 4), dpi=100)
    ax = fig.add_subplot()
    plotted = False
    for name, points in report.series.items():
        if not points:
            continue
        times = np.array([p.bucket + report.bucket_seconds for p in points], dtype=np.float64)
        imps = np.cumsum([p.impressions for p in points])
        clicks = np.minimum(np.cumsum([p.clicks for p in points]), imps)
        keep = imps > 0
        if not keep.any():
            continue
        x: Any = [_utc(t) for t in times[keep]]  # matplotlib plots datetimes (stubs: floats)
        ctr = clicks[keep] / imps[keep]
        lo, hi = wilson_interval(clicks[keep], imps[keep])
        label = f"{name} (control)" if name == report.control else name
        (line,) = ax.plot(x, ctr, marker="o", markersize=3, label=label)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15)
        plotted = True
    if report.periods:  # the experiment's whole span, not matplotlib's padding around a point
        start = min(s for s, _ in report.periods)
        end = max(report.generated if e is None else e for _, e in report.periods)
        end = max(end, start) + report.bucket_seconds
        ax.set_xlim(cast(Any, _utc(start)), cast(Any, _utc(end)))
    ax.set_xlabel(f"time (UTC), end of each {_duration(report.bucket_seconds)} bucket")
    fig.autofmt_xdate()
    ax.set_ylabel("cumulative CTR")
    ax.set_title(f"{report.experiment}: CTR over time")
    ax.grid(alpha=0.3)
    if plotted:
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no impressions yet", ha="center", va="center", transform=ax.transAxes)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(float(ts), tz=timezone.utc)


def _duration(seconds: int) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"{n}-{unit}" if n > 1 else unit
    return f"{seconds}-second"


def _pct(value: float, digits: int = 2) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.{digits}f}%"


def _num(value: float, fmt: str) -> str:
    return "–" if value is None or math.isnan(value) else format(value, fmt)


def _when(ts: float | None) -> str:
    return "now" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def render_html(report: ABReport, png: bytes | None = None) -> str:
    """A self-contained HTML page (inline CSS, plot embedded as a data URI)."""
    esc = html.escape
    rows = []
    for r in report.rows:
        lift = (
            f"{_pct(r.lift, 1)} [{_pct(r.lift_low, 1)}, {_pct(r.lift_high, 1)}]"
            if not r.is_control
            else "control"
        )
        rows.append(
            f'<tr data-variant="{esc(r.name)}"><td>{esc(r.name)}</td>'
            f"<td>{report.visitors.get(r.name, 0)}</td><td>{r.impressions}</td>"
            f"<td>{r.clicks}</td><td>{_pct(r.ctr)}</td>"
            f"<td>[{_pct(r.ctr_low)}, {_pct(r.ctr_high)}]</td><td>{lift}</td>"
            f"<td>{_num(r.p_value, '.4f')}</td><td>{_pct(r.prob_beat_control, 1)}</td>"
            f"<td>{'–' if r.sample_size_per_arm is None else r.sample_size_per_arm}</td></tr>"
        )
    if report.holdout:
        rows.append(
            f'<tr data-variant="holdout"><td>holdout</td>'
            f"<td>{report.visitors.get('holdout', 0)}</td>"
            '<td colspan="8" class="muted">shown nothing (visitors only)</td></tr>'
        )
    shares = ", ".join(f"{esc(k)} {v:.0%}" for k, v in report.expected_shares.items() if v)
    periods = "; ".join(f"{_when(s)} → {_when(e)}" for s, e in report.periods) or "never started"
    dropped = ", ".join(f"{k}: {v}" for k, v in sorted(report.dropped.items())) or "none"
    plot = (
        f'<img alt="CTR over time" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        if png
        else ""
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>A/B {esc(report.experiment)} · {esc(report.shop)}</title><style>
body{{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}}
table{{border-collapse:collapse;width:100%;margin:16px 0}}
th,td{{border-bottom:1px solid #ddd;padding:6px 8px;text-align:right}}
th:first-child,td:first-child{{text-align:left}} .muted{{color:#666;font-size:14px}}
img{{max-width:100%}} .status{{display:inline-block;padding:2px 8px;border-radius:4px;
background:#eef}}</style></head><body>
<h1>A/B test <code>{esc(report.experiment)}</code> · {esc(report.shop)}</h1>
<p><span class="status" id="status">{esc(report.status)}</span>
control <b>{esc(report.control)}</b> · expected traffic {shares}</p>
<p class="muted">running periods: {esc(periods)}</p>
<p class="muted" id="rejected">events rejected (not counted above): {esc(dropped)}</p>
<table id="variants"><thead><tr><th>variant</th><th>visitors</th><th>impressions</th>
<th>clicks</th><th>CTR</th><th>95% CI</th><th>lift vs control [95% CI]</th><th>p</th>
<th>P(beat control)</th><th>needed per arm</th></tr></thead><tbody>
{"".join(rows)}</tbody></table>
{plot}
<p class="muted">{esc(DEFINITIONS)}</p>
<p class="muted">generated {_when(report.generated)}</p></body></html>"""
