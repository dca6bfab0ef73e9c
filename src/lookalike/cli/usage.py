"""Usage errors: one ``error:`` line, the usage hint, exit 2, whichever click typer uses.

typer >= 0.29 raises the exception classes of its vendored copy of click (``typer._click``);
earlier releases raise those of the ``click`` package. Both are caught, so a dependency
release never turns a usage error into a traceback again.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import typer
from rich.text import Text

from lookalike.cli.common import EXIT_USAGE, err_console

# Where the exception classes live: typer >= 0.29 (vendored click, Abort in typer.exceptions),
# then the click package that earlier typer releases use.
_CLICK_MODULES = ("typer._click.exceptions", "typer.exceptions", "click.exceptions")
_MAX_MESSAGE = 200  # characters of the user's input quoted back at most


@dataclass(frozen=True)
class ClickErrorTypes:
    """Exception classes of every click implementation present, by role."""

    usage: tuple[type[Exception], ...]
    click: tuple[type[Exception], ...]
    abort: tuple[type[BaseException], ...]


def _exception_modules() -> list[ModuleType]:
    modules = []
    for name in _CLICK_MODULES:
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            continue
    return modules


def _classes(modules: list[ModuleType], name: str) -> tuple[type[Exception], ...]:
    found = {getattr(m, name) for m in modules if isinstance(getattr(m, name, None), type)}
    return tuple(found)


def click_error_types() -> ClickErrorTypes:
    """The usage-error, click-error and abort classes of typer's click and of ``click``."""
    modules = _exception_modules()
    return ClickErrorTypes(
        usage=_classes(modules, "UsageError"),
        click=_classes(modules, "ClickException"),
        abort=_classes(modules, "Abort"),
    )


def usage_message(exc: Any) -> str:
    """The one-line reason of a usage error, with the user's input cut to 200 characters."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        return "missing command"
    message = " ".join(str(exc.format_message()).split())
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "…"
    return message or "invalid usage"


def report_usage_error(exc: Any) -> int:
    """Print ``error: …``, the usage line and where help is; return the usage exit code (2)."""
    ctx = getattr(exc, "ctx", None)
    line = Text.assemble(("error:", "bold red"), " ", usage_message(exc))
    err_console.print(line, highlight=False, soft_wrap=True)
    if ctx is not None:
        err_console.print(ctx.get_usage(), markup=False, highlight=False)
        help_hint = f"Try '{ctx.command_path} --help' for help."
        err_console.print(help_hint, markup=False, highlight=False)
    return EXIT_USAGE


@contextlib.contextmanager
def option_values() -> Iterator[None]:
    """Turn the command's values into options: a ``ConfigError`` raised here is a usage error
    (one ``error:`` line and the usage hint, exit 2), unlike one raised later by the work,
    which may be about the data (exit 1)."""
    from lookalike.errors import ConfigError

    try:
        yield
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
