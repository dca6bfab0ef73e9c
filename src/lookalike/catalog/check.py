"""What a catalog holds, as a build would read it: counts, duplicates and every problem.

``lookalike catalog check`` feeds this the products of the build's own catalog reading (the
same reader, the same first-record-wins rule for a repeated id) without fetching or embedding
anything, so its numbers are the ones a build would start from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lookalike.catalog.formats.problems import Problem
from lookalike.catalog.models import Product, first_of_each_id

__all__ = ["CatalogCheck", "check_products"]

TOP_CATEGORIES = 10


@dataclass
class CatalogCheck:
    """The summary of one catalog; ``clean`` when it has products and no problem at all."""

    source: str
    products: int = 0
    records: int = 0  # records read, duplicates included
    images: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    categories: dict[str, Any] = field(default_factory=dict)
    prices: dict[str, Any] = field(default_factory=dict)
    availability: dict[str, int] = field(default_factory=dict)
    duplicates: list[dict[str, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """No problem, no duplicate, and at least one product."""
        return self.products > 0 and not self.problems and not self.duplicates

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "source": self.source,
            "clean": self.clean,
            "products": self.products,
            "records": self.records,
            "images": self.images,
            "groups": self.groups,
            "categories": self.categories,
            "prices": self.prices,
            "availability": self.availability,
            "duplicates": self.duplicates,
            "problems": [p.to_dict() for p in self.problems],
        }


class _Tally:
    """Running counts over the kept products (one pass, nothing kept but counters)."""

    def __init__(self) -> None:
        self.images_per_product: Counter[int] = Counter()
        self.group_sizes: Counter[str] = Counter()
        self.categories: Counter[str] = Counter()
        self.currencies: Counter[str] = Counter()
        self.prices: list[float] = []
        self.in_stock = 0

    def add(self, product: Product) -> None:
        self.images_per_product[len(product.images)] += 1
        if product.group_id:
            self.group_sizes[product.group_id] += 1
        self.categories[product.category] += 1
        if product.price is not None:
            self.prices.append(product.price)
            self.currencies[
                str(product.attrs.get("currency") or product.attrs.get("currencyId") or "")
            ] += 1
        self.in_stock += product.in_stock


def check_products(
    source: str, products: Iterable[Product], problems: list[Problem]
) -> CatalogCheck:
    """Summarise ``products`` (read with ``problems`` collecting the reader's problems)."""
    report = CatalogCheck(source=source)
    tally = _Tally()

    def duplicate(dropped: Product, kept_origin: str) -> None:
        report.duplicates.append({"id": dropped.id, "where": dropped.origin, "kept": kept_origin})

    for product in first_of_each_id(products, duplicate):
        report.products += 1
        tally.add(product)
    report.records = report.products + len(report.duplicates)
    report.problems = list(problems)
    if report.products == 0:
        report.problems.append(Problem(where="catalog", message="no products"))
    _fill(report, tally)
    return report


def _fill(report: CatalogCheck, tally: _Tally) -> None:
    per_product = tally.images_per_product
    total = sum(n * count for n, count in per_product.items())
    report.images = {
        "total": total,
        "products_without": per_product.get(0, 0),
        "max_per_product": max(per_product, default=0),
        "mean_per_product": round(total / report.products, 2) if report.products else 0.0,
        "per_product": {str(n): per_product[n] for n in sorted(per_product)},
    }
    sizes = tally.group_sizes
    report.groups = {
        "groups": sum(1 for size in sizes.values() if size > 1),
        "products_in_groups": sum(size for size in sizes.values() if size > 1),
        "largest": max(sizes.values(), default=0),
    }
    named = Counter({name: n for name, n in tally.categories.items() if name})
    report.categories = {
        "count": len(named),
        "products_without": tally.categories.get("", 0),
        "top": [[name, n] for name, n in named.most_common(TOP_CATEGORIES)],
    }
    prices = tally.prices
    report.prices = {
        "with_price": len(prices),
        "without": report.products - len(prices),
        "min": min(prices, default=None),
        "max": max(prices, default=None),
        "currencies": {c or "(none)": n for c, n in tally.currencies.most_common()},
    }
    report.availability = {
        "in_stock": tally.in_stock,
        "out_of_stock": report.products - tally.in_stock,
    }
