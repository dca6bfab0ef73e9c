"""The evaluation report: one self-contained HTML file and a JSON with every number.

Images (product thumbnails as small JPEGs, plots as PNGs) are embedded as base64 ``data:``
URIs, so ``report.html`` opens offline from any folder and can be mailed as one file.

Hook for other packages: every ``*.png`` found in ``<workspace>/train/`` or
``<workspace>/head/`` (the learning curve ``lookalike train`` saves there) is embedded in a
"Training" section; pass more with ``extra_images``.
"""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.atomic import write_bytes_atomic, write_json_atomic
from lookalike.evaluate import plots
from lookalike.evaluate.runner import PAIRS_PER_QUERY, Evaluation
from lookalike.evaluate.scoring import METRICS, SettingResult
from lookalike.evaluate.served import lists_note
from lookalike.evaluate.style import REPORT_CSS as _CSS
from lookalike.evaluate.tables import category_table, mean_of, metric_table, skipped_notes
from lookalike.evaluate.tables import esc as _esc
from lookalike.evaluate.tables import fmt as _fmt
from lookalike.evaluate.verdict import (
    glossary_html,
    sample_note,
    training_html,
    training_logs,
    verdict_html,
)
from lookalike.evaluate.views import confusion, pick_examples

__all__ = ["write_report", "report_data", "REPORT_HTML", "REPORT_JSON"]

REPORT_HTML = "report.html"
REPORT_JSON = "report.json"
THUMB_SIDE = 96
GRID_QUERIES = 4


def _b64(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _thumbnail(path: str) -> str | None:
    """A small JPEG data URI of the image at ``path`` (None when it cannot be read)."""
    from lookalike.embed.decode import load_image
    from lookalike.errors import ImageError

    try:
        image = load_image(Path(path).read_bytes())
    except (OSError, ImageError):
        return None
    image.thumbnail((THUMB_SIDE * 2, THUMB_SIDE * 2))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return _b64(buffer.getvalue(), "image/jpeg")


class _Thumbs:
    """Thumbnails made once per product."""

    def __init__(self, images: dict[str, str]) -> None:
        self.images = images
        self.cache: dict[str, str | None] = {}

    def __call__(self, pid: str) -> str | None:
        if pid not in self.cache:
            path = self.images.get(pid)
            self.cache[pid] = _thumbnail(path) if path else None
        return self.cache[pid]


def _card(ev: Evaluation, thumbs: _Thumbs, row: int, kind: str, score: float | None) -> str:
    pid = ev.truth.ids[row]
    code = int(ev.truth.groups[row])
    category = ev.truth.group_names[code] if code >= 0 else "(none)"
    src = thumbs(pid)
    # an unreadable image gets a 1x1 grey pixel rather than a broken <img>
    img = src or _b64(
        base64.b64decode("R0lGODlhAQABAIAAAMzMzP///yH5BAAAAAAALAAAAAABAAEAAAICRAEAOw=="),
        "image/gif",
    )
    score_text = f"{score:.3f}" if score is not None else "query"

    title = _esc(f"{pid} {ev.titles.get(pid, '')} [{category}]")
    return (
        f'<div class="card {kind}" title="{title}"><img alt="{_esc(pid)}" src="{img}">'
        f'<div class="cat">{_esc(category)}</div><div>{_esc(pid)}</div>'
        f"<div>{score_text}</div></div>"
    )


def _grid(ev: Evaluation, ref: SettingResult, thumbs: _Thumbs, positions: list[int]) -> str:
    rows = []
    for pos in positions:
        q = int(ref.queries[pos])
        rel = ev.truth.relevance(np.array([q]), ref.results[pos : pos + 1])[0]
        cards = [_card(ev, thumbs, q, "query", None), '<span class="arrow">→</span>']
        for j, r in enumerate(ref.results[pos]):
            if r >= 0:
                cards.append(
                    _card(
                        ev, thumbs, int(r), "hit" if rel[j] else "miss", float(ref.scores[pos, j])
                    )
                )
        rows.append(f'<div class="row">{"".join(cards)}</div>')
    return "".join(rows) or '<p class="note">none</p>'


def _heatmap(ev: Evaluation, ref: SettingResult) -> str:
    names, matrix = confusion(ev.truth, ref)
    if not names:
        return '<p class="note">No categories in this catalog.</p>'
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    head = "".join(f"<th>{_esc(n)}</th>" for n in names)
    rows = []
    for i, name in enumerate(names):
        cells = []
        for j in range(len(names)):
            v = share[i, j]
            colour = (
                f"rgba(47,158,98,{v:.2f})" if i == j else f"rgba(214,69,69,{min(1, 2 * v):.2f})"
            )
            text = f"{100 * v:.0f}%" if matrix[i, j] else ""
            cells.append(
                f'<td style="background:{colour}" title="{int(matrix[i, j])} queries">{text}</td>'
            )
        rows.append(f"<tr><td>{_esc(name)}</td>{''.join(cells)}</tr>")
    return (
        f'<table class="heat"><tr><th>query category ↓ / top-1 category →</th>{head}</tr>'
        f"{''.join(rows)}</table>"
    )


def _train_images(workspace: str, extra: list[Path]) -> list[tuple[str, str]]:
    from lookalike.workspace import Workspace

    ws = Workspace(workspace)
    found = sorted(ws.train_dir.glob("*.png")) + sorted(ws.head_dir.glob("*.png"))
    found += list(extra)
    return [(p.stem, _b64(p.read_bytes(), "image/png")) for p in found if p.is_file()]


def report_data(ev: Evaluation) -> dict[str, Any]:
    """Every number of the report as JSON-ready data."""
    ref = ev.results[0]
    names, matrix = confusion(ev.truth, ref)
    per_query = [
        {
            "id": ev.truth.ids[int(q)],
            **{m: (None if np.isnan(v[i]) else float(v[i])) for m, v in ref.per_query.items()},
            "top": [ev.truth.ids[int(r)] for r in ref.results[i] if r >= 0],
        }
        for i, q in enumerate(ref.queries)
    ]
    return {
        "workspace": ev.workspace,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": ev.model,
        "truth": ev.truth.description,
        "truth_notes": ev.truth.notes,
        "k": ev.options.k,
        "seed": ev.options.seed,
        "queries": len(ref.queries),
        "eligible_queries": ev.eligible,
        "products": len(ev.truth),
        "bootstrap_resamples": ev.options.n_boot,
        "cutoffs": list(ev.results[0].cutoffs),
        "metrics": {f"{family}@k": text for family, text in METRICS.items()},
        "sample": sample_note(ev),
        "settings": [r.to_dict() for r in ev.results],
        "confusion": {"categories": names, "top1_counts": matrix.tolist()},
        "reference_per_query": per_query,
        "embedded_now": ev.extra.get("embedded", {}),
        "skipped_settings": ev.extra.get("skipped", []),
        "lists": ev.extra.get("lists", "raw"),  # "served" (exclusions applied) or "raw"
        "exclusions": ev.extra.get("exclusions"),
        "lists_note": lists_note(ev.extra),
        "seconds": round(ev.seconds, 3),
    }


def write_report(ev: Evaluation, out_dir: Path, *, extra_images: list[Path] | None = None) -> Path:
    """Write ``report.html`` and ``report.json`` into ``out_dir``; returns the HTML path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = report_data(ev)
    write_json_atomic(out_dir / REPORT_JSON, data)
    write_bytes_atomic(out_dir / REPORT_HTML, render_html(ev, data, extra_images).encode("utf-8"))
    return out_dir / REPORT_HTML


def _photo_note(ev: Evaluation) -> str:
    """`` · N outside photos as queries`` in photo -> catalog mode, else nothing."""
    if ev.truth.gallery is None:
        return ""
    return f" · {len(ev.truth) - ev.truth.searchable} outside photos as queries"


def render_html(ev: Evaluation, data: dict[str, Any], extra_images: list[Path] | None) -> str:
    """The report page (see module doc)."""
    ref = ev.results[0]
    k = ev.options.k
    thumbs = _Thumbs(ev.images)
    examples = pick_examples(ev.truth, ref, seed=ev.options.seed, per_section=GRID_QUERIES)
    pk = f"Precision@{k}"
    charts = plots.charts_available()
    figures = (
        [
            ("Precision@k curves", plots.precision_curves(ev.results)),
            (f"{pk} by category", plots.category_bars(ev.results, pk)),
        ]
        if charts
        else []
    )
    th = ref.threshold or {}
    if charts and ref.pair_scores is not None:
        figures.append(
            (
                "Score histogram",
                plots.score_histogram(
                    ref.pair_scores[0], ref.pair_scores[1], th.get("f1"), ref.label
                ),
            )
        )
    plots_html = (
        "".join(
            f'<img class="plot" alt="{_esc(t)}" src="{_b64(png, "image/png")}">'
            for t, png in figures
        )
        or f'<p class="note">No charts: {_esc(plots.CHARTS_HINT)}.</p>'
    )
    threshold_note = (
        (
            f"Suggested threshold for <b>{_esc(ref.label)}</b>: <b>{_fmt(th.get('f1'))}</b>, "
            "the score that maximises F1 of “relevant” over query × catalog pairs "
            f"(F1 {_fmt(th.get('f1_value'))}, precision {_fmt(th.get('f1_precision'))}, "
            f"recall {_fmt(th.get('f1_recall'))}). Precision of “relevant” first reaches 0.5 "
            f"at {_fmt(th.get('precision_0.5'))}. Pairs: every relevant pair of each query "
            f"(up to {PAIRS_PER_QUERY}) and {PAIRS_PER_QUERY} random products per query, "
            "weighted back to the whole catalog."
        )
        if th
        else ""
    )
    train = _train_images(ev.workspace, extra_images or [])
    train_html = "".join(
        f'<figure><img class="plot" alt="{_esc(n)}" src="{src}"><figcaption>{_esc(n)}'
        f"</figcaption></figure>"
        for n, src in train
    )
    sections = [
        (
            "Metrics",
            metric_table(ev)
            + skipped_notes(ev)
            + (
                f"<p class='note'>Queries: {_esc(sample_note(ev))}; 95% percentile bootstrap "
                f"interval ({ev.options.n_boot} resamples) below each value. Coverage over "
                f"{ref.coverage_over} lists. Names: see the glossary. Equal scores keep "
                "catalog order (lower row first); each rank counts once.</p>"
            ),
        ),
        ("Plots", f'<div class="plots">{plots_html}</div><p class="note">{threshold_note}</p>'),
        (f"By category ({_esc(ref.label)})", category_table(ev, ref)),
        (
            "Confusion: top-1 category by query category",
            _heatmap(ev, ref)
            + "<p class='note'>Share of each category's queries whose first result has the "
            "column's category. Diagonal: right category.</p>",
        ),
        ("Random queries and their top-k", _grid(ev, ref, thumbs, examples["random"])),
        (
            f"Best category: {_esc(examples['best_name'])}{mean_of(ref, examples['best_name'])}",
            _grid(ev, ref, thumbs, examples["best"]),
        ),
        (
            f"Worst category: {_esc(examples['worst_name'])}{mean_of(ref, examples['worst_name'])}",
            _grid(ev, ref, thumbs, examples["worst"]),
        ),
        (
            "Failure cases: top-1 from another category",
            _grid(ev, ref, thumbs, examples["failures"]),
        ),
    ]
    logs = training_logs(ev.workspace)
    if train_html or logs:
        sections.append(
            ("Training", training_html(logs) + f'<div class="plots">{train_html}</div>')
        )
    sections.insert(0, ("Verdict", verdict_html(ev)))
    sections.append(("Glossary", glossary_html()))
    body = "".join(f"<section><h2>{t}</h2>{c}</section>" for t, c in sections)
    # wide tables scroll inside their section instead of widening the page
    body = body.replace("<table", "<div class='scroll'><table").replace(
        "</table>", "</table></div>"
    )
    legend = (
        '<p class="legend"><span style="background:#2b6cb0"></span>query'
        '<span style="background:#2f9e62"></span>relevant'
        '<span style="background:#d64545"></span>not relevant</p>'
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>lookalike evaluation · {_esc(Path(ev.workspace).name)}</title>"
        f"<meta name='viewport' content='width=device-width'><style>{_CSS}</style></head><body>"
        f"<header><h1>Evaluation of {_esc(Path(ev.workspace).name)}</h1>"
        f"<p>{ev.truth.searchable} products{_photo_note(ev)} · "
        f"relevant = {_esc(ev.truth.description)} · k = {k} · "
        f"{len(ev.results)} setting(s) · reference: {_esc(ref.label)} · "
        f"{_esc(lists_note(ev.extra))} · {_esc(sample_note(ev))} · "
        f"{_esc(data['created'])}</p></header><main>{legend}{body}</main></body></html>"
    )
