"""The transforms a build fitted on its catalog (``--whiten``, ``--expand``), read back from
the generation so queries land in the product vectors' space (``pipeline/transform.py``)."""

from __future__ import annotations

import numpy as np

from lookalike.embed.whiten import Whitening
from lookalike.recommend.expansion import Expansion, alpha_query_expansion
from lookalike.workspace import Workspace

__all__ = ["served_whitening", "served_expansion", "to_served_space"]


def served_whitening(ws: Workspace) -> Whitening | None:
    """The whitening the served generation applied, or None."""
    if not (ws.manifest().get("transform") or {}).get("whiten"):
        return None
    return Whitening.load(ws.whitening_path)


def served_expansion(ws: Workspace) -> Expansion | None:
    """The DBA / alpha-QE the served generation applied, or None."""
    return Expansion.from_record((ws.manifest().get("transform") or {}).get("expand"))


def to_served_space(ws: Workspace, x: np.ndarray) -> np.ndarray:
    """``(n, d)`` query vectors (after the head, if any) -> whitened and alpha-QE expanded
    against the served product vectors, as the build did; unchanged without transforms."""
    whitening = served_whitening(ws)
    if whitening is not None:
        x = whitening.apply(x)
    expansion = served_expansion(ws)
    if expansion is not None:
        served = ws.product_vectors.load(mmap=False)
        x = alpha_query_expansion(x, np.asarray(served.vectors), expansion.k, expansion.alpha)
    return x
