"""Safe decoding of catalog image bytes into an RGB ``PIL.Image``.

Real shop catalogs contain CMYK JPEGs, 16-bit PNGs, transparent product cut-outs, animated
GIFs, phone photos that rely on EXIF orientation, truncated downloads, HTML error pages served
as ``.jpg`` and the occasional decompression bomb. Every one of those either becomes a plain
RGB image or raises :class:`~lookalike.errors.ImageError` with a machine-readable ``reason``.
"""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image, ImageMode, ImageOps

from lookalike.errors import ImageError

__all__ = [
    "MAX_IMAGE_PIXELS",
    "MAX_IMAGE_BYTES",
    "MAX_DECODED_BYTES",
    "ALLOWED_FORMATS",
    "decoded_bytes",
    "load_image",
    "probe_image",
]

MAX_IMAGE_PIXELS = 40_000_000
MAX_IMAGE_BYTES = 30 * 1024 * 1024
# Width x height x bands x bytes per band, from the header: the pixel limit alone lets a 16-bit
# RGBA file decode to twice the memory of an 8-bit one. 160 MB = 40 MP of 8-bit RGBA.
MAX_DECODED_BYTES = 160_000_000

# Only raster formats a shop serves. Leaving Image.open unrestricted would also try EPS
# (Ghostscript), PSD, ICNS, ... - more attack surface and no product photos.
ALLOWED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")

# What a malformed file makes Pillow raise, from the plugins' header parsers and decoders.
# DecompressionBombWarning is listed because under ``-W error`` (pytest here) Pillow's own
# 89 MP warning surfaces as an exception before our stricter check runs.
_PIL_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)

_WHITE = (255, 255, 255)
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})


def _open_formats() -> list[str]:
    Image.init()
    return [fmt for fmt in ALLOWED_FORMATS if fmt in Image.OPEN]


def load_image(
    data: bytes,
    *,
    max_pixels: int = MAX_IMAGE_PIXELS,
    min_side: int | None = None,
    max_decoded_bytes: int = MAX_DECODED_BYTES,
) -> Image.Image:
    """Decode image bytes into an RGB image, or raise :class:`ImageError`.

    JPEG, PNG, WebP, GIF (first frame), BMP and TIFF are accepted. EXIF orientation is applied,
    CMYK / grayscale / palette / 16-bit images become 8-bit RGB, and transparency is composited
    on white (the usual product-page background). The pixel count is checked from the header,
    before any pixel is decoded, and so is the decoded size (:func:`decoded_bytes`).

    ``min_side``: when given, a JPEG may be decoded at 1/2, 1/4 or 1/8 scale (DCT scaling, much
    faster for large photos) as long as its shorter side stays >= ``min_side``.

    ``ImageError.reason`` is one of ``"not_an_image"``, ``"truncated"``, ``"too_large"``,
    ``"corrupt"``.
    """
    image = probe_image(data, max_pixels=max_pixels, max_decoded_bytes=max_decoded_bytes)

    try:
        if min_side is not None and image.format in ("JPEG", "MPO"):
            # Requesting (s, s) keeps both sides >= s, so the shorter side stays >= min_side.
            image.draft(None, (min_side, min_side))
        image.load()  # decodes the first frame only (GIF/WebP/APNG animations)
    except _PIL_ERRORS as exc:
        raise _decode_error(exc) from exc

    try:
        image = _orient(image)
        return _to_rgb(image)
    except _PIL_ERRORS as exc:
        raise ImageError(f"cannot convert image ({image.mode}): {exc}", reason="corrupt") from exc


def probe_image(
    data: bytes,
    *,
    max_pixels: int = MAX_IMAGE_PIXELS,
    max_decoded_bytes: int = MAX_DECODED_BYTES,
) -> Image.Image:
    """Open ``data`` and check its header (format, pixels, decoded bytes) without decoding
    a pixel; the image comes back lazy. Raises :class:`ImageError` like :func:`load_image`."""
    if not data:
        raise ImageError("empty image data", reason="not_an_image")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(
            f"image is {len(data)} bytes, more than the {MAX_IMAGE_BYTES} byte limit",
            reason="too_large",
        )
    try:
        image = Image.open(io.BytesIO(data), formats=_open_formats())
    except Image.UnidentifiedImageError as exc:
        raise ImageError("not a recognised image format", reason="not_an_image") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"decompression bomb: {exc}", reason="too_large") from exc
    except _PIL_ERRORS as exc:
        raise _decode_error(exc) from exc

    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageError(f"image has no pixels ({width}x{height})", reason="corrupt")
    if width * height > max_pixels:
        raise ImageError(
            f"image is {width}x{height} = {width * height} pixels, more than {max_pixels}",
            reason="too_large",
        )
    size = decoded_bytes(image)
    if size > max_decoded_bytes:
        raise ImageError(
            f"image is {width}x{height} {image.mode} ({size} bytes decoded), more than "
            f"{max_decoded_bytes}",
            reason="too_large",
        )
    return image


def decoded_bytes(image: Image.Image) -> int:
    """Width x height x bands x bytes per band, the band depth read from the file's header
    (a 16-bit RGBA PNG opens as 8-bit ``RGBA`` but its raw mode says ``RGBA;16B``)."""
    mode = ImageMode.getmode(image.mode)
    per_band = max(1, int("".join(c for c in mode.typestr if c.isdigit()) or 1))
    for tile in getattr(image, "tile", None) or []:  # ImageFile: the decoder's raw modes
        args = tile[3]  # the raw mode the decoder reads (a str, or a tuple starting with it)
        raw = args if isinstance(args, str) else str(args[0]) if args else ""
        if "32" in raw or raw.startswith("F"):
            per_band = max(per_band, 4)
        elif "16" in raw:
            per_band = max(per_band, 2)
    width, height = image.size
    return width * height * len(mode.bands) * per_band


def _decode_error(exc: BaseException) -> ImageError:
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, EOFError) or "truncated" in lowered or "broken data stream" in lowered:
        return ImageError(f"truncated image: {text}", reason="truncated")
    return ImageError(f"corrupt image data: {text}", reason="corrupt")


def _orient(image: Image.Image) -> Image.Image:
    try:
        # in place: otherwise exif_transpose returns a copy of every upright image
        ImageOps.exif_transpose(image, in_place=True)
    except _PIL_ERRORS:
        # A malformed EXIF block is common in shop uploads; the pixels are still fine, so
        # keep the image unrotated rather than losing it.
        pass
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        image = _high_depth_to_l(image)
        mode = image.mode
    if mode in _ALPHA_MODES or (mode in ("P", "L", "RGB") and "transparency" in image.info):
        rgba = image if mode == "RGBA" else image.convert("RGBA")  # no extra copy
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if mode != "RGB":
        # CMYK (Pillow handles Adobe's inverted CMYK), L, 1, P, YCbCr -> RGB.
        return image.convert("RGB")
    return image


def _high_depth_to_l(image: Image.Image) -> Image.Image:
    """Scale 16/32-bit integer or float grayscale into 8 bits (``convert`` would clip at 255)."""
    array = np.asarray(image)
    if image.mode == "F":
        values = array.astype(np.float64)
        finite = values[np.isfinite(values)]
        if finite.size and finite.max() <= 1.0:
            values = values * 255.0  # float images are usually 0..1
        scaled = np.nan_to_num(values, nan=0.0, posinf=255.0, neginf=0.0)
    else:
        values = array.astype(np.int64)
        # "I" holds 16-bit PNGs in older Pillow versions; only rescale when values need it.
        is_16bit = image.mode.startswith("I;16") or (values.size and values.max() > 255)
        scaled = values / 257.0 if is_16bit else values
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))
