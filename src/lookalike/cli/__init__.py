"""The ``lookalike`` command. Thin: each subcommand parses options and calls one function.

Commands live in small modules by area (``catalog``, ``serving``, ``training``, ``ab``) that
register on one typer app. Heavy libraries (torch, onnxruntime, faiss) are imported inside the
functions that need them so that ``lookalike --help`` starts fast.
"""

from __future__ import annotations

import sys

from lookalike.cli import ab, catalog, serving, training  # noqa: F401  (registers commands)
from lookalike.cli.common import EXIT_FAILED, EXIT_OK, app, err_console
from lookalike.errors import LookalikeError

__all__ = ["app", "main"]


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
