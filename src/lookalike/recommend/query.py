"""One query model for similar-product requests: the CLI options, the API query parameters, the
browse page and the widget attributes are all this schema.

Every field is optional: ``None`` means "not given", so the shop's defaults (``shop.toml``, see
``shopconfig.py``) and then the built-in defaults apply. ``SimilarQuery.with_defaults`` fills
the unset fields; ``filters`` / ``weights`` turn it into what the ``Recommender`` takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lookalike.errors import ConfigError
from lookalike.index.exact import METRICS, check_metric
from lookalike.recommend.filters import Filters, Weights

__all__ = ["MAX_K", "QUERY_FIELDS", "SimilarQuery", "SimilarQueryParams", "parse_query"]

MAX_K = 100

Strategy = Literal["average_vector", "best_score"]


def _listify(value: Any) -> Any:
    """``"a,b"`` or ``["a", "b,c"]`` -> ``["a", "b", "c"]`` (query strings and CLI lists)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    out = [s.strip() for item in items for s in str(item).split(",")]
    return [s for s in out if s]


class SimilarQuery(BaseModel):
    """What a shop (or a shopper) asks of similar products. Unset fields take the defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: int | None = Field(None, ge=1, le=MAX_K, description="How many products (1-100).")
    category: str | None = Field(
        None,
        max_length=500,
        description="'any', 'same' (as the query product) or a list of categories 'a,b'.",
    )
    min_price: float | None = Field(None, ge=0, description="Lowest price (absolute band).")
    max_price: float | None = Field(None, ge=0, description="Highest price (absolute band).")
    price_within: str | None = Field(
        None,
        max_length=50,
        description="Price band relative to the query product's price: 'low,high' factors, "
        "e.g. '0.5,2'.",
    )
    in_stock: bool | None = Field(None, description="Only products in stock.")
    attr: list[str] | None = Field(
        None,
        description="Attribute equality 'name=value' for any catalog attribute "
        "(repeatable, or comma-separated).",
    )
    same_attr: list[str] | None = Field(
        None,
        description="Attributes that must equal the query product's value, e.g. 'brand' "
        "(repeatable, or comma-separated).",
    )
    exclude: list[str] | None = Field(
        None, description="Product ids never to recommend (repeatable, or comma-separated)."
    )
    keep_group: bool | None = Field(
        None, description="Keep the other variants of the query's group (excluded by default)."
    )
    near_duplicate: str | None = Field(
        None,
        max_length=20,
        description="Drop products whose image cosine to the query is above this; 'off' keeps "
        "near-duplicates (default: the threshold the workspace was built with).",
    )
    diversity: float | None = Field(
        None, gt=0, le=1, description="MMR lambda in (0, 1]: lower trades relevance for variety."
    )
    metric: str | None = Field(None, description=f"One of {', '.join(METRICS)}.")
    weights: str | None = Field(
        None,
        max_length=100,
        description="Score weights 'image=1,title=0.5,attrs=0.2' (default: the build's).",
    )
    threshold: float | None = Field(
        None,
        ge=-1e6,
        le=1e6,
        description="Minimum score: results below it are dropped (and replaced by the shop's "
        "fallback, see rules).",
    )
    explain: bool | None = Field(None, description="Score components and the rules applied.")

    @field_validator("attr", "same_attr", "exclude", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _listify(value)

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str | None) -> str | None:
        return None if value is None else check_metric(value)

    def with_defaults(self, *layers: Mapping[str, Any]) -> SimilarQuery:
        """This query with its unset fields taken from ``layers`` (first layer wins)."""
        given = self.model_dump(exclude_none=True)
        merged: dict[str, Any] = {}
        for layer in reversed(layers):
            merged.update({k: v for k, v in layer.items() if v is not None})
        return parse_query({**merged, **given})

    @property
    def size(self) -> int:
        """``k`` or the default 10."""
        return self.k or 10

    def filters(self, near_duplicate: float | None) -> Filters | None:
        """The ``Filters`` of this query, ``None`` when it sets no filter at all (the shop's
        default filters apply and the top-K table can answer). ``near_duplicate`` is the
        workspace's threshold, used when the query does not name one."""
        given = {
            "category": self.category,
            "min_price": self.min_price,
            "max_price": self.max_price,
            "price_within": self.price_within,
            "in_stock": self.in_stock,
            "attrs": self.attr,
            "attrs_same": self.same_attr,
            "near_duplicate": self.near_duplicate,
            "exclude_group": None if self.keep_group is None else not self.keep_group,
            "diversity": self.diversity,
        }
        given = {k: v for k, v in given.items() if v is not None}
        if not given:
            return None
        if "near_duplicate" not in given:
            given["near_duplicate"] = "off" if near_duplicate is None else near_duplicate
        return Filters.parse(**given)

    def weights_or(self, default: Weights) -> Weights:
        """The query's weights, or ``default``."""
        return Weights.parse(self.weights) if self.weights else default


class SimilarQueryParams(SimilarQuery):
    """The same fields as HTTP query parameters, beside a route's own (``visitor``, ``title``):
    parameters outside the model are the route's, not an error."""

    model_config = ConfigDict(extra="ignore", frozen=True)


QUERY_FIELDS = tuple(SimilarQuery.model_fields)


def parse_query(values: Mapping[str, Any]) -> SimilarQuery:
    """A ``SimilarQuery`` from strings or values; ``ConfigError`` with a one-line reason."""
    try:
        return SimilarQuery.model_validate(dict(values))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "query"
        raise ConfigError(f"{where}: {first.get('msg', 'invalid value')}") from None
