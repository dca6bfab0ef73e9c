"""Learning and measuring commands: train, evaluate."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from lookalike.cli.common import (
    Workspace_,
    _setup_logging,
    app,
    console,
)
from lookalike.cli.progressbar import progress_bars
from lookalike.cli.usage import option_values

PARTIAL_EPOCHS = 8  # each epoch runs the tail over every image: a CPU budget of minutes

if TYPE_CHECKING:
    from lookalike.train.photo_fit import PhotoTrainOptions


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _render_train_report(report: dict) -> None:
    from lookalike.evaluate.scoring import canonical_metric

    title = "held-out quality: pretrained backbone -> trained (leave-one-out)"
    if report["options"].get("method") == "photos":
        title = "held-out quality: pretrained backbone -> trained (photo -> catalog; catalog LOO)"
    table = Table(title=title)
    for col in ("held-out set", "images", "metric", "before", "after"):
        table.add_column(col, justify="left" if col in ("held-out set", "metric") else "right")
    for name, result in report["evaluation"].items():
        for metric in ("P@10", "mAP@10", "Recall@1", "Hit@5"):
            before, after = result["before"].get(metric), result["after"].get(metric)
            if before is not None:
                label = name.replace("_", " ")
                shown = canonical_metric(metric)  # training.json's P@10 / Recall@1, named plainly
                table.add_row(label, str(result["before"]["n"]), shown, _fmt(before), _fmt(after))
    console.print(table)
    console.print(
        f"objective {_fmt(report['objective_before'])} -> {_fmt(report['objective_after'])}, "
        f"kept epoch {report['best_epoch']} of {len(report['history'])} "
        f"(monitor {report['monitor']}), {report['seconds']:.1f} s"
    )
    for note in report["notes"]:
        console.print(f"note: {note}")
    if report.get("held_out_categories"):
        names = ", ".join(report["held_out_categories"])
        console.print(f"held-out categories (the hardest before training): {names}")
    decision = report.get("decision") or {}
    if report.get("refit"):
        refit = report["refit"]
        console.print(f"refitted on all {refit['rows']} images for {refit['epochs']} epochs")
    if decision:
        verdict = "adopted" if report.get("adopted") else "kept off"
        what = "fine-tuned model" if report["options"].get("method") == "partial" else "head"
        console.print(f"{what} {verdict}: {decision.get('reason', '')}", soft_wrap=True)
    console.print(f"saved in {report['head_dir']}")


@app.command()
def train(
    workspace: Workspace_,
    method: Annotated[
        str,
        typer.Option(
            help="classifier or triplet (heads); partial: fine-tune the backbone's last blocks "
            "on CPU from cached activations; weights: tune the image/title hybrid weight on "
            "the catalog (needs real titles)."
        ),
    ] = "classifier",
    photos: Annotated[
        Path | None,
        typer.Option(
            help="CSV of shop photos labelled by product (image, product_id: the format of "
            "evaluate --queries-from): train a head that brings each photo next to its "
            "product's catalog images (applied to catalog and image queries alike)."
        ),
    ] = None,
    photo_map: Annotated[
        str,
        typer.Option(
            help="For --photos: auto (diagonal and full both checked, the better one that "
            "passes adopted), diagonal (re-weights features), full, or lowrank."
        ),
    ] = "auto",
    loss: Annotated[
        str, typer.Option(help="For --method triplet: triplet, contrastive or proxy.")
    ] = "triplet",
    epochs: Annotated[
        int | None,
        typer.Option(help="Maximum epochs (early stopping); default 30, 8 for --method partial."),
    ] = None,
    dim: Annotated[int, typer.Option(help="Output dimension of the head.")] = 256,
    seed: Annotated[int, typer.Option(help="Random seed (runs are reproducible).")] = 0,
    finetune: Annotated[
        bool, typer.Option(help="Fine-tune the backbone's last blocks (CUDA GPU only).")
    ] = False,
    blocks: Annotated[
        int, typer.Option(help="For --method partial (and --finetune): blocks fine-tuned.")
    ] = 2,
    mix: Annotated[
        float,
        typer.Option(
            help="For --method partial: share of the fine-tuned weights against the "
            "pretrained ones (WiSE-FT; 1: fine-tuned only)."
        ),
    ] = 0.5,
    force: Annotated[
        bool,
        typer.Option(help="Adopt the head even when it loses on the held-out check."),
    ] = False,
    refit: Annotated[
        bool,
        typer.Option(help="After an adopted check, refit on every product (both runs logged)."),
    ] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train a projection head on the shop's catalog and report held-out quality."""
    from lookalike.train import TrainOptions, train_workspace
    from lookalike.train.photo_fit import PhotoTrainOptions

    if method == "weights":
        _setup_logging(quiet)
        _train_weights(workspace, seed=seed, force=force)
        return
    if photos is not None:
        with option_values():
            photo_options = PhotoTrainOptions(
                epochs=epochs or 30, seed=seed, force=force, refit=refit, form=photo_map
            )
        _setup_logging(quiet)
        _train_photos(workspace, photos, photo_options, quiet=quiet)
        return
    with option_values():
        options = TrainOptions(
            method=method,
            loss=loss,
            epochs=epochs or (PARTIAL_EPOCHS if method == "partial" else 30),
            dim=dim,
            seed=seed,
            finetune=finetune,
            finetune_blocks=blocks,
            mix=mix,
            force=force,
            refit=refit,
        )
    _setup_logging(quiet)  # after the options: a usage error changes nothing
    with progress_bars(not quiet) as bar:
        report = train_workspace(workspace, replace(options, progress=bar)).to_dict()
    _render_train_report(report)
    if not finetune and method != "partial" and report.get("adopted"):
        console.print(
            "run `lookalike build` on this workspace again to apply the head "
            "(no image is re-embedded)"
        )


def _cutoffs(text: str) -> tuple[int, ...]:
    """``-k 1,5,10`` -> (1, 5, 10); a usage error (exit 2) when it is not a list of k."""
    try:
        cutoffs = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        cutoffs = ()
    if not cutoffs:
        raise typer.BadParameter(f"expected k values such as 1,5,10, got {text!r}", param_hint="-k")
    return cutoffs


def _train_photos(workspace: str, photos: Path, options: PhotoTrainOptions, quiet: bool) -> None:
    """``train --photos``: the photo -> catalog head (lookalike.train.photo_api)."""
    from lookalike.train.photo_api import train_photo_workspace

    with progress_bars(not quiet) as bar:
        report = train_photo_workspace(workspace, photos, replace(options, progress=bar))
    _render_train_report(report.to_dict())
    if report.adopted:
        console.print(
            "run `lookalike build` on this workspace again to apply the head to the catalog "
            "(no image is re-embedded); image queries get the same head"
        )


def _train_weights(workspace: str, *, seed: int, force: bool) -> None:
    """``train --method weights``: the hybrid title share (lookalike.train.weights)."""
    from lookalike.train.weights import WeightsOptions, tune_weights

    report = tune_weights(workspace, WeightsOptions(seed=seed, force=force))
    metric = f"P@{report.options['k']}"
    grid = Table(title=f"title share -> tuning products' {metric} (image share = 1 - title)")
    grid.add_column("title share", justify="right")
    grid.add_column(metric, justify="right")
    for row in report.grid:
        grid.add_row(f"{row['title_share']:.1f}", _fmt(row[metric]))
    console.print(grid)
    for name, result in report.evaluation.items():
        before, after = result["before"][metric], result["after"][metric]
        console.print(
            f"{name.replace('_', ' ')} ({result['before']['n']} products): {metric} image only "
            f"{_fmt(before)} -> chosen {_fmt(after)}"
        )
    verdict = "adopted" if report.adopted else "kept off"
    chosen = ",".join(f"{k}={v:g}" for k, v in report.chosen.items())
    console.print(f"weights {chosen} {verdict}: {report.decision['reason']}", soft_wrap=True)
    console.print(f"saved in {report.saved} (training.json)", soft_wrap=True)
    if report.adopted:
        console.print("the Recommender uses them from its next load (a build, a service reload)")


@app.command()
def evaluate(
    workspace: Workspace_,
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare",
            help="AXIS=V1,V2 (repeatable; 'all' for every value). Axes: model (served, lite0, "
            "lite1, lite2, histogram, random, file.onnx), metric (cosine, euclidean, manhattan), "
            "pca (none, 256, ...), quantize (none, float16, int8), index (exact, hnsw, ivfpq), "
            "weights ('image=0.7,title=0.3'; separate settings with ';').",
        ),
    ] = None,
    truth: Annotated[
        str,
        typer.Option(
            help="What is relevant: category[:DEPTH], identity[:COLUMN], pairs:FILE.csv, "
            "product (photo queries). auto: category, or product for photo queries with a "
            "product_id column."
        ),
    ] = "auto",
    queries_from: Annotated[
        Path | None,
        typer.Option(
            "--queries-from",
            help="CSV of outside photos (image, product_id and/or category) to query the "
            "catalog with: photo -> catalog evaluation.",
        ),
    ] = None,
    k: Annotated[
        str,
        typer.Option(
            "-k",
            "--k",
            help="Cutoffs: every metric at each k, e.g. 1,5,10 (the largest is the list length).",
        ),
    ] = "1,5,10",
    queries: Annotated[
        int | None,
        typer.Option(
            help="Seeded random sample of queries; 0: every eligible one. Default: all below "
            "5,000 products, else 500 (the report states the sample and its interval)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the query sample and the bootstrap.")] = 0,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="Measure the raw search. Default: the served lists (self, group variants and "
            "near-duplicates left out, as the service shows them).",
        ),
    ] = False,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the CIs.")] = 1000,
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path("report"),
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="One summary line; no progress.")
    ] = False,
) -> None:
    """Measure the recommendations against the catalog's own labels; write an HTML report."""
    from lookalike.evaluate.compare import parse_compare
    from lookalike.evaluate.report import write_report
    from lookalike.evaluate.runner import EvaluateOptions, run_evaluation
    from lookalike.evaluate.truth import TruthSpec

    cutoffs = _cutoffs(k)
    with option_values():  # before logging is set up: a usage error changes nothing
        options = EvaluateOptions(
            k=max(cutoffs),
            cutoffs=cutoffs,
            queries=queries,
            seed=seed,
            truth=TruthSpec.parse(truth),
            compare=parse_compare(compare or []),
            n_boot=bootstrap,
            queries_from=queries_from,
            raw=raw,
        )
    _setup_logging(quiet)
    with progress_bars(not quiet) as bar:
        evaluation = run_evaluation(workspace, replace(options, progress=bar))
    path = write_report(evaluation, out)
    table = Table(
        title=f"evaluation of {evaluation.workspace} (relevant = {evaluation.truth.description})"
    )
    top, short = max(cutoffs), min(cutoffs)
    hit = "HitRate@5" if 5 in cutoffs else f"HitRate@{top}"
    metrics = [f"Precision@{top}", hit, f"mAP@{top}", f"NDCG@{top}", f"Recall@{top}"]
    if queries_from is not None:  # photo -> catalog: top-1 / top-5 first
        metrics = [f"HitRate@{short}", hit, f"mAP@{top}", f"Precision@{top}"]
    table.add_column("setting", no_wrap=True)
    for col in (*metrics, f"{metrics[0]} ±", "coverage", "s"):
        table.add_column(col, justify="right")
    for r in evaluation.results:
        p = r.overall[metrics[0]]
        table.add_row(
            r.label,
            *(f"{r.overall[m].mean:.3f}" for m in metrics),
            f"{(p.high - p.low) / 2:.3f}",
            f"{r.coverage:.2f}",
            f"{sum(r.seconds.values()):.1f}",
        )
    if quiet:  # one line: the reference setting's headline numbers and where the report is
        ref = evaluation.results[0]
        head = " ".join(f"{m} {ref.overall[m].mean:.3f}" for m in metrics[:2])
        console.print(
            f"{ref.label}: {head} ({len(ref.queries)} queries) report: {path}", soft_wrap=True
        )
        return
    console.print(table)
    console.print(f"report: {path}  numbers: {path.with_suffix('.json')}", soft_wrap=True)
