"""The ``lookalike`` command. Thin: each subcommand parses options and calls one function.

Commands live in small modules by area (``catalog``, ``serving``, ``training``, ``ab``) that
register on one typer app. Heavy libraries (onnxruntime, faiss) are imported inside the
functions that need them so that ``lookalike --help`` starts fast.
"""

from __future__ import annotations

import sys
from typing import Any

from lookalike.cli import (  # noqa: F401  (registers commands)
    ab,
    catalog,
    catalog_check,
    merchandising,
    serving,
    training,
)
from lookalike.cli.common import EXIT_FAILED, EXIT_OK, app, err_console
from lookalike.cli.usage import click_error_types, report_usage_error
from lookalike.errors import LookalikeError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the app and turns every error into one clear line.

    Usage errors (no command, unknown command or option, a missing or bad value) print an
    ``error:`` line and the usage hint and exit 2; project errors exit 1. Never a traceback.
    """
    errors = click_error_types()
    try:
        rc = app(args=argv, standalone_mode=False)
    except LookalikeError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        sys.exit(EXIT_FAILED)
    except errors.usage as exc:
        sys.exit(report_usage_error(exc))
    except errors.click as exc:
        shown: Any = exc  # click's exceptions have show(); the tuple's type says Exception
        shown.show()
        sys.exit(getattr(exc, "exit_code", EXIT_FAILED))
    except errors.abort + (KeyboardInterrupt,):
        err_console.print("interrupted")
        sys.exit(130)
    sys.exit(rc if isinstance(rc, int) else EXIT_OK)


if __name__ == "__main__":
    main()
