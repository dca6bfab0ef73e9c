"""Per-record catalog problems: data, not exceptions, so a reader can go on and a check list them.

A reader reports a row it had to skip or an image reference it refused with
:meth:`CatalogFile.problem <lookalike.catalog.formats.source.CatalogFile.problem>`: the problem
is logged as a warning and handed to the caller's sink, if any (``lookalike catalog check``
collects them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Problem", "ProblemSink"]


@dataclass(frozen=True)
class Problem:
    """One problem of one record: ``where`` ("row 7", "line 31"), the product id if known."""

    where: str
    message: str
    product: str = ""

    def __str__(self) -> str:
        who = f" ({self.product})" if self.product else ""
        return f"{self.where}{who}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        """JSON-ready."""
        return {"where": self.where, "product": self.product, "message": self.message}


ProblemSink = Callable[[Problem], None]
