"""The serve and demo commands."""

from __future__ import annotations

from typing import Annotated

import typer

from lookalike.cli.common import (
    _setup_logging,
    app,
    console,
)


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
    run_server(workspaces, host=host, port=port, settings=settings, on_ready=announce_url)


def announce_url(url: str) -> None:
    """Print where the service listens; called only once the socket accepts connections."""
    console.print(
        f"\n[bold green]Open {url}[/bold green] to browse (API docs at {url}docs). Ctrl+C stops.",
        highlight=False,
    )
    console.file.flush()


@app.command()
def demo(
    workspace: Annotated[str, typer.Option(help="Where to build the demo shop.")] = "demo",
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Build only.")] = False,
    limit: Annotated[int | None, typer.Option(help="Use only the first N photos.")] = None,
) -> None:
    """Build the demo shop from the CC0 clothing photos and serve it."""
    from lookalike.catalog.demo import demo_photo_folder, prepare_demo_catalog
    from lookalike.cli.progressbar import progress_bars
    from lookalike.pipeline import BuildOptions, build_workspace
    from lookalike.workspace import Workspace

    _setup_logging(quiet=False)
    ws = Workspace(workspace).create()
    catalog = prepare_demo_catalog(ws.root / "source", limit=limit)
    photos = demo_photo_folder(catalog)  # the photos stay in ../shared (or the archive's folder)
    with progress_bars() as bar:
        options = BuildOptions(progress=bar, allow_local_paths=photos)
        report = build_workspace(ws, catalog, options).to_dict()
    from lookalike.cli.catalog import _render_build_report

    _render_build_report(report, quiet=True)
    if no_serve:
        return
    from lookalike.serve.app import run_server

    run_server([str(ws.root)], host=host, port=port, on_ready=announce_url)
