"""load_image on what real catalogs contain: every format and mode, and every kind of bad bytes."""

from __future__ import annotations

import io
import random
import time

import numpy as np
import pytest
from PIL import Image

from lookalike.embed.decode import (
    MAX_DECODED_BYTES,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    decoded_bytes,
    load_image,
    probe_image,
)
from lookalike.errors import ImageError
from tests.bigimages import png_rgba16

from .conftest import encode, image_bytes, make_image


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
@pytest.mark.parametrize("mode", ["RGB", "L", "P", "1"])
def test_formats_and_modes_give_rgb(fmt: str, mode: str) -> None:
    source = make_image((40, 30), "RGB", (30, 120, 200)).convert(mode)
    if fmt == "JPEG" and mode in ("P", "1"):
        source = source.convert("L")  # JPEG has no palette or bilevel mode
    image = load_image(encode(source, fmt))
    assert image.mode == "RGB"
    assert image.size == (40, 30)


def test_jpeg_colour_is_kept() -> None:
    image = load_image(image_bytes("JPEG", color=(200, 30, 30), quality=95))
    np.testing.assert_allclose(np.asarray(image)[10, 10], (200, 30, 30), atol=4)


def test_png_alpha_composited_on_white() -> None:
    source = Image.new("RGBA", (20, 10), (255, 0, 0, 255))
    source.paste((0, 0, 255, 0), (0, 0, 10, 10))  # left half fully transparent (blue)
    pixels = np.asarray(load_image(encode(source, "PNG")))
    np.testing.assert_array_equal(pixels[5, 2], (255, 255, 255))
    np.testing.assert_array_equal(pixels[5, 15], (255, 0, 0))


def test_half_transparent_blends_with_white() -> None:
    source = Image.new("RGBA", (8, 8), (0, 0, 0, 128))
    pixel = np.asarray(load_image(encode(source, "PNG")))[4, 4].astype(int)
    assert np.all(np.abs(pixel - 127) <= 2)


def test_la_and_palette_transparency_on_white() -> None:
    la = Image.new("LA", (8, 8), (0, 0))
    assert np.asarray(load_image(encode(la, "PNG"))).min() == 255

    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0] + [255, 0, 0] * 255)
    palette.info["transparency"] = 0
    pixels = np.asarray(load_image(encode(palette, "PNG", transparency=0)))
    np.testing.assert_array_equal(pixels[0, 0], (255, 255, 255))


def test_webp_with_alpha() -> None:
    source = Image.new("RGBA", (16, 16), (0, 255, 0, 0))
    pixels = np.asarray(load_image(encode(source, "WEBP", lossless=True)))
    np.testing.assert_array_equal(pixels[8, 8], (255, 255, 255))


def test_animated_gif_uses_first_frame() -> None:
    frames = [Image.new("RGB", (16, 16), c) for c in [(255, 0, 0), (0, 0, 255), (0, 255, 0)]]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    pixel = np.asarray(load_image(data))[8, 8].astype(int)
    assert pixel[0] > 200 and pixel[2] < 50


def test_cmyk_jpeg_to_rgb() -> None:
    source = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # red in CMYK
    image = load_image(encode(source, "JPEG", quality=95))
    assert image.mode == "RGB"
    r, g, b = np.asarray(image)[8, 8].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_16bit_png_is_scaled_not_clipped() -> None:
    array = np.full((10, 10), 32896, dtype=np.uint16)  # 0x8080: mid-grey in 16 bits
    source = Image.fromarray(array)
    assert source.mode == "I;16"
    data = encode(source, "PNG")
    pixels = np.asarray(load_image(data))
    assert pixels.shape == (10, 10, 3)
    assert np.all(np.abs(pixels.astype(int) - 128) <= 1)


def test_exif_orientation_applied() -> None:
    source = make_image((60, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    image = load_image(encode(source, "JPEG", exif=exif.tobytes()))
    assert image.size == (20, 60)


def test_truncated_jpeg() -> None:
    data = image_bytes("JPEG", size=(256, 256), quality=95)
    with pytest.raises(ImageError) as info:
        load_image(data[: len(data) // 2])
    assert info.value.reason == "truncated"
    assert info.value.__cause__ is not None


def test_truncated_png() -> None:
    noise = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), "PNG")
    with pytest.raises(ImageError) as info:
        load_image(data[: len(data) // 2])
    assert info.value.reason in {"truncated", "corrupt"}


@pytest.mark.parametrize(
    "data",
    [b"", b"<!doctype html><html><body>404 Not Found</body></html>", b"\x00" * 100],
    ids=["empty", "html", "zeros"],
)
def test_not_an_image(data: bytes) -> None:
    with pytest.raises(ImageError) as info:
        load_image(data)
    assert info.value.reason == "not_an_image"


def test_decompression_bomb_fails_fast() -> None:
    data = encode(Image.new("1", (20000, 20000)), "PNG")
    assert len(data) < 200_000  # a tiny file claiming 400 million pixels
    started = time.perf_counter()
    with pytest.raises(ImageError) as info:
        load_image(data)
    assert info.value.reason == "too_large"
    assert time.perf_counter() - started < 1.0


def test_own_pixel_limit_below_pillows() -> None:
    data = encode(Image.new("1", (3000, 3000)), "PNG")
    with pytest.raises(ImageError) as info:
        load_image(data, max_pixels=1_000_000)
    assert info.value.reason == "too_large"
    assert load_image(data).size == (3000, 3000)


def test_too_many_bytes() -> None:
    with pytest.raises(ImageError) as info:
        load_image(b"\xff\xd8" + b"\x00" * MAX_IMAGE_BYTES)
    assert info.value.reason == "too_large"


def test_jpeg_draft_keeps_min_side() -> None:
    data = image_bytes("JPEG", size=(2000, 1200))
    image = load_image(data, min_side=256)
    assert image.mode == "RGB"
    assert min(image.size) >= 256
    assert image.size[0] < 2000  # decoded at reduced scale


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_mutated_bytes_only_raise_image_error(fmt: str) -> None:
    noise = np.random.default_rng(1).integers(0, 255, (48, 48, 3), dtype=np.uint8)
    good = encode(Image.fromarray(noise), fmt)
    rng = random.Random(fmt)
    for _ in range(150):
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(1, len(data))]
        try:
            image = load_image(bytes(data))
        except ImageError as exc:
            assert exc.reason in {"not_an_image", "truncated", "too_large", "corrupt"}
        else:
            assert image.mode == "RGB"


# --------------------------------------------------------------------------- decoded-bytes limit


def test_decoded_bytes_counts_the_bit_depth_of_the_file() -> None:
    image = probe_image(png_rgba16(30, 20, pixels=False))
    assert image.mode == "RGBA"  # Pillow opens it as 8-bit RGBA...
    assert decoded_bytes(image) == 30 * 20 * 4 * 2  # ...but the file holds 16-bit bands
    rgb = Image.new("RGB", (30, 20))
    buffer = io.BytesIO()
    rgb.save(buffer, format="PNG")
    assert decoded_bytes(probe_image(buffer.getvalue())) == 30 * 20 * 3


def test_16_bit_rgba_under_the_pixel_limit_is_refused_from_its_header() -> None:
    # 6300 x 6300 = 39.7 MP passes the pixel limit; at 8 bytes a pixel it would decode to 318 MB.
    header_only = png_rgba16(6300, 6300, pixels=False)  # no pixel data: refused before decoding
    assert 6300 * 6300 < MAX_IMAGE_PIXELS and 6300 * 6300 * 8 > MAX_DECODED_BYTES
    with pytest.raises(ImageError) as info:
        load_image(header_only)
    assert info.value.reason == "too_large" and "bytes decoded" in str(info.value)


def test_decoded_bytes_limit_applies_per_call() -> None:
    data = png_rgba16(40, 40)  # 12,800 bytes decoded
    assert load_image(data, max_decoded_bytes=12_800).size == (40, 40)
    with pytest.raises(ImageError):
        load_image(data, max_decoded_bytes=12_799)
