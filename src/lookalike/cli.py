"""The ``lookalike`` command. Thin: each subcommand parses options and calls one function.

Heavy libraries (torch, onnxruntime, faiss) are imported inside the functions that need them so
that ``lookalike --help`` starts fast.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lookalike.errors import LookalikeError

app = typer.Typer(
    name="lookalike",
    help="Visually similar product recommendations from your shop's catalog.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

# Exit codes (cron-friendly): 0 success, 1 failure, 2 usage error, 3 partial (some items failed).
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


def _render_build_report(report: dict, quiet: bool) -> None:
    if quiet:
        console.print(
            f"{report['status']}: {report['products']['total']} products, "
            f"{report['vectors']} with vectors, {report['images']['failed']} images failed"
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
        str, typer.Option("--catalog", "--feed", "-c", help="Folder of images, CSV/TSV/JSONL file.")
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
        bool, typer.Option(help="Allow image URLs on private/loopback addresses.")
    ] = False,
    index: Annotated[
        str, typer.Option(help="auto, exact, flat, hnsw or ivfpq (auto: exact below 50k).")
    ] = "auto",
    pca: Annotated[
        int | None, typer.Option(help="Reduce stored vectors to this many dimensions.")
    ] = None,
    quantize: Annotated[str | None, typer.Option(help="Store vectors as float16 or int8.")] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="One summary line; no progress.")
    ] = False,
) -> None:
    """Build or refresh a shop: read the catalog, fetch and embed images, compute top-K."""
    from lookalike.build import BuildOptions, build_workspace
    from lookalike.catalog.readers import ColumnMap

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
    k: Annotated[int, typer.Option("-k", help="How many similar products.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """Show the products most similar to a catalog product or to a new photo."""
    from lookalike.recommend.similar import Recommender

    if (product_id is None) == (image is None):
        raise typer.BadParameter("give either a PRODUCT_ID or --image PATH")
    if k < 1:
        raise typer.BadParameter("-k must be at least 1")
    with Recommender(workspace) as rec:
        if image is not None:
            try:
                data = image.read_bytes()
            except OSError as exc:
                raise LookalikeError(f"cannot read {image}: {exc.strerror or exc}") from exc
            results = rec.similar_to_image(data, k)
            title = f"similar to {image.name}"
        else:
            assert product_id is not None
            query = rec.product(product_id)
            results = rec.similar(product_id, k)
            title = f"similar to {query.id} · {query.title}"
            if not results:
                err_console.print(
                    f"product {product_id!r} has no usable image, so no similar products"
                )
    if as_json:
        console.print_json(json.dumps([r.to_dict() for r in results], ensure_ascii=False))
        return
    table = Table(title=title)
    for col, justify in (("rank", "right"), ("id", "left"), ("title", "left"), ("score", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in results:
        table.add_row(str(r.rank), r.product.id, r.product.title, f"{r.score:.4f}")
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
) -> None:
    """Serve the browse page and the API for one or more shops."""
    from lookalike.serve.app import run_server

    _setup_logging(quiet=False)
    run_server(workspaces, host=host, port=port)


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
