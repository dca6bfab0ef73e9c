"""N real photos for the build benchmarks, from clothing-small (3,781 photos).

Beyond the photos the dataset has, each extra one is a light, deterministic change of a real
photo - a crop of 1-8 pixels off some borders, a horizontal flip every other round, and a
re-encode at JPEG quality 88-95 - so its bytes (and the embedding cache key, sha256 of the
bytes) differ while it stays a real product photo of the same size and content. The extra
files are written once under ``--cache`` and reused by later runs.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image, ImageOps

__all__ = ["photo_files"]


def _originals(data: Path) -> list[Path]:
    found: list[Path] = []
    for split in ("validation", "test", "train"):
        found += sorted(data.glob(f"{split}/*/*.jpg"))
    return found


def _variant(source: Path, round_no: int, seed: int) -> bytes:
    rng = random.Random(seed)
    with Image.open(source) as image:
        image = image.convert("RGB")
        w, h = image.size
        left, top = rng.randint(0, 8), rng.randint(0, 8)
        right, bottom = w - rng.randint(1, 8), h - rng.randint(0, 8)
        image = image.crop((left, top, right, bottom))
        if round_no % 2 == 1:
            image = ImageOps.mirror(image)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=rng.randint(88, 95))
    return buffer.getvalue()


def photo_files(data: Path, n: int, cache: Path) -> list[Path]:
    """``n`` photo paths: the dataset's own first, then variants (made once into ``cache``);
    the category stays the parent folder's name."""
    originals = _originals(data)
    if not originals:
        raise SystemExit(f"no photos under {data}")
    files = originals[:n]
    for i in range(len(files), n):
        round_no, source = divmod(i, len(originals))
        src = originals[source]
        target = cache / f"r{round_no}" / src.parent.name / f"{src.stem}-r{round_no}.jpg"
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(_variant(src, round_no, seed=i))
            tmp.replace(target)
        files.append(target)
    return files
