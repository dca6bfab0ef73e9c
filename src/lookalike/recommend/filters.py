"""What a shop can actually recommend: filters, default exclusions, and score weights.

``Filters`` is the per-query post-processing (category, price, stock, attributes, group and
near-duplicate exclusion, diversity); ``Weights`` mixes the image, title and attribute scores.
Both are frozen dataclasses validated at construction, and both parse the strings an HTTP query
or a command line gives (``Filters.parse(category="same", price_within="0.5,2")``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from lookalike.catalog.models import Product
from lookalike.catalog.store import normalize_title
from lookalike.errors import ConfigError
from lookalike.recommend.exclusions import DEFAULT_NEAR_DUPLICATE, Exclusions
from lookalike.textutil import parse_bool, parse_pairs

__all__ = ["Filters", "Weights", "DEFAULT_NEAR_DUPLICATE", "attr_value"]


def attr_value(product: Product, key: str) -> str:
    """A product's value for ``key`` (``category`` or a custom attribute), normalised for
    comparison (case, accents width and spacing ignored); ``""`` when it has none."""
    value = product.category if key == "category" else product.attrs.get(key)
    return "" if value is None else normalize_title(str(value))


def _float(name: str, value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number, got {value!r}") from exc
    if math.isnan(number) or math.isinf(number):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return number


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, str) and not value.strip():
        return False  # an empty query parameter: the filter is off
    try:
        return parse_bool(value)
    except ConfigError:
        raise ConfigError(f"{name} must be true or false, got {value!r}") from None


def _pairs(name: str, value: Any) -> dict[str, str]:
    """``"brand=acme,color=red"``, a list of ``"k=v"`` or a mapping -> dict."""
    return parse_pairs(value, what=f"{name} as key=value")


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(s for s in (str(i).strip() for i in items) if s)


@dataclass(frozen=True, kw_only=True)
class Filters:
    """Which products may be recommended for a query, and how the list is re-ranked.

    ``category``: ``"any"``, ``"same"`` (as the query product) or ``"a,b,c"`` (one of them).
    ``relative_price=(lo, hi)`` keeps prices within ``lo..hi`` times the query's price.
    ``attrs`` must equal the given values, ``attrs_same`` the query product's values
    (compared case- and spacing-insensitively). ``near_duplicate`` drops products whose image
    similarity (cosine) to the query product is above it: the same photo under another SKU
    (group and near-duplicate exclusion need a query product; a bare photo query keeps them).
    ``diversity`` is the MMR lambda in (0, 1]: 1 is the plain ranking, lower trades relevance
    for variety. Products without a price fail every price filter.
    """

    category: str = "any"
    min_price: float | None = None
    max_price: float | None = None
    relative_price: tuple[float, float] | None = None
    in_stock: bool = False
    attrs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    attrs_same: tuple[str, ...] = ()
    exclude_group: bool = True
    near_duplicate: float | None = DEFAULT_NEAR_DUPLICATE
    diversity: float | None = None

    def __post_init__(self) -> None:
        category = ",".join(s.strip() for s in self.category.split(",") if s.strip()) or "any"
        object.__setattr__(self, "category", category)
        object.__setattr__(self, "attrs", MappingProxyType(dict(self.attrs)))
        object.__setattr__(self, "attrs_same", tuple(self.attrs_same))
        for name in ("min_price", "max_price"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{name} must be >= 0, got {value}")
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise ConfigError(f"min_price {self.min_price} is above max_price {self.max_price}")
        if self.relative_price is not None:
            lo, hi = (float(v) for v in self.relative_price)
            if not 0 <= lo <= hi:
                raise ConfigError(f"relative_price needs 0 <= low <= high, got {lo}, {hi}")
            object.__setattr__(self, "relative_price", (lo, hi))
        self.exclusions  # noqa: B018 - validates near_duplicate
        if self.diversity is not None and not 0.0 < self.diversity <= 1.0:
            raise ConfigError(f"diversity (MMR lambda) must be in (0, 1], got {self.diversity}")

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.attrs.items())) + tuple(self._key()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Filters):
            return NotImplemented
        return self._key() == other._key() and dict(self.attrs) == dict(other.attrs)

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(self) if f.name != "attrs")

    @classmethod
    def parse(cls, **params: Any) -> Filters:
        """From strings as the HTTP API or the CLI get them; ``ConfigError`` on bad values.

        Keys: ``category``, ``min_price``, ``max_price``, ``relative_price`` (alias
        ``price_within``: ``"0.5,2"``), ``in_stock``, ``attrs`` (``"brand=acme,color=red"`` or a
        list of ``k=v``; alias ``attr``), ``attrs_same`` (alias ``same_attr``), ``exclude_group``,
        ``near_duplicate`` (``"none"``/``"off"`` keeps them), ``diversity``. ``None`` means the
        default.
        """
        aliases = {"price_within": "relative_price", "attr": "attrs", "same_attr": "attrs_same"}
        params = {aliases.get(k, k): v for k, v in params.items() if v is not None}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(f"unknown filter(s): {', '.join(unknown)}")
        out: dict[str, Any] = {}
        if "category" in params:
            out["category"] = str(params["category"]).strip() or "any"
        for name in ("min_price", "max_price"):
            if name in params:
                out[name] = _float(name, params[name])
        if "relative_price" in params:
            value = params["relative_price"]
            parts = value.split(",") if isinstance(value, str) else list(value)
            if len(parts) != 2:
                raise ConfigError(f"relative_price expects 'low,high', got {value!r}")
            lo, hi = (_float("relative_price", p) for p in parts)
            if lo is None or hi is None:
                raise ConfigError(f"relative_price expects 'low,high', got {value!r}")
            out["relative_price"] = (lo, hi)
        for name in ("in_stock", "exclude_group"):
            if name in params:
                out[name] = _bool(name, params[name])
        if "attrs" in params:
            out["attrs"] = _pairs("attrs", params["attrs"])
        if "attrs_same" in params:
            out["attrs_same"] = _names(params["attrs_same"])
        if "near_duplicate" in params:
            value = params["near_duplicate"]
            off = isinstance(value, str) and value.strip().lower() in {"none", "off", "keep"}
            out["near_duplicate"] = None if off else _float("near_duplicate", value)
        if "diversity" in params:
            out["diversity"] = _float("diversity", params["diversity"])
        return cls(**out)

    @property
    def exclusions(self) -> Exclusions:
        """The group / near-duplicate part of these filters (see ``exclusions.py``)."""
        return Exclusions(exclude_group=self.exclude_group, near_duplicate=self.near_duplicate)

    @property
    def needs_query_product(self) -> bool:
        """Whether these filters compare candidates with the query product."""
        return self.category == "same" or self.relative_price is not None or bool(self.attrs_same)

    def predicate(self, query: Product | None) -> Callable[[Product], bool]:
        """A test ``product -> eligible`` for a query product (``None``: a bare image/vector).

        Group exclusion and near-duplicates are not part of it (they need the query's group
        and vector, see ``Recommender``). ``ConfigError`` when a filter needs the query product
        and there is none.
        """
        if query is None and self.needs_query_product:
            raise ConfigError(
                "category=same, relative price and same-attribute filters need a query product"
            )
        categories: set[str] | None = None
        if self.category == "same":
            assert query is not None
            categories = {attr_value(query, "category")}
        elif self.category != "any":
            categories = {normalize_title(c) for c in self.category.split(",")}
        lo, hi = self.min_price, self.max_price
        if self.relative_price is not None:
            assert query is not None
            if query.price is None:
                raise ConfigError(f"product {query.id!r} has no price: relative price impossible")
            rel_lo, rel_hi = (query.price * f for f in self.relative_price)
            lo = rel_lo if lo is None else max(lo, rel_lo)
            hi = rel_hi if hi is None else min(hi, rel_hi)
        wanted = {k: normalize_title(v) for k, v in self.attrs.items()}
        if query is not None:
            wanted.update({k: attr_value(query, k) for k in self.attrs_same})
        in_stock = self.in_stock

        def eligible(product: Product) -> bool:
            if categories is not None and attr_value(product, "category") not in categories:
                return False
            if lo is not None or hi is not None:
                price = product.price
                if price is None or (lo is not None and price < lo - 1e-9):
                    return False
                if hi is not None and price > hi + 1e-9:
                    return False
            if in_stock and not product.in_stock:
                return False
            return all(attr_value(product, k) == v for k, v in wanted.items())

        return eligible


@dataclass(frozen=True, kw_only=True)
class Weights:
    """Weights of the final score ``image*s_image + title*s_title + attrs*s_attrs``.

    ``s_image`` is the image cosine similarity, ``s_title`` the title-embedding cosine and
    ``s_attrs`` the attribute match (see ``lookalike.recommend.hybrid.attribute_match``).
    """

    image: float = 1.0
    title: float = 0.0
    attrs: float = 0.0

    def __post_init__(self) -> None:
        for name in ("image", "title", "attrs"):
            value = float(getattr(self, name))
            if math.isnan(value) or math.isinf(value) or value < 0:
                raise ConfigError(f"weight {name} must be a finite number >= 0, got {value}")
            object.__setattr__(self, name, value)
        if self.image == self.title == self.attrs == 0:
            raise ConfigError("at least one weight must be above 0")

    @property
    def image_only(self) -> bool:
        """Whether only the image score counts (the precomputed table's ranking)."""
        return self.title == 0 and self.attrs == 0

    def as_dict(self) -> dict[str, float]:
        """``{"image": ..., "title": ..., "attrs": ...}``."""
        return {"image": self.image, "title": self.title, "attrs": self.attrs}

    def __str__(self) -> str:
        return ",".join(f"{k}={v:g}" for k, v in self.as_dict().items())

    @classmethod
    def parse(cls, text: str | Mapping[str, Any] | None) -> Weights:
        """``"image=1,title=0.5"`` (unnamed weights keep their default; a mapping works too)."""
        if text is None or (isinstance(text, str) and not text.strip()):
            return cls()
        pairs = _pairs("weights", text)
        unknown = sorted(set(pairs) - {"image", "title", "attrs"})
        if unknown:
            raise ConfigError(f"unknown weight(s) {', '.join(unknown)}: use image, title, attrs")
        values: dict[str, float] = {}
        for key, raw in pairs.items():
            number = _float(f"weight {key}", raw)
            if number is None:
                raise ConfigError(f"weight {key} needs a number")
            values[key] = number
        return cls(**values)
