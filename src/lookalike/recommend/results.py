"""What the recommender answers: ranked ``Recommendation``s and where they came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from lookalike.catalog.models import Product
from lookalike.recommend.filters import DEFAULT_NEAR_DUPLICATE, Filters

__all__ = ["Answer", "Recommendation", "table_filters"]


@dataclass(frozen=True)
class Recommendation:
    """One recommended product and its score (higher is closer).

    The score is the cosine similarity for the default image-only ranking, minus the distance
    for the euclidean/manhattan metrics, and the weighted sum for hybrid weights. ``components``
    (when asked for, or hybrid) holds the weighted image/title/attrs terms; they sum to ``score``.
    """

    rank: int
    product: Product
    score: float
    components: dict[str, float] | None = None
    rules: tuple[str, ...] = ()  # the merchandising rules that touched it (``rules.py``)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: rank, score, components (when present) and the product's fields."""
        data = self.product.to_dict()
        data["image"] = self.product.images[0] if self.product.images else ""
        out: dict[str, Any] = {"rank": self.rank, "score": round(self.score, 6)}
        if self.components is not None:
            out["components"] = {k: round(v, 6) for k, v in self.components.items()}
        out["rules"] = list(self.rules)
        return {**out, **data}


class Answer(NamedTuple):
    """Recommendations and where they came from: ``precomputed`` (the top-K table), ``index``
    (a search over the vectors) or ``image`` (a new photo)."""

    results: list[Recommendation]
    source: str


def table_filters(manifest: dict[str, Any]) -> Filters:
    """The filters the build applied to the top-K table (self-only for an older workspace)."""
    conf = manifest.get("recommend")
    if not isinstance(conf, dict):
        return Filters(exclude_group=False, near_duplicate=None)
    return Filters(
        exclude_group=bool(conf.get("exclude_group", True)),
        near_duplicate=conf.get("near_duplicate", DEFAULT_NEAR_DUPLICATE),
    )
