"""Cells of a platform export by column name: case-insensitive, with the names a platform has
used over time (Shopify renamed ``Variant SKU`` to ``SKU``, ``Handle`` to ``URL handle``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["Columns"]


class Columns:
    """The header of an export, to find a column by any of its names."""

    def __init__(self, header: Iterable[str], prefix: str = "") -> None:
        self._by_name: dict[str, str] = {}
        for column in header:
            name = column.strip().lower()
            if prefix and name.startswith(prefix):  # Merchant / Meta "g:price"
                name = name[len(prefix) :]
            self._by_name.setdefault(name, column)

    def find(self, *names: str) -> str | None:
        """The header's column for the first of ``names`` it has (names in lower case)."""
        for name in names:
            if name in self._by_name:
                return self._by_name[name]
        return None

    def has(self, *names: str) -> bool:
        """Whether the header has any of ``names``."""
        return self.find(*names) is not None

    def cell(self, row: Mapping[str, str | None], *names: str) -> str:
        """The stripped cell of the first of ``names`` that is non-empty in ``row``."""
        for name in names:
            column = self._by_name.get(name)
            value = row.get(column) if column is not None else None
            if value is not None and value.strip():
                return value.strip()
        return ""

    def used(self, *names: str) -> set[str]:
        """The header columns behind ``names`` (to leave them out of the attributes)."""
        return {self._by_name[name] for name in names if name in self._by_name}
