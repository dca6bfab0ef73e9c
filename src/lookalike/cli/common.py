"""Shared pieces of the ``lookalike`` command: the typer app, consoles, exit codes, logging."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="lookalike",
    help="Visually similar product recommendations from your shop's catalog.",
    no_args_is_help=False,  # a missing command is a usage error (exit 2), not the help page
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

# Exit codes (cron-friendly): 0 success, 1 failure (nothing changed, or no product got a vector),
# 2 usage error, 3 partial (built, but some images failed: see report.json).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            console.print(f"lookalike {version('lookalike')}", highlight=False)
        except PackageNotFoundError:
            console.print("lookalike (not installed as a package)")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Visually similar product recommendations from your shop's catalog."""


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
    if quiet:
        # Third-party progress bars (tqdm, e.g. an optional torch-based reference model) print
        # to stderr on their own; --quiet means the summary line only.
        os.environ["TQDM_DISABLE"] = "1"
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
