"""Merchandising rules of a shop (``rules.json``, by hand or through the admin API).

Applied to a ranked list, in this order (each result lists the rules that touched it):

1. ``exclude``: ids never recommended.
2. ``min_score`` (or the query's ``threshold``): results whose similarity is below it are
   dropped; ``fallback`` then fills the list with ``popular`` (numeric attribute
   ``popularity_attr``, highest first) or ``newest`` (attribute ``newest_attr``, latest first,
   else the latest in the catalog) products of the query's category, or ``none``.
3. ``boosts``: a product whose attribute (or ``category``) equals ``value`` gets its score
   multiplied by ``factor`` (above 1 boosts, below 1 buries); the list is re-sorted.
4. ``max_sponsored_share``: at most that share of the list may be sponsored (a boost with
   ``sponsored: true``, or the product's ``sponsored`` attribute is true); the rest are moved
   below the others.
5. ``pins``: a product into a 1-based position, for one query product (``for_product``), for
   query products of one category (``for_category``), or for every query (neither).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lookalike.atomic import write_json_atomic
from lookalike.catalog.models import Product
from lookalike.catalog.store import normalize_title
from lookalike.errors import ConfigError
from lookalike.recommend.filters import attr_value
from lookalike.recommend.results import Recommendation

__all__ = ["Boost", "FallbackPool", "Pin", "Rules", "apply_rules", "load_rules", "save_rules"]

_TRUE = {"1", "true", "yes", "on"}


class Pin(BaseModel):
    """Put ``product_id`` at ``position`` (1-based) for the matching queries."""

    model_config = ConfigDict(extra="forbid")
    product_id: str = Field(min_length=1, max_length=512)
    position: int = Field(ge=1, le=100)
    for_product: str | None = Field(None, description="Only for this query product.")
    for_category: str | None = Field(None, description="Only for query products of it.")


class Boost(BaseModel):
    """Multiply the score of products with ``attr == value`` by ``factor`` (< 1 buries)."""

    model_config = ConfigDict(extra="forbid")
    attr: str = Field(min_length=1, max_length=100, description="'category' or any attribute.")
    value: str = Field(max_length=500)
    factor: float = Field(gt=0, le=100)
    sponsored: bool = Field(False, description="Counts towards max_sponsored_share.")


class Rules(BaseModel):
    """A shop's merchandising rules (empty: the ranking as it is)."""

    model_config = ConfigDict(extra="forbid")
    pins: list[Pin] = Field(default_factory=list, max_length=1000)
    boosts: list[Boost] = Field(default_factory=list, max_length=1000)
    exclude: list[str] = Field(default_factory=list, max_length=100_000)
    min_score: float | None = Field(None, ge=-1e6, le=1e6)
    fallback: Literal["popular", "newest", "none"] = "none"
    popularity_attr: str = "popularity"
    newest_attr: str = "created"
    max_sponsored_share: float | None = Field(None, ge=0, le=1)

    @property
    def empty(self) -> bool:
        """Whether no rule would change anything."""
        return (
            not (self.pins or self.boosts or self.exclude)
            and self.min_score is None
            and (self.max_sponsored_share is None)
        )

    def depth(self, k: int) -> int:
        """How many ranked results to fetch so the rules can still fill ``k``."""
        extra = len(self.exclude) + (k if self.boosts or self.min_score is not None else 0)
        return k + min(extra, 4 * k) + len(self.pins)


def load_rules(path: Path) -> Rules:
    """``rules.json`` (missing: no rules); ``ConfigError`` with the first problem when bad."""
    if not path.exists():
        return Rules()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return parse_rules(data, str(path))


def parse_rules(data: object, where: str = "rules") -> Rules:
    """Validate rules from JSON data; ``ConfigError`` naming the bad field."""
    try:
        return Rules.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        raise ConfigError(f"{where}: {loc}: {first.get('msg', 'invalid')}") from None


def save_rules(path: Path, rules: Rules) -> None:
    """Replace ``rules.json`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, rules.model_dump(mode="json"))


class FallbackPool:
    """Products per category, best first for ``popular`` and for ``newest`` (built once)."""

    def __init__(self, products: Iterable[Product], rules: Rules):
        by_category: dict[str, list[tuple[int, Product]]] = {}
        for order, product in enumerate(products):
            by_category.setdefault(attr_value(product, "category"), []).append((order, product))
        self._popular = {c: _sorted(r, rules.popularity_attr, True) for c, r in by_category.items()}
        self._newest = {c: _sorted(r, rules.newest_attr, False) for c, r in by_category.items()}

    def candidates(self, mode: str, category: str) -> list[Product]:
        """The category's products in fallback order (``[]`` for ``none``)."""
        table = self._popular if mode == "popular" else self._newest if mode == "newest" else {}
        return table.get(normalize_title(category), [])


def _sorted(rows: list[tuple[int, Product]], attr: str, numeric: bool) -> list[Product]:
    def key(row: tuple[int, Product]) -> tuple[float | str, int]:
        order, product = row
        raw = product.attrs.get(attr)
        if numeric:
            try:
                value = float(raw) if raw is not None else -math.inf
            except (TypeError, ValueError):
                value = -math.inf
            return (-value if math.isfinite(value) else math.inf, order)
        return (str(raw or ""), order)

    if numeric:
        return [p for _, p in sorted(rows, key=key)]
    # newest: the latest value first, then the latest in the catalog
    return [p for _, p in sorted(rows, key=key, reverse=True)]


def _tag(rec: Recommendation, tag: str, score: float | None = None) -> Recommendation:
    return replace(rec, rules=(*rec.rules, tag), score=rec.score if score is None else score)


def _sponsored(rec: Recommendation) -> bool:
    if any(t.startswith("sponsored:") for t in rec.rules):
        return True
    return str(rec.product.attrs.get("sponsored", "")).strip().lower() in _TRUE


def _boosted(results: list[Recommendation], boosts: list[Boost]) -> list[Recommendation]:
    out = []
    for rec in results:
        for boost in boosts:
            if attr_value(rec.product, boost.attr) != normalize_title(boost.value):
                continue
            score = rec.score * boost.factor if rec.score >= 0 else rec.score / boost.factor
            kind = "sponsored" if boost.sponsored else "boost" if boost.factor >= 1 else "bury"
            rec = _tag(rec, f"{kind}:{boost.attr}={boost.value}*{boost.factor:g}", score)
        out.append(rec)
    return sorted(out, key=lambda r: -r.score)  # stable: ties keep the similarity order


def _capped(results: list[Recommendation], share: float | None, k: int) -> list[Recommendation]:
    if share is None:
        return results
    allowed = math.floor(share * k + 1e-9)
    kept, demoted = [], []
    for rec in results:
        if _sponsored(rec):
            if allowed <= 0:
                demoted.append(_tag(rec, "cap:sponsored"))
                continue
            allowed -= 1
        kept.append(rec)
    return kept + demoted


def apply_rules(
    results: list[Recommendation],
    rules: Rules,
    *,
    query: Product | None,
    k: int,
    threshold: float | None = None,
    fallback: Callable[[str, str], list[Product]] | None = None,
    lookup: Callable[[list[str]], Mapping[str, Product]] | None = None,
    eligible: Callable[[Product], bool] | None = None,
) -> list[Recommendation]:
    """``results`` (best first) steered by ``rules``; at most ``k``, ranks renumbered.

    ``fallback(mode, category)`` lists fallback candidates, ``lookup(ids)`` finds pinned
    products, ``eligible`` is the query's filter (fallback products must pass it too).
    """
    gone = set(rules.exclude) | ({query.id} if query is not None else set())
    out = [r for r in results if r.product.id not in gone]
    minimum = threshold if threshold is not None else rules.min_score
    dropped = 0
    if minimum is not None:
        dropped = sum(r.score < minimum for r in out)
        out = [r for r in out if r.score >= minimum]
    if rules.boosts:
        out = _boosted(out, rules.boosts)
    if dropped and rules.fallback != "none" and fallback is not None and query is not None:
        have = {r.product.id for r in out} | gone
        for product in fallback(rules.fallback, query.category):
            if len(out) >= k:
                break
            if product.id in have or (eligible is not None and not eligible(product)):
                continue
            out.append(Recommendation(0, product, 0.0, None, (f"fallback:{rules.fallback}",)))
            have.add(product.id)
    out = _capped(out, rules.max_sponsored_share, k)
    out = _pinned(out, rules, query, lookup)
    return [replace(r, rank=i) for i, r in enumerate(out[:k], start=1)]


def _pinned(
    results: list[Recommendation],
    rules: Rules,
    query: Product | None,
    lookup: Callable[[list[str]], Mapping[str, Product]] | None,
) -> list[Recommendation]:
    pins = [p for p in rules.pins if _pin_applies(p, query)]
    if not pins or lookup is None:
        return results
    found = lookup([p.product_id for p in pins])
    out = list(results)
    for pin in sorted(pins, key=lambda p: p.position):
        product = found.get(pin.product_id)
        if product is None or (query is not None and product.id == query.id):
            continue
        current = next((r for r in out if r.product.id == pin.product_id), None)
        if current is not None:
            out.remove(current)
        else:
            current = Recommendation(0, product, 0.0)
        out.insert(min(pin.position - 1, len(out)), _tag(current, f"pin:{pin.position}"))
    return out


def _pin_applies(pin: Pin, query: Product | None) -> bool:
    if pin.for_product is not None:
        return query is not None and query.id == pin.for_product
    if pin.for_category is not None:
        category = normalize_title(pin.for_category)
        return query is not None and attr_value(query, "category") == category
    return True
