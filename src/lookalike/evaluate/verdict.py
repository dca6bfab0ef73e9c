"""The report's plain-words verdict and its glossary of metric names."""

from __future__ import annotations

from html import escape
from typing import Any

from lookalike.evaluate.runner import Evaluation
from lookalike.evaluate.scoring import METRICS, SettingResult, canonical_metric

__all__ = [
    "verdict_html",
    "glossary_html",
    "sample_note",
    "training_html",
    "training_logs",
    "GLOSSARY",
]

GLOSSARY = (
    *((f"{family}@k", f"{text}.") for family, text in METRICS.items()),
    (
        "95% interval (±)",
        "percentile bootstrap over the queries: where the mean would land on another sample "
        "of the same size; ± is half its width. A smaller query sample gives a wider interval.",
    ),
    ("Coverage", "share of the catalog that appears in at least one product's top k."),
    (
        "Gini / top-1% share",
        "how concentrated the recommendations are on a few products (0 / 1% = perfectly even).",
    ),
    (
        "F1 threshold",
        "the similarity score above which calling a pair relevant gives the best "
        "F1 over sampled query x catalog pairs.",
    ),
    (
        "Served lists",
        "what a shopper is shown: the query itself, its group's variants and near-duplicate "
        "photos left out (--raw measures the raw search).",
    ),
)


def _hit(ref: SettingResult) -> tuple[str, int]:
    """The top-5 hit-rate key (top-k when k < 5) and its k."""
    if "HitRate@5" in ref.overall:
        return "HitRate@5", 5
    return f"HitRate@{ref.k}", ref.k


def sample_note(ev: Evaluation) -> str:
    """How many queries were measured and what that does to the numbers (the interval)."""
    ref = ev.results[0]
    n, key = len(ref.queries), f"Precision@{ref.k}"
    which = (
        f"every one of the {n} eligible queries"
        if n >= ev.eligible
        else f"a seeded sample of {n} of {ev.eligible} eligible queries (seed {ev.options.seed})"
    )
    est = ref.overall[key]
    return f"{which}: {key} is known to ±{(est.high - est.low) / 2:.3f} (95% interval)"


def verdict_html(ev: Evaluation) -> str:
    """A paragraph in plain words: how often a shopper sees a relevant product in the top 5,
    how sure that is, which categories are weak and what to try."""
    ref = ev.results[0]
    key, k = _hit(ref)
    hit = ref.overall[key]
    pk = ref.overall[f"Precision@{ref.k}"]
    who = "photo" if ev.truth.gallery is not None else "product page"
    parts = [
        f"For <b>{hit.mean:.0%}</b> of the {len(ref.queries)} {who}s measured, a shopper sees at "
        f"least one relevant product in the top {k} ({key}, 95% interval {hit.low:.0%}–"
        f"{hit.high:.0%}); on average {pk.mean:.0%} of the top {ref.k} are relevant "
        f"(Precision@{ref.k} ±{(pk.high - pk.low) / 2:.3f})."
    ]
    if len(ref.queries) < ev.eligible:
        parts.append(
            f"These are a seeded sample of {len(ref.queries)} of {ev.eligible} possible queries: "
            "pass <code>--queries 0</code> to measure them all and narrow the intervals."
        )
    groups = ref.by_group.get(f"Precision@{ref.k}", {})
    ranked = sorted((e.mean, name) for name, e in groups.items() if e.n >= 3)
    weak = [(m, n) for m, n in ranked[:3] if m < pk.mean - 0.05]
    if weak:
        names = ", ".join(f"{escape(n)} ({m:.2f})" for m, n in weak)
        parts.append(f"Weakest categories by Precision@{ref.k}: {names}.")
    best = max(ev.results, key=lambda r: r.overall[key].mean)
    if best is not ref and best.overall[key].low > hit.high:
        parts.append(
            f"<b>{escape(best.label)}</b> does clearly better ({key} "
            f"{best.overall[key].mean:.0%}): consider building with it."
        )
    parts.append(
        "To try: compare feature options (<code>--compare model=lite0,lite0+ms,lite0+flip</code>)"
        ", train a head (<code>lookalike train</code>; it is only adopted when it helps on "
        "held-out products and categories), and look at the wrong first results pictured below."
    )
    return f"<p class='verdict'>{' '.join(parts)}</p>"


def glossary_html() -> str:
    """One line per metric name used in the report."""
    rows = "".join(f"<dt>{escape(n)}</dt><dd>{escape(d)}</dd>" for n, d in GLOSSARY)
    return f"<dl class='glossary'>{rows}</dl>"


def training_html(logs: list[tuple[str, dict]]) -> str:
    """Before/after tables of the training runs found (``(where, training.json)``), with the
    adoption decision: what the last ``lookalike train`` did, not only its learning curve."""
    out = []
    for where, log in logs:
        rows = []
        for name, result in (log.get("evaluation") or {}).items():
            for metric in ("P@10", "mAP@10", "Recall@1", "Hit@5"):  # training.json's keys
                before = result.get("before", {}).get(metric)
                after = result.get("after", {}).get(metric)
                if before is not None and after is not None:
                    rows.append(
                        f"<tr><td>{escape(name.replace('_', ' '))}</td>"
                        f"<td>{canonical_metric(metric)}</td>"
                        f"<td>{before:.3f}</td><td>{after:.3f}</td>"
                        f"<td>{after - before:+.3f}</td></tr>"
                    )
        decision = (log.get("decision") or {}).get("reason", "")
        held = ", ".join(log.get("held_out_categories") or [])
        out.append(
            f"<h3>{escape(where)}: head {'adopted' if log.get('adopted') else 'kept off'}</h3>"
            f"<p class='note'>{escape(decision)}"
            + (f" Held-out categories: {escape(held)}." if held else "")
            + "</p><table><tr><th>held-out set</th><th>metric</th><th>untrained</th>"
            "<th>trained</th><th>change</th></tr>" + "".join(rows) + "</table>"
        )
    return "".join(out)


def training_logs(workspace: str) -> list[tuple[str, dict[str, Any]]]:
    """The training.json of the active head and of a refused one, when present."""
    import json

    from lookalike.workspace import Workspace

    ws = Workspace(workspace)
    logs = []
    for where, folder in (
        ("active head", ws.head_dir),
        ("last refused", ws.train_dir / "rejected-head"),
    ):
        path = folder / "training.json"
        try:
            logs.append((where, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue
    return logs
