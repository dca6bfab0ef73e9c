"""The report's tables of numbers: metrics by setting and cutoff, by category, notes."""

from __future__ import annotations

import html

import numpy as np

from lookalike.evaluate.runner import Evaluation
from lookalike.evaluate.scoring import METRICS, SettingResult, metric_names

__all__ = ["metric_table", "category_table", "mean_of", "skipped_notes", "fmt", "esc"]


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for the page ("–" when missing)."""
    return "–" if value is None or np.isnan(value) else f"{value:.{digits}f}"


def esc(text: object) -> str:
    """HTML-escaped text."""
    return html.escape(str(text))


def metric_table(ev: Evaluation) -> str:
    """One row per setting and cutoff k: every metric family, best per column in bold."""
    ref = ev.results[0]
    cutoffs = ref.cutoffs or (ref.k,)
    best = {
        m: max(
            (r.overall[m].mean for r in ev.results if not np.isnan(r.overall[m].mean)),
            default=np.nan,
        )
        for m in metric_names(cutoffs)
    }
    head = "".join(f"<th>{esc(f)}@k</th>" for f in METRICS)
    head += "<th>coverage</th><th>Gini</th><th>top 1% share</th><th>seconds</th>"
    body = []
    for r in ev.results:
        for i, c in enumerate(cutoffs):
            cells = []
            for m in (f"{f}@{c}" for f in METRICS):
                e = r.overall[m]
                cls = ' class="best"' if len(ev.results) > 1 and e.mean == best[m] else ""
                cells.append(
                    f"<td{cls}>{fmt(e.mean)}<br><span class='ci'>[{fmt(e.low)}, "
                    f"{fmt(e.high)}]</span></td>"
                )
            extra = (
                f"<td>{fmt(r.coverage)}</td><td>{fmt(r.gini)}</td><td>"
                f"{fmt(r.top1_share)}</td><td>{sum(r.seconds.values()):.2f}</td>"
            )
            label = esc(r.label) if i == 0 else ""
            body.append(
                f"<tr><td>{label}</td><td>{c}</td>{''.join(cells)}"
                f"{extra if i == 0 else '<td></td>' * 4}</tr>"
            )
    return f"<table><tr><th>setting</th><th>k</th>{head}</tr>{''.join(body)}</table>"


def mean_of(ref: SettingResult, group: str) -> str:
    est = ref.by_group.get(f"Precision@{ref.k}", {}).get(group)
    return "" if est is None else f" (Precision@{ref.k} {est.mean:.3f}, {est.n} queries)"


def skipped_notes(ev: Evaluation) -> str:
    """Notes on settings, and the settings that were not evaluated, with why."""
    out = ""
    notes = "".join(f"<li>{esc(r.label)}: {esc(r.note)}</li>" for r in ev.results if r.note)
    if notes:
        out += f"<p class='note'>Notes:</p><ul class='note'>{notes}</ul>"
    skipped = ev.extra.get("skipped", [])
    if skipped:
        items = "".join(f"<li>{esc(s['label'])}: {esc(s['reason'])}</li>" for s in skipped)
        out += f"<p class='note'>Settings not evaluated:</p><ul class='note'>{items}</ul>"
    return out


def category_table(ev: Evaluation, ref: SettingResult) -> str:
    k = ev.options.k
    hit = "HitRate@5" if "HitRate@5" in ref.by_group else f"HitRate@{k}"
    cols = [f"Precision@{k}", hit, f"mAP@{k}", f"NDCG@{k}"]
    groups = sorted(ref.by_group[cols[0]], key=lambda g: -ref.by_group[cols[0]][g].mean)
    rows = []
    for g in groups:
        n = ref.by_group[cols[0]][g].n
        cells = "".join(
            f"<td>{fmt(ref.by_group[c][g].mean)} <span class='ci'>[{fmt(ref.by_group[c][g].low)},"
            f" {fmt(ref.by_group[c][g].high)}]</span></td>"
            if g in ref.by_group[c]
            else "<td>–</td>"
            for c in cols
        )
        rows.append(f"<tr><td>{esc(g)}</td><td>{n}</td>{cells}</tr>")
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    return f"<table><tr><th>category</th><th>queries</th>{head}</tr>{''.join(rows)}</table>"
