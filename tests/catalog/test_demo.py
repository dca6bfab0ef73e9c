"""The demo shop: local copy → CSV, and the download path against the loopback server."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from lookalike.catalog import demo
from lookalike.catalog.demo import CSV_COLUMNS, find_shared_clothing, prepare_demo_catalog
from lookalike.catalog.http import FetchSettings
from lookalike.errors import CatalogError, ConfigError

if TYPE_CHECKING:
    from .conftest import LocalServer

CATEGORIES = ("dress", "hat", "t-shirt")
LOOPBACK = FetchSettings(allow_private=True, timeout=2.0, retries=0)


def _jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (seed * 20 % 256, 90, 160)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _photo_names(count: int) -> list[tuple[str, str, str]]:
    """``count`` deterministic (split, category, uuid) triples over every split."""
    splits = ("train", "validation", "test")
    return [
        (splits[i % 3], CATEGORIES[i % len(CATEGORIES)], str(uuid.UUID(int=i + 1)))
        for i in range(count)
    ]


def _make_layout(root: Path, count: int = 12) -> Path:
    for i, (split, category, name) in enumerate(_photo_names(count)):
        folder = root / split / category
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.jpg").write_bytes(_jpeg(i))
    return root


def _make_zip(count: int = 120, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("clothing-dataset-small-master/LICENSE", "CC0")
        for i, (split, category, name) in enumerate(_photo_names(count)):
            zf.writestr(f"clothing-dataset-small-master/{split}/{category}/{name}.jpg", _jpeg(i))
        for member, data in (extra or {}).items():
            zf.writestr(member, data)
    return buffer.getvalue()


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(autouse=True)
def _no_local_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Hide ../shared and any $LOOKALIKE_DEMO_DATA so each test picks its own source.
    monkeypatch.delenv("LOOKALIKE_DEMO_DATA", raising=False)
    monkeypatch.chdir(tmp_path)


# --------------------------------------------------------------------------- local copy


def test_csv_from_local_layout(tmp_path: Path) -> None:
    source = _make_layout(tmp_path / "clothing")
    csv_path = prepare_demo_catalog(tmp_path / "shop", source=source)
    assert csv_path == tmp_path / "shop" / "catalog.csv"
    rows = _read(csv_path)
    assert len(rows) == 8  # validation + test only: 2/3 of 12
    assert tuple(rows[0]) == CSV_COLUMNS
    for row in rows:
        image = Path(row["image"])
        assert image.is_absolute() and image.is_file() and image.stem == row["id"]
        assert row["category"] == image.parent.name in CATEGORIES
        assert image.parent.parent.name in ("validation", "test")
        assert row["title"] == f"{row['category'].capitalize()} · {row['id'][:8]}"
        assert 9.99 <= float(row["price"]) <= 199.99
        assert row["in_stock"] in ("true", "false")
    assert [r["id"] for r in rows] == [Path(r["image"]).stem for r in rows]
    images = [r["image"] for r in rows]
    assert images == sorted(images)

    again = prepare_demo_catalog(tmp_path / "shop2", source=source)
    assert again.read_bytes() == csv_path.read_bytes()  # deterministic


def test_price_and_stock_spread() -> None:
    values = [demo._price_and_stock(str(uuid.UUID(int=i))) for i in range(2000)]
    prices = [float(price) for price, _ in values]
    assert min(prices) >= 9.99 and max(prices) <= 199.99 and len(set(prices)) > 1000
    share = sum(stock == "true" for _, stock in values) / len(values)
    assert 0.85 < share < 0.95


def test_splits_and_limit(tmp_path: Path) -> None:
    source = _make_layout(tmp_path / "clothing")
    rows = _read(prepare_demo_catalog(tmp_path / "a", source=source, splits=("train",)))
    assert len(rows) == 4
    limited = _read(prepare_demo_catalog(tmp_path / "b", source=source, limit=3))
    full = _read(prepare_demo_catalog(tmp_path / "c", source=source))
    assert limited == full[:3]
    with pytest.raises(ConfigError):
        prepare_demo_catalog(tmp_path / "d", source=source, splits=("bogus",))
    with pytest.raises(CatalogError):
        prepare_demo_catalog(tmp_path / "e", source=tmp_path / "missing")


def test_find_shared_clothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_shared_clothing() is None
    shared = tmp_path / "shared" / "datasets" / "clothing-small"
    shared.mkdir(parents=True)
    project = tmp_path / "main" / "src"
    project.mkdir(parents=True)
    monkeypatch.chdir(project)
    assert find_shared_clothing() == shared
    monkeypatch.setenv("LOOKALIKE_DEMO_DATA", str(tmp_path / "main"))
    assert find_shared_clothing() == tmp_path / "main"
    monkeypatch.setenv("LOOKALIKE_DEMO_DATA", str(tmp_path / "nope"))
    assert find_shared_clothing() is None  # an explicit path is not replaced by another copy


# --------------------------------------------------------------------------- download


def test_download_extract_and_reuse(tmp_path: Path, http_server: LocalServer) -> None:
    http_server.state.files["demo.zip"] = _make_zip()
    url = http_server.url("/file/demo.zip")
    cache = tmp_path / "cache"
    first = prepare_demo_catalog(
        tmp_path / "shop", archive_url=url, cache_dir=cache, settings=LOOPBACK
    )
    rows = _read(first)
    assert len(rows) == 80
    assert all(Path(r["image"]).is_relative_to(cache / "clothing-small") for r in rows)
    assert (cache / "clothing-small" / "LICENSE").is_file()
    assert sorted(p.name for p in cache.iterdir()) == ["clothing-small"]  # no zip, no temp

    second = prepare_demo_catalog(
        tmp_path / "shop2", archive_url=url, cache_dir=cache, settings=LOOPBACK
    )
    assert _read(second) == rows
    assert http_server.state.hits["/file/demo.zip"] == 1  # downloaded once


@pytest.mark.parametrize(
    "member",
    ["clothing-dataset-small-master/../../evil.txt", "/tmp/evil.txt", "../evil.txt"],
)
def test_unsafe_archives_are_rejected(
    tmp_path: Path, http_server: LocalServer, member: str
) -> None:
    http_server.state.files["evil.zip"] = _make_zip(extra={member: b"pwned"})
    cache = tmp_path / "a" / "b" / "cache"
    with pytest.raises(CatalogError, match="unsafe member"):
        prepare_demo_catalog(
            tmp_path / "shop",
            archive_url=http_server.url("/file/evil.zip"),
            cache_dir=cache,
            settings=LOOPBACK,
        )
    assert list(tmp_path.rglob("evil.txt")) == []
    assert not Path("/tmp/evil.txt").exists()
    assert list(cache.iterdir()) == []  # nothing extracted, the bad zip removed
    assert not (tmp_path / "shop").exists()


def test_symlink_member_is_rejected(tmp_path: Path, http_server: LocalServer) -> None:
    link = zipfile.ZipInfo("clothing-dataset-small-master/train/hat/link.jpg")
    link.external_attr = 0o120777 << 16
    buffer = io.BytesIO(_make_zip())
    with zipfile.ZipFile(buffer, "a") as zf:
        zf.writestr(link, "/etc/passwd")
    http_server.state.files["link.zip"] = buffer.getvalue()
    with pytest.raises(CatalogError, match="symbolic link"):
        prepare_demo_catalog(
            tmp_path / "shop",
            archive_url=http_server.url("/file/link.zip"),
            cache_dir=tmp_path / "cache",
            settings=LOOPBACK,
        )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>rate limited</html>", "not a zip archive"),
        (b"", "not a zip archive"),
    ],
)
def test_non_zip_body_is_rejected(
    tmp_path: Path, http_server: LocalServer, body: bytes, message: str
) -> None:
    http_server.state.files["x.zip"] = body
    with pytest.raises(CatalogError, match=message):
        prepare_demo_catalog(
            tmp_path / "shop",
            archive_url=http_server.url("/file/x.zip"),
            cache_dir=tmp_path / "cache",
            settings=LOOPBACK,
        )
    assert list((tmp_path / "cache").iterdir()) == []


def test_wrong_layout_is_rejected(tmp_path: Path, http_server: LocalServer) -> None:
    http_server.state.files["small.zip"] = _make_zip(count=20)
    with pytest.raises(CatalogError, match="does not look like clothing-dataset-small"):
        prepare_demo_catalog(
            tmp_path / "shop",
            archive_url=http_server.url("/file/small.zip"),
            cache_dir=tmp_path / "cache",
            settings=LOOPBACK,
        )


def test_offline_gives_a_helpful_error(tmp_path: Path, closed_port: int) -> None:
    with pytest.raises(CatalogError) as info:
        prepare_demo_catalog(
            tmp_path / "shop",
            archive_url=f"http://127.0.0.1:{closed_port}/demo.zip",
            cache_dir=tmp_path / "cache",
            settings=LOOPBACK,
        )
    message = str(info.value)
    assert "no local copy found" in message and "(connection)" in message
    assert str(tmp_path / "cache" / "clothing-small") in message
    assert "lookalike build ./my-shop --catalog ./my-photos" in message
    assert "--catalog products.csv" in message
    assert not (tmp_path / "shop").exists()


# --------------------------------------------------------------------------- real photos


def test_real_shared_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # the project root
    shared = find_shared_clothing()
    if shared is None:
        pytest.skip("no shared/datasets/clothing-small beside the project")
    rows = _read(prepare_demo_catalog(tmp_path / "shop"))
    assert 700 <= len(rows) <= 730  # 341 validation + 372 test photos
    assert len({r["category"] for r in rows}) == 10
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(Path(r["image"]).is_relative_to(shared.resolve()) for r in rows)


@pytest.mark.slow
def test_demo_command_builds_from_the_shared_photos(tmp_path: Path) -> None:
    """`lookalike demo --no-serve` as `make demo` runs it: photos outside the catalog folder."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    if not (root.parent / "shared" / "datasets" / "clothing-small").is_dir():
        pytest.skip("no ../shared/datasets/clothing-small beside the project")
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lookalike",
            "demo",
            "--no-serve",
            "--limit",
            "12",
            "--workspace",
            str(tmp_path / "demo"),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "12 with vectors" in result.stdout, result.stdout
