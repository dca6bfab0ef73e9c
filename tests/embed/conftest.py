"""Image fixtures made with PIL, and the clothing photos when ../shared has them."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from lookalike.embed.onnx_export import export_onnx

CLOTHING = Path("/work/shared/datasets/clothing-small/test")


def encode(image: Image.Image, fmt: str, **save: Any) -> bytes:
    """``image`` saved as ``fmt`` into bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def make_image(
    size: tuple[int, int] = (64, 48),
    mode: str = "RGB",
    color: Any = (200, 30, 30),
) -> Image.Image:
    """A solid ``mode`` image."""
    return Image.new(mode, size, color)


def image_bytes(
    fmt: str = "JPEG",
    size: tuple[int, int] = (64, 48),
    mode: str = "RGB",
    color: Any = (200, 30, 30),
    **save: Any,
) -> bytes:
    """Bytes of a solid ``mode`` image of ``size`` in ``fmt``."""
    return encode(make_image(size, mode, color), fmt, **save)


def clothing_photos(per_class: int = 2, classes: int | None = None) -> dict[str, list[Path]]:
    """``{class: [photo, ...]}`` from the shared clothing set; skips the test when absent."""
    if not CLOTHING.is_dir():
        pytest.skip(f"clothing photos not found at {CLOTHING}")
    found: dict[str, list[Path]] = {}
    for folder in sorted(p for p in CLOTHING.iterdir() if p.is_dir()):
        photos = sorted(folder.glob("*.jpg"))[:per_class]
        if photos:
            found[folder.name] = photos
        if classes is not None and len(found) >= classes:
            break
    if not found:
        pytest.skip(f"no photos under {CLOTHING}")
    return found


@pytest.fixture(scope="session")
def lite0_onnx() -> Path:
    """The exported lite0 ONNX file (cached in ~/.cache/lookalike or $LOOKALIKE_CACHE_DIR)."""
    return export_onnx("lite0")
