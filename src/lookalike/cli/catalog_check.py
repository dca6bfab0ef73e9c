"""``lookalike catalog check FILE_OR_URL``: read a catalog as a build would; change nothing."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from lookalike.cli.common import EXIT_OK, EXIT_PARTIAL, _setup_logging, app, console
from lookalike.cli.usage import option_values

if TYPE_CHECKING:
    from lookalike.catalog.check import CatalogCheck

catalog_app = typer.Typer(
    help="Catalog tools: check a catalog file or feed without building anything.",
    no_args_is_help=False,  # a missing command is a usage error (exit 2), not the help page
)
app.add_typer(catalog_app, name="catalog")

Format_ = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="Catalog format instead of detecting it: shopify, woocommerce, meta, csv, tsv, "
        "jsonl, yml, merchant, folder.",
    ),
]
MAX_LISTED = 50  # problems and duplicates printed in the table view (--json lists them all)


def checked_format(name: str | None) -> str | None:
    """``--format``'s value when it names a known format; a usage error (exit 2) otherwise."""
    from lookalike.catalog.formats import get_format
    from lookalike.errors import ConfigError

    if name is None:
        return None
    try:
        return get_format(name).name
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--format") from None


@catalog_app.command("check")
def catalog_check(
    source: Annotated[str, typer.Argument(help="Catalog folder, file or http(s) URL.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    format_: Format_ = None,
    columns: Annotated[
        str | None, typer.Option(help="Column names, e.g. 'id=sku,title=name,image=photo'.")
    ] = None,
    allow_private: Annotated[
        bool, typer.Option(help="Allow a feed URL on a private/loopback address.")
    ] = False,
) -> None:
    """Parse a catalog without fetching images or embedding: products, images per product,
    variant groups, categories, prices, availability, duplicates and every problem.

    Exit codes: 0 clean, 3 problems found, 1 unreadable catalog.
    """
    from lookalike.catalog.check import check_products
    from lookalike.catalog.formats import ColumnMap
    from lookalike.catalog.formats.problems import Problem
    from lookalike.pipeline.catalog import open_catalog
    from lookalike.pipeline.options import BuildOptions

    _setup_logging(quiet=True)
    # The problems are in the report: not repeated as log lines.
    logging.getLogger("lookalike.catalog.formats").setLevel(logging.ERROR)
    with option_values():
        options = BuildOptions(
            columns=ColumnMap.parse(columns),
            catalog_format=checked_format(format_),
            allow_private=allow_private,
        )
    problems: list[Problem] = []
    name, products = open_catalog(source, options, on_problem=problems.append)
    report = check_products(name, products, problems)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        _render(report)
    raise typer.Exit(EXIT_OK if report.clean else EXIT_PARTIAL)


def _render(report: CatalogCheck) -> None:
    table = Table(title=f"catalog {report.source}", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    images, prices, groups = report.images, report.prices, report.groups
    rows = [
        ("products", report.products),
        ("records read", report.records),
        ("duplicate ids", len(report.duplicates)),
        ("images", images["total"]),
        ("products without images", images["products_without"]),
        (
            "images per product (mean / max)",
            f"{images['mean_per_product']} / {images['max_per_product']}",
        ),
        (
            "variant groups (products in them)",
            f"{groups['groups']} ({groups['products_in_groups']})",
        ),
        ("categories", report.categories["count"]),
        ("products without category", report.categories["products_without"]),
        ("products with a price", prices["with_price"]),
        ("price range", _range(prices)),
        ("currencies", ", ".join(f"{c} {n}" for c, n in prices["currencies"].items()) or "-"),
        (
            "in stock / out of stock",
            f"{report.availability['in_stock']} / {report.availability['out_of_stock']}",
        ),
        ("problems", len(report.problems)),
    ]
    for what, value in rows:
        table.add_row(what, str(value))
    console.print(table)
    _listing(
        "duplicates (the first record is kept)",
        [f"{d['id']}: {d['where'] or '?'} repeats {d['kept'] or '?'}" for d in report.duplicates],
    )
    _listing("problems", [str(p) for p in report.problems])
    console.print("status: [bold]" + ("clean" if report.clean else "problems found") + "[/bold]")


def _range(prices: dict) -> str:
    if prices["min"] is None:
        return "-"
    return f"{prices['min']:g} - {prices['max']:g}"


def _listing(title: str, lines: list[str]) -> None:
    if not lines:
        return
    console.print(f"[bold]{title}[/bold]")
    for line in lines[:MAX_LISTED]:
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)  # one per line
    if len(lines) > MAX_LISTED:
        console.print(f"  ... and {len(lines) - MAX_LISTED} more (--json lists all)")
