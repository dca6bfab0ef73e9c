"""Catalog commands: build, similar, export, info, demo."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from lookalike.cli.catalog_check import Format_, checked_format
from lookalike.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    Workspace_,
    _setup_logging,
    app,
    console,
    err_console,
)
from lookalike.cli.usage import option_values
from lookalike.errors import LookalikeError


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
    for entry in report.get("stale", [])[:20]:
        console.print(f"stale (cached copy used): {entry['source']}: {entry['reason']}")
    for host, entry in report.get("hosts", {}).items():
        console.print(
            f"host {host}: failed {entry['failed_in_a_row']} times in a row, "
            f"{entry['skipped']} more URLs skipped"
        )
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
            help="Folder of images, CSV/TSV/JSONL file (Shopify, WooCommerce and Meta exports "
            "recognised), or a YML / Google Merchant feed (file or http(s) URL, gzip allowed).",
        ),
    ],
    columns: Annotated[
        str | None, typer.Option(help="Column names, e.g. 'id=sku,title=name,image=photo'.")
    ] = None,
    format_: Format_ = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="lite1 (new shops), lite0, lite2, feature options (lite0+gem, lite0+lite1), "
            "histogram, a .onnx file, or tuned (the shop's model from `lookalike train --method "
            "partial`); default: the shop's current model."
        ),
    ] = None,
    k: Annotated[int, typer.Option("-k", help="Similar products stored per product.")] = 20,
    batch_size: Annotated[
        int | None, typer.Option(help="Images per model batch (default: measured).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Threads decoding images (default: one per core).")
    ] = None,
    precision: Annotated[
        str, typer.Option(help="fp32, or int8: calibrated on the shop's photos, faster.")
    ] = "fp32",
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
    whiten: Annotated[
        float | None,
        typer.Option(help="PCA-whitening with this shrinkage, fitted on the catalog (e.g. 64)."),
    ] = None,
    expand: Annotated[
        str, typer.Option(help="none, or dba[:K[:ALPHA]]: DBA of the catalog + alpha-QE of photos.")
    ] = "none",
    revalidate: Annotated[
        bool,
        typer.Option(
            help="Ask servers whether cached images changed (ETag/Last-Modified); "
            "--no-revalidate reuses cached images without any request."
        ),
    ] = True,
    max_shrink: Annotated[
        float,
        typer.Option(
            help="Refuse to publish when products with vectors drop by more than this "
            "fraction (the previous build stays served)."
        ),
    ] = 0.2,
    allow_shrink: Annotated[
        bool, typer.Option("--allow-shrink", help="Publish even past --max-shrink.")
    ] = False,
    stale_grace: Annotated[
        float,
        typer.Option(
            help="Days an image that worked before keeps its cached copy when a refresh fails "
            "(HTTP error, timeout)."
        ),
    ] = 7.0,
    allow_local_paths: Annotated[
        Path | None,
        typer.Option(
            help="Also allow local image paths inside this folder (default: only "
            "inside the catalog's own folder)."
        ),
    ] = None,
    fetch_deadline: Annotated[
        float, typer.Option(help="Seconds per image URL, every attempt included.")
    ] = 30.0,
    host_failures: Annotated[
        int, typer.Option(help="Skip a host's remaining URLs after this many failures in a row.")
    ] = 20,
    engine: Annotated[
        str, typer.Option(help="Where fetch + embed run: local, or ray (the scale extra).")
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster (ray://HEAD:10001, auto); none: local Ray.")
    ] = None,
    ray_actors: Annotated[int, typer.Option(help="Ray embedding actors (one model each).")] = 1,
    ray_gpus: Annotated[float, typer.Option(help="GPUs per Ray embedding actor.")] = 0.0,
    store: Annotated[
        str | None,
        typer.Option(help="Serve from Milvus: milvus://HOST:PORT/collection or milvus-lite:PATH."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="One summary line; no progress.")
    ] = False,
) -> None:
    """Build or refresh a shop: read the catalog, fetch and embed images, compute top-K, and
    publish it as the shop's new generation.

    Exit codes: 0 success, 3 partial (some images failed), 1 failure (nothing published).
    """
    from lookalike.catalog.formats import ColumnMap
    from lookalike.catalog.http import FetchSettings
    from lookalike.cli.progressbar import progress_bars
    from lookalike.pipeline import BuildOptions, build_workspace
    from lookalike.recommend.expansion import Expansion
    from lookalike.recommend.filters import Weights

    with option_values():  # before logging is set up: a usage error changes nothing
        options = BuildOptions(
            model=model,
            precision=precision,
            k=k,
            batch_size=batch_size,
            workers=workers,
            columns=ColumnMap.parse(columns),
            catalog_format=checked_format(format_),
            allow_private=allow_private,
            index=index,
            pca=pca,
            quantize=quantize,
            head=head,
            titles=titles,
            weights=Weights.parse(weights),
            aggregate=aggregate,
            whiten=whiten,
            expand=Expansion.parse(expand),
            revalidate=revalidate,
            max_shrink=max_shrink,
            allow_shrink=allow_shrink,
            stale_grace_days=stale_grace,
            allow_local_paths=allow_local_paths,
            fetch=FetchSettings(deadline=fetch_deadline, host_failures=host_failures),
            engine=engine,
            ray_address=ray_address,
            ray_actors=ray_actors,
            ray_gpus=ray_gpus,
            store=store,
        )
    _setup_logging(quiet)
    with progress_bars(not quiet) as bar:
        options = replace(options, progress=bar)
        report = build_workspace(workspace, catalog, options).to_dict()
    _render_build_report(report, quiet)
    raise typer.Exit({"ok": EXIT_OK, "partial": EXIT_PARTIAL}.get(report["status"], EXIT_FAILED))


def _help(name: str) -> str:
    """The option's help: the query model's description of the field (one text everywhere)."""
    from lookalike.recommend.query import SimilarQuery

    return SimilarQuery.model_fields[name].description or ""


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
    k: Annotated[int | None, typer.Option("-k", help=_help("k"))] = None,
    category: Annotated[str | None, typer.Option(help=_help("category"))] = None,
    in_stock: Annotated[
        bool | None, typer.Option("--in-stock/--any-stock", help=_help("in_stock"))
    ] = None,
    min_price: Annotated[float | None, typer.Option(help=_help("min_price"))] = None,
    max_price: Annotated[float | None, typer.Option(help=_help("max_price"))] = None,
    price_within: Annotated[str | None, typer.Option(help=_help("price_within"))] = None,
    attr: Annotated[list[str] | None, typer.Option(help=_help("attr"))] = None,
    same_attr: Annotated[list[str] | None, typer.Option(help=_help("same_attr"))] = None,
    exclude: Annotated[list[str] | None, typer.Option(help=_help("exclude"))] = None,
    keep_group: Annotated[
        bool | None, typer.Option("--keep-group", help=_help("keep_group"))
    ] = None,
    near_duplicate: Annotated[str | None, typer.Option(help=_help("near_duplicate"))] = None,
    diversity: Annotated[float | None, typer.Option(help=_help("diversity"))] = None,
    metric: Annotated[str | None, typer.Option(help=_help("metric"))] = None,
    weights: Annotated[str | None, typer.Option(help=_help("weights"))] = None,
    threshold: Annotated[float | None, typer.Option(help=_help("threshold"))] = None,
    explain: Annotated[bool | None, typer.Option("--explain", help=_help("explain"))] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """Show the products most similar to a catalog product, a title or a new photo.

    The options are the query model every surface shares (API parameters, widget attributes);
    unset ones take the cli and defaults sections of the shop's shop.toml.
    """
    from lookalike.recommend.query import parse_query
    from lookalike.recommend.similar import Recommender
    from lookalike.recommend.steer import similar_for_product, similar_for_vector

    if sum(x is not None for x in (product_id, image, title)) != 1:
        raise typer.BadParameter("give one of PRODUCT_ID, --image PATH or --title TEXT")
    if k is not None and k < 1:
        raise typer.BadParameter("-k must be at least 1")
    values = dict(locals())
    query = parse_query(
        {name: values[name] for name in _QUERY_OPTIONS if values.get(name) is not None}
    )
    with Recommender(workspace) as rec:
        if image is not None:
            try:
                data = image.read_bytes()
            except OSError as exc:
                raise LookalikeError(f"cannot read {image}: {exc.strerror or exc}") from exc
            results = similar_for_vector(rec, rec.embed_image(data), query, "cli")
            heading = f"similar to {image.name}"
        else:
            found = rec.find_by_title(title) if title is not None else rec.product(product_id or "")
            results = similar_for_product(rec, found.id, query, "cli").results
            heading = f"similar to {found.id} · {found.title}"
            if not results:
                err_console.print(f"no similar products for {found.id!r} (no usable image?)")
    if as_json:
        console.print_json(json.dumps([r.to_dict() for r in results], ensure_ascii=False))
        return
    _render_similar(heading, results)


_QUERY_OPTIONS = (
    "k", "category", "in_stock", "min_price", "max_price", "price_within", "attr", "same_attr",
    "exclude", "keep_group", "near_duplicate", "diversity", "metric", "weights", "threshold",
    "explain",
)  # fmt: skip


def _render_similar(heading: str, results: list[Any]) -> None:
    parts = sorted({name for r in results for name in (r.components or {})})
    ruled = any(r.rules for r in results)
    table = Table(title=heading)
    columns = ("rank", "id", "title", "category", "price", "score", *parts)
    for col in (*columns, *(("rules",) if ruled else ())):
        left = col in ("id", "title", "category", "rules")
        table.add_column(col, justify="left" if left else "right")
    for r in results:
        price = "" if r.product.price is None else f"{r.product.price:g}"
        comps = [f"{(r.components or {}).get(name, 0.0):.4f}" for name in parts]
        row = [str(r.rank), r.product.id, r.product.title, r.product.category, price]
        row += [f"{r.score:.4f}", *comps, *((" ".join(r.rules),) if ruled else ())]
        table.add_row(*row)
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
