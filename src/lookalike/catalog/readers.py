"""Catalog readers: a folder of images, CSV/TSV and JSONL files, each yielding ``Product``s.

XML feeds (YML, Google Merchant), URLs and gzip live in :mod:`lookalike.catalog.feeds`;
:func:`read_catalog` dispatches to them.

Readers stream (one row at a time) so a large catalog never sits in memory. Column names are
configurable with ``ColumnMap``; every column that is not mapped becomes a product attribute.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.catalog.models import Product
from lookalike.errors import CatalogError

if TYPE_CHECKING:
    from lookalike.catalog.http import FetchSettings

__all__ = [
    "ColumnMap",
    "IMAGE_EXTENSIONS",
    "read_catalog",
    "read_folder",
    "read_csv",
    "read_jsonl",
    "parse_price",
    "parse_bool",
    "resolve_image_source",
]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})

# Several images in one cell are separated by "|", ";" or newlines (commas occur in URLs).
_IMAGE_SPLIT = re.compile(r"[|;\n]+")
_EXTRA_IMAGE_COLUMN = re.compile(r"^(image|images|picture|photo)[_ ]?\d+$|^additional_image", re.I)
_TRUE = {"1", "true", "yes", "y", "t", "in stock", "in_stock", "instock", "available", "да"}
_FALSE = {
    "0",
    "false",
    "no",
    "n",
    "f",
    "out of stock",
    "out_of_stock",
    "outofstock",
    "нет",
    "unavailable",
    "preorder",
    "discontinued",
}


@dataclass(frozen=True)
class ColumnMap:
    """Which catalog column holds which product field. ``None`` means "guess from aliases"."""

    id: str | None = None
    title: str | None = None
    image: str | None = None
    category: str | None = None
    price: str | None = None
    in_stock: str | None = None
    url: str | None = None
    group_id: str | None = None
    aliases: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {
            "id": ("id", "sku", "product_id", "item_id", "itemid", "offer_id", "article"),
            "title": ("title", "name", "product_name", "product_title"),
            "image": (
                "image",
                "images",
                "image_url",
                "image_path",
                "image_link",
                "picture",
                "photo",
                "img",
                "path",
                "file",
                "filename",
            ),
            "category": ("category", "product_type", "categories", "type", "label", "class"),
            "price": ("price", "cost", "sale_price"),
            "in_stock": ("in_stock", "instock", "available", "availability", "stock"),
            "url": ("url", "link", "product_url", "page_url"),
            "group_id": ("group_id", "item_group_id", "parent_id", "model_id"),
        }
    )

    @classmethod
    def parse(cls, spec: str | None) -> ColumnMap:
        """Build from ``"id=sku,title=name,image=photo_url"`` (the CLI's ``--columns``)."""
        if not spec:
            return cls()
        values: dict[str, str] = {}
        for part in spec.split(","):
            key, sep, column = part.partition("=")
            key, column = key.strip(), column.strip()
            if not sep or not column or key not in _FIELDS:
                raise CatalogError(
                    f"bad column mapping {part!r}: use FIELD=COLUMN with FIELD one of "
                    f"{', '.join(_FIELDS)}"
                )
            values[key] = column
        return cls(**values)

    def resolve(self, header: list[str]) -> dict[str, str]:
        """Map each product field to the header column that holds it (missing fields left out)."""
        lower = {h.strip().lower(): h for h in header}
        resolved: dict[str, str] = {}
        for name in _FIELDS:
            explicit = getattr(self, name)
            if explicit is not None:
                if explicit not in header and explicit.lower() not in lower:
                    raise CatalogError(
                        f"column {explicit!r} (for {name}) not found; columns are: "
                        f"{', '.join(header)}"
                    )
                resolved[name] = explicit if explicit in header else lower[explicit.lower()]
                continue
            for alias in self.aliases.get(name, ()):
                if alias in lower and lower[alias] not in resolved.values():
                    resolved[name] = lower[alias]
                    break
        if "id" not in resolved:
            raise CatalogError(
                "the catalog has no id column (looked for "
                f"{', '.join(self.aliases['id'])}); columns are: {', '.join(header)}. "
                "Name it with --columns id=YOUR_COLUMN"
            )
        return resolved


_FIELDS = ("id", "title", "image", "category", "price", "in_stock", "url", "group_id")


def parse_price(value: Any) -> float | None:
    """Parse ``"1 299,00 RUB"``, ``"12.50 USD"``, ``12.5`` to a float; ``None`` when unparsable."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = re.sub(r"[^\d,.\-]", "", str(value))
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    else:
        text = text.replace(",", "")
    try:
        return float(text)
    except ValueError:
        return None


def parse_bool(value: Any, default: bool = True) -> bool:
    """Parse stock flags such as ``"in stock"``, ``"false"``, ``0``; ``default`` when unknown."""
    if isinstance(value, bool):
        return value
    if value is None:
        return default
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    try:
        return float(text) > 0
    except ValueError:
        return default


def resolve_image_source(source: str, base_dir: Path) -> str:
    """An http(s) URL as is; a path made absolute against ``base_dir``. A ``file:`` URL is
    kept as it is, for the build to refuse (paths stay inside the catalog's folder)."""
    source = source.strip()
    if re.match(r"^(https?|file):", source, re.I):
        return source
    path = Path(source).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return str(path.resolve())


def _split_images(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in _IMAGE_SPLIT.split(str(value)) if part.strip()]


def product_from_record(
    record: Mapping[str, Any], fields: Mapping[str, str], base_dir: Path
) -> Product:
    """Turn one CSV row / JSON object into a ``Product`` using the resolved column map."""
    used = set(fields.values())
    images: list[str] = []
    if "image" in fields:
        images.extend(_split_images(record.get(fields["image"])))
    for key, value in record.items():
        if key not in used and _EXTRA_IMAGE_COLUMN.match(str(key)):
            images.extend(_split_images(value))
            used.add(key)
    images = list(dict.fromkeys(resolve_image_source(s, base_dir) for s in images))

    def text(name: str) -> str:
        value = record.get(fields[name]) if name in fields else None
        return "" if value is None else str(value).strip()

    attrs = {str(k): v for k, v in record.items() if k not in used and v not in (None, "") and k}
    price_raw = record.get(fields["price"]) if "price" in fields else None
    stock_raw = record.get(fields["in_stock"]) if "in_stock" in fields else None
    product_id = text("id")
    return Product(
        id=product_id,
        title=text("title") or product_id,
        images=images,
        category=text("category"),
        price=parse_price(price_raw),
        in_stock=parse_bool(stock_raw),
        url=text("url"),
        group_id=text("group_id"),
        attrs=attrs,
    )


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(0, 2)
        if handle.tell() == 0:
            return True
        handle.seek(-1, 2)
        return handle.read(1) in (b"\n", b"\r")


def _csv_rows(reader: csv.DictReader, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) of each record; a CSV error (an unterminated quote) is fatal."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CatalogError(f"{path} line {reader.line_num}: {exc} (truncated?)") from exc
        row.pop(None, None)  # type: ignore[call-overload]  # cells beyond the header
        yield reader.line_num, row


def read_csv(
    path: Path, columns: ColumnMap | None = None, *, base_dir: Path | None = None
) -> Iterator[Product]:
    """Stream products from a CSV (or TSV, by extension or sniffed delimiter) file.

    Relative image paths resolve against ``base_dir`` (default: the file's folder).
    """
    columns = columns or ColumnMap()
    base_dir = base_dir or path.parent
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CatalogError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        sample = handle.read(65536)
        handle.seek(0)
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        if path.suffix.lower() != ".tsv":
            try:
                delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
            except csv.Error:
                delimiter = ","
        # strict: an unterminated quote (a file cut inside a field) is an error
        reader = csv.DictReader(handle, delimiter=delimiter, strict=True)
        try:
            fieldnames = reader.fieldnames
        except csv.Error as exc:
            raise CatalogError(f"{path} line 1: {exc}") from exc
        if not fieldnames:
            raise CatalogError(f"{path} is empty or has no header row")
        header = [h for h in fieldnames if h is not None]
        fields = columns.resolve(header)
        unended = not _ends_with_newline(path)
        rows = _csv_rows(reader, path)
        current = next(rows, None)
        while current is not None:
            line_no, row = current
            current = next(rows, None)
            if current is None and unended and None in row.values():
                # the last row is short and the file stops mid-line: cut off, not a catalog
                raise CatalogError(
                    f"{path} is truncated: its last line ({line_no}) has "
                    f"{sum(v is not None for v in row.values())} of {len(header)} fields "
                    "and no line end"
                )
            try:
                yield product_from_record(row, fields, base_dir)
            except ValueError as exc:
                log.warning("%s line %d skipped: %s", path.name, line_no, exc)


def read_jsonl(
    path: Path, columns: ColumnMap | None = None, *, base_dir: Path | None = None
) -> Iterator[Product]:
    """Stream products from a JSON Lines file (one object per line).

    Relative image paths resolve against ``base_dir`` (default: the file's folder).
    """
    columns = columns or ColumnMap()
    base_dir = base_dir or path.parent
    fields_cache: dict[frozenset[str], dict[str, str]] = {}
    try:
        handle = path.open(encoding="utf-8-sig")
    except OSError as exc:
        raise CatalogError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                if not line.endswith("\n"):  # the last line, cut off
                    raise CatalogError(
                        f"{path} is truncated: line {line_no} ends mid-record"
                    ) from exc
                log.warning("%s line %d skipped: not JSON (%s)", path.name, line_no, exc.msg)
                continue
            if not isinstance(record, dict):
                log.warning("%s line %d skipped: not a JSON object", path.name, line_no)
                continue
            key = frozenset(record)
            if key not in fields_cache:
                fields_cache[key] = columns.resolve(list(record))
            try:
                yield product_from_record(record, fields_cache[key], base_dir)
            except ValueError as exc:
                log.warning("%s line %d skipped: %s", path.name, line_no, exc)


def read_folder(root: Path) -> Iterator[Product]:
    """One product per image file: id = file stem, category = the parent folder's name.

    Files directly in ``root`` get no category. When two files share a stem, the later one's id
    is prefixed with its folder path so that no product is silently dropped.
    """
    if not root.is_dir():
        raise CatalogError(f"{root} is not a folder")
    seen: set[str] = set()
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file():
            continue
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        relative_parent = path.parent.relative_to(root)
        category = "" if relative_parent == Path(".") else path.parent.name
        product_id = path.stem
        if product_id in seen:
            product_id = f"{relative_parent.as_posix()}/{path.stem}"
            log.warning("duplicate file stem %r: using id %r", path.stem, product_id)
        seen.add(product_id)
        yield Product(
            id=product_id,
            title=f"{category.replace('-', ' ').capitalize()} {path.stem}".strip(),
            images=[str(path.resolve())],
            category=category,
        )


_READERS = {".csv": read_csv, ".tsv": read_csv, ".jsonl": read_jsonl, ".ndjson": read_jsonl}


def read_catalog(
    source: str | Path,
    columns: ColumnMap | None = None,
    *,
    fetch: FetchSettings | None = None,
) -> Iterator[Product]:
    """Read a catalog from a folder of images, a CSV/TSV/JSONL file or a feed (file or URL).

    Feeds (.xml, .yml, .rss, .atom, gzip-compressed files, files of another extension whose
    content is XML, and http(s) URLs) go to :func:`lookalike.catalog.feeds.read_feed`;
    ``fetch`` holds the download settings for a URL (``allow_private`` for internal hosts).
    """
    from lookalike.catalog.feeds import is_url, read_feed

    if is_url(source):
        return read_feed(str(source), columns, settings=fetch)
    path = Path(source).expanduser()
    if not path.exists():
        raise CatalogError(f"catalog not found: {path}")
    if path.is_dir():
        return read_folder(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is not None and not _is_gzip(path):
        return reader(path, columns)
    return read_feed(path, columns, settings=fetch)


def _is_gzip(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(2) == b"\x1f\x8b"
    except OSError as exc:
        raise CatalogError(f"cannot read {path}: {exc.strerror or exc}") from exc
