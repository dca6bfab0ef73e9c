"""The ``lookalike`` command. Thin: each subcommand parses options and calls one function.

Heavy libraries (torch, onnxruntime, faiss) are imported inside the functions that need them so
that ``lookalike --help`` starts fast.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from lookalike.errors import LookalikeError

if TYPE_CHECKING:
    from lookalike.evaluate.abreport import ABReport
    from lookalike.serve.experiments import Experiment

app = typer.Typer(
    name="lookalike",
    help="Visually similar product recommendations from your shop's catalog.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

# Exit codes (cron-friendly): 0 success, 1 failure (nothing changed, or no product got a vector),
# 2 usage error, 3 partial (built, but some images failed: see report.json).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3

Workspace_ = Annotated[
    str, typer.Argument(help="Workspace folder, or a shop name under ./lookalike-data.")
]


def _setup_logging(quiet: bool, verbose: bool = False) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    from rich.logging import RichHandler

    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)],
        force=True,
    )
    for noisy in ("httpx", "httpcore", "hpack", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"


def _downloads_line(downloads: dict) -> str:
    if "fetched" not in downloads:  # no image URLs in this catalog
        return ""
    parts = [f"{downloads[key]} {key}" for key in ("fetched", "revalidated", "reused", "stale")]
    return f" (images: {', '.join(parts)})"


def _render_build_report(report: dict, quiet: bool) -> None:
    if quiet:
        console.print(
            f"{report['status']}: {report['products']['total']} products, "
            f"{report['vectors']} with vectors, {report['images']['failed']} images failed"
            + _downloads_line(report.get("downloads", {}))
        )
        return
    table = Table(title=f"build of {report['workspace']}", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in report["products"].items():
        table.add_row(f"products {key}", str(value))
    for key, value in report["images"].items():
        table.add_row(f"images {key}", str(value))
    index = report.get("index") or {}
    if index:
        compression = ", ".join(
            f"{name} {index[name]}" for name in ("pca", "quantize") if index.get(name)
        )
        table.add_row("index", index["kind"] + (f" ({compression})" if compression else ""))
        if index.get("recall_at_10") is not None:
            table.add_row("index recall@10 vs exact", f"{index['recall_at_10']:.3f}")
        if index.get("bytes_saved"):
            table.add_row(
                "vector memory",
                f"{_size(index['float32_bytes'])} -> {_size(index['stored_vector_bytes'])}",
            )
    for key, value in report.get("downloads", {}).items():
        table.add_row(f"downloads {key}", str(value))
    table.add_row("seconds", f"{report['seconds'].get('total', 0):.1f}")
    console.print(table)
    if report["failures"]:
        failed = Table(title="images that failed", show_header=True)
        for col in ("source", "reason", "error"):
            failed.add_column(col, overflow="fold")
        for entry in report["failures"][:20]:
            failed.add_row(entry["source"], entry["reason"], str(entry["error"] or ""))
        console.print(failed)
        if len(report["failures"]) > 20:
            console.print(f"... and {len(report['failures']) - 20} more (see report.json)")
    console.print(
        f"status: [bold]{report['status']}[/bold]  report: {report['workspace']}/report.json"
    )


@app.command()
def build(
    workspace: Workspace_,
    catalog: Annotated[
        str,
        typer.Option(
            "--catalog",
            "--feed",
            "-c",
            help="Folder of images, CSV/TSV/JSONL file, or a YML / Google Merchant feed "
            "(file or http(s) URL, gzip allowed).",
        ),
    ],
    columns: Annotated[
        str | None, typer.Option(help="Column names, e.g. 'id=sku,title=name,image=photo'.")
    ] = None,
    model: Annotated[
        str, typer.Option(help="lite0, lite1, lite2, histogram or a .onnx file.")
    ] = "lite0",
    k: Annotated[int, typer.Option("-k", help="Similar products stored per product.")] = 20,
    batch_size: Annotated[int, typer.Option(help="Images per model batch.")] = 32,
    workers: Annotated[int, typer.Option(help="Threads decoding images.")] = 2,
    allow_private: Annotated[
        bool, typer.Option(help="Allow feed and image URLs on private/loopback addresses.")
    ] = False,
    index: Annotated[
        str, typer.Option(help="auto, exact, flat, hnsw or ivfpq (auto: exact below 50k).")
    ] = "auto",
    pca: Annotated[
        int | None, typer.Option(help="Reduce stored vectors to this many dimensions.")
    ] = None,
    quantize: Annotated[str | None, typer.Option(help="Store vectors as float16 or int8.")] = None,
    head: Annotated[
        str, typer.Option(help="auto: apply a trained head (lookalike train) if any; none.")
    ] = "auto",
    titles: Annotated[
        bool, typer.Option("--titles/--no-titles", help="Embed titles (hybrid, query by title).")
    ] = True,
    weights: Annotated[
        str | None, typer.Option(help="Default score weights, e.g. 'image=1,title=0.3'.")
    ] = None,
    aggregate: Annotated[
        str, typer.Option(help="Product similarity over its images: mean (vector) or max (pair).")
    ] = "mean",
    revalidate: Annotated[
        bool,
        typer.Option(
            help="Ask servers whether cached images changed (ETag/Last-Modified); "
            "--no-revalidate reuses cached images without any request."
        ),
    ] = True,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="One summary line; no progress.")
    ] = False,
) -> None:
    """Build or refresh a shop: read the catalog, fetch and embed images, compute top-K.

    Exit codes: 0 success, 3 partial (some images failed), 1 failure.
    """
    from lookalike.build import BuildOptions, build_workspace
    from lookalike.catalog.readers import ColumnMap
    from lookalike.recommend.filters import Weights

    _setup_logging(quiet)
    options = BuildOptions(
        model=model,
        k=k,
        batch_size=batch_size,
        workers=workers,
        progress=not quiet,
        columns=ColumnMap.parse(columns),
        allow_private=allow_private,
        index=index,
        pca=pca,
        quantize=quantize,
        head=head,
        titles=titles,
        weights=Weights.parse(weights),
        aggregate=aggregate,
        revalidate=revalidate,
    )
    report = build_workspace(workspace, catalog, options).to_dict()
    _render_build_report(report, quiet)
    raise typer.Exit({"ok": EXIT_OK, "partial": EXIT_PARTIAL}.get(report["status"], EXIT_FAILED))


@app.command()
def similar(
    workspace: Workspace_,
    product_id: Annotated[str | None, typer.Argument(help="A product id of the catalog.")] = None,
    image: Annotated[
        Path | None, typer.Option("--image", "-i", help="A photo not in the catalog.")
    ] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="Query by product title (exact, else nearest).")
    ] = None,
    k: Annotated[int, typer.Option("-k", help="How many similar products.")] = 10,
    category: Annotated[
        str | None, typer.Option(help="'any', 'same' (as the query) or a list 'a,b'.")
    ] = None,
    in_stock: Annotated[bool, typer.Option("--in-stock", help="In-stock products only.")] = False,
    min_price: Annotated[float | None, typer.Option(help="Lowest price.")] = None,
    max_price: Annotated[float | None, typer.Option(help="Highest price.")] = None,
    price_within: Annotated[
        str | None, typer.Option(help="Price relative to the query's, e.g. '0.5,2'.")
    ] = None,
    attr: Annotated[
        list[str] | None, typer.Option(help="Attribute equality, e.g. brand=acme (repeatable).")
    ] = None,
    same_attr: Annotated[
        list[str] | None, typer.Option(help="Attribute equal to the query's (repeatable).")
    ] = None,
    near_duplicate: Annotated[
        str | None, typer.Option(help="Drop products more similar than this; 'off' keeps them.")
    ] = None,
    keep_group: Annotated[
        bool, typer.Option("--keep-group", help="Keep variants of the query's group.")
    ] = False,
    diversity: Annotated[
        float | None, typer.Option(help="MMR lambda in (0,1]: lower = more varied.")
    ] = None,
    metric: Annotated[str, typer.Option(help="cosine, euclidean or manhattan.")] = "cosine",
    weights: Annotated[
        str | None, typer.Option(help="Score weights, e.g. 'image=1,title=0.5,attrs=0.2'.")
    ] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Show score components.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """Show the products most similar to a catalog product, a title or a new photo."""
    import dataclasses

    from lookalike.recommend.filters import Filters, Weights
    from lookalike.recommend.similar import Recommender

    if sum(x is not None for x in (product_id, image, title)) != 1:
        raise typer.BadParameter("give one of PRODUCT_ID, --image PATH or --title TEXT")
    if k < 1:
        raise typer.BadParameter("-k must be at least 1")
    filters = Filters.parse(
        category=category,
        in_stock=in_stock,
        min_price=min_price,
        max_price=max_price,
        price_within=price_within,
        attrs=attr,
        attrs_same=same_attr,
        near_duplicate=near_duplicate,
        exclude_group=not keep_group,
        diversity=diversity,
    )
    opts = {
        "filters": filters,
        "metric": metric,
        "weights": Weights.parse(weights) if weights else None,
        "explain": explain,
    }
    with Recommender(workspace) as rec:
        if near_duplicate is None:  # the threshold the workspace was built with
            threshold = rec.default_filters.near_duplicate
            opts["filters"] = dataclasses.replace(filters, near_duplicate=threshold)
        if image is not None:
            try:
                data = image.read_bytes()
            except OSError as exc:
                raise LookalikeError(f"cannot read {image}: {exc.strerror or exc}") from exc
            results = rec.similar_to_image(data, k, **opts)
            heading = f"similar to {image.name}"
        else:
            query = rec.find_by_title(title) if title is not None else rec.product(product_id or "")
            results = rec.similar(query.id, k, **opts)
            heading = f"similar to {query.id} · {query.title}"
            if not results:
                err_console.print(f"no similar products for {query.id!r} (no usable image?)")
    if as_json:
        console.print_json(json.dumps([r.to_dict() for r in results], ensure_ascii=False))
        return
    parts = sorted({name for r in results for name in (r.components or {})})
    table = Table(title=heading)
    for col in ("rank", "id", "title", "category", "price", "score", *parts):
        table.add_column(col, justify="left" if col in ("id", "title", "category") else "right")
    for r in results:
        price = "" if r.product.price is None else f"{r.product.price:g}"
        comps = [f"{(r.components or {}).get(name, 0.0):.4f}" for name in parts]
        table.add_row(
            str(r.rank),
            r.product.id,
            r.product.title,
            r.product.category,
            price,
            f"{r.score:.4f}",
            *comps,
        )
    console.print(table)


@app.command()
def export(
    workspace: Workspace_,
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl or csv.")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default stdout).")
    ] = None,
    k: Annotated[int, typer.Option("-k", help="Similar products per product.")] = 10,
) -> None:
    """Export every product's top-K for a shop back-end."""
    from lookalike.recommend.export import export_recommendations
    from lookalike.recommend.similar import Recommender

    with Recommender(workspace) as rec:
        count = export_recommendations(rec, output, fmt=fmt, k=k)
    if output is not None:
        err_console.print(f"wrote top-{k} of {count} products to {output}")


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _render_train_report(report: dict) -> None:
    table = Table(title="held-out quality: pretrained backbone -> trained (leave-one-out)")
    for col in ("held-out set", "images", "metric", "before", "after"):
        table.add_column(col, justify="left" if col in ("held-out set", "metric") else "right")
    for name, result in report["evaluation"].items():
        for metric in ("P@10", "mAP@10", "Recall@1"):
            before, after = result["before"].get(metric), result["after"].get(metric)
            if before is not None:
                label = name.replace("_", " ")
                table.add_row(label, str(result["before"]["n"]), metric, _fmt(before), _fmt(after))
    console.print(table)
    console.print(
        f"objective {_fmt(report['objective_before'])} -> {_fmt(report['objective_after'])}, "
        f"kept epoch {report['best_epoch']} of {len(report['history'])} "
        f"(monitor {report['monitor']}), {report['seconds']:.1f} s"
    )
    for note in report["notes"]:
        console.print(f"note: {note}")
    console.print(f"saved in {report['head_dir']}")


@app.command()
def train(
    workspace: Workspace_,
    method: Annotated[str, typer.Option(help="classifier or triplet.")] = "classifier",
    loss: Annotated[
        str, typer.Option(help="For --method triplet: triplet, contrastive or proxy.")
    ] = "triplet",
    epochs: Annotated[int, typer.Option(help="Maximum epochs (early stopping).")] = 30,
    dim: Annotated[int, typer.Option(help="Output dimension of the head.")] = 256,
    seed: Annotated[int, typer.Option(help="Random seed (runs are reproducible).")] = 0,
    finetune: Annotated[
        bool, typer.Option(help="Fine-tune the backbone's last blocks (CUDA GPU only).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train a projection head on the shop's catalog and report held-out quality."""
    from lookalike.train import TrainOptions, train_workspace

    _setup_logging(quiet)
    options = TrainOptions(
        method=method,
        loss=loss,
        epochs=epochs,
        dim=dim,
        seed=seed,
        finetune=finetune,
        progress=not quiet,
    )
    report = train_workspace(workspace, options).to_dict()
    _render_train_report(report)
    if not finetune:
        console.print(
            "run `lookalike build` on this workspace again to apply the head "
            "(no image is re-embedded)"
        )


@app.command()
def info(workspace: Workspace_) -> None:
    """Show a workspace's manifest and catalog counts."""
    from lookalike.workspace import Workspace

    ws = Workspace(workspace)
    manifest = ws.manifest()
    with ws.open_store() as store:
        stats = store.stats()
    console.print_json(json.dumps({"manifest": manifest, "catalog": stats}, ensure_ascii=False))


@app.command()
def serve(
    workspaces: Annotated[list[str], typer.Argument(help="One or more built workspaces (shops).")],
    host: Annotated[
        str, typer.Option(help="Address to bind (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    api_key: Annotated[
        str | None,
        typer.Option(
            help="Admin key for every shop's reload/stats (default: $LOOKALIKE_ADMIN_KEY; "
            "per-shop keys: $LOOKALIKE_API_KEYS=shop=key,...).",
        ),
    ] = None,
) -> None:
    """Serve the API, the browse page and the widget for one or more shops."""
    from lookalike.serve.app import run_server
    from lookalike.serve.settings import load_settings

    _setup_logging(quiet=False)
    settings = load_settings()
    if api_key:
        settings = settings.model_copy(update={"admin_key": api_key})
    run_server(workspaces, host=host, port=port, settings=settings)


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
        typer.Option(help="What is relevant: category[:DEPTH], identity[:COLUMN], pairs:FILE.csv."),
    ] = "category",
    k: Annotated[int, typer.Option("-k", "--k", help="Results per query.")] = 10,
    queries: Annotated[
        int, typer.Option(help="Seeded random sample of queries (0: every eligible product).")
    ] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the query sample and the bootstrap.")] = 0,
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

    _setup_logging(quiet)
    options = EvaluateOptions(
        k=k,
        queries=queries or None,
        seed=seed,
        truth=TruthSpec.parse(truth),
        compare=parse_compare(compare or []),
        n_boot=bootstrap,
        progress=not quiet,
    )
    evaluation = run_evaluation(workspace, options)
    path = write_report(evaluation, out)
    table = Table(
        title=f"evaluation of {evaluation.workspace} (relevant = {evaluation.truth.description})"
    )
    metrics = [f"P@{k}", f"mAP@{k}", f"NDCG@{k}", "Recall@1"]
    table.add_column("setting", no_wrap=True)
    for col in (*metrics, f"P@{k} ±", "coverage", "s"):
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
    if not quiet:
        console.print(table)
    console.print(f"report: {path}  numbers: {path.with_suffix('.json')}", soft_wrap=True)


@app.command()
def demo(
    workspace: Annotated[str, typer.Option(help="Where to build the demo shop.")] = "demo",
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Build only.")] = False,
    limit: Annotated[int | None, typer.Option(help="Use only the first N photos.")] = None,
) -> None:
    """Build the demo shop from the CC0 clothing photos and serve it."""
    from lookalike.build import BuildOptions, build_workspace
    from lookalike.catalog.demo import prepare_demo_catalog
    from lookalike.workspace import Workspace

    _setup_logging(quiet=False)
    ws = Workspace(workspace).create()
    catalog = prepare_demo_catalog(ws.root / "source", limit=limit)
    report = build_workspace(ws, catalog, BuildOptions()).to_dict()
    _render_build_report(report, quiet=True)
    if no_serve:
        return
    from lookalike.serve.app import run_server

    console.print(
        f"\n[bold green]Open http://{host}:{port}/[/bold green] to browse the demo shop "
        f"(API docs at http://{host}:{port}/docs). Ctrl+C stops."
    )
    run_server([str(ws.root)], host=host, port=port)


ab_app = typer.Typer(
    help="A/B tests of recommendation variants: start, pause, resume, stop, status, report.",
    no_args_is_help=True,
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
    from lookalike.serve.experiment_store import ExperimentStore
    from lookalike.serve.experiments import parse_variant
    from lookalike.workspace import Workspace

    ws = Workspace(workspace)
    ws.require_built()
    variants = [parse_variant(v) for v in variant or []]
    share = None if holdout is None else holdout / 100.0
    experiment = ExperimentStore(ws.root).start(name, variants, holdout=share, control=control)
    _render_ab_status([experiment])


def _ab_set(workspace: str, name: str, status: Literal["running", "paused", "stopped"]) -> None:
    from lookalike.serve.experiment_store import ExperimentStore
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
    from lookalike.serve.experiment_store import ExperimentStore
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
    from lookalike.serve.abreport import collect_report, write_report
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
                f"{_fmt_spec(r.lift, '+.1%')} [{_fmt_spec(r.lift_low, '+.1%')}, {_fmt_spec(r.lift_high, '+.1%')}]"
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


def main() -> None:
    """Console entry point: runs the app and turns project errors into one clear line."""
    import click

    try:
        rc = app(standalone_mode=False)
    except LookalikeError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}")
        sys.exit(EXIT_FAILED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        err_console.print("interrupted")
        sys.exit(130)
    sys.exit(rc if isinstance(rc, int) else EXIT_OK)


if __name__ == "__main__":
    main()
