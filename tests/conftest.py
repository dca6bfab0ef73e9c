"""Fixtures shared by the whole suite: the real datasets in ../shared and small generated images."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]

# Builds that name no model run Lite0, the suite's small model (and what its assertions expect),
# in every fixture scope and in subprocesses; tests/pipeline/test_default_model.py builds with
# the real default (lite1).
os.environ.setdefault("LOOKALIKE_DEFAULT_MODEL", "lite0")


def shared_datasets() -> Path:
    """``$LOOKALIKE_SHARED_DATASETS`` or the ``shared/datasets`` folder beside the repository."""
    env = os.environ.get("LOOKALIKE_SHARED_DATASETS")
    return Path(env) if env else REPO.parent / "shared" / "datasets"


CLOTHING = shared_datasets() / "clothing-small"
GROCERY = shared_datasets() / "grocery"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Bare shop names resolve under a temp folder, never the developer's ./lookalike-data."""
    monkeypatch.setenv("LOOKALIKE_HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture(scope="session")
def clothing_dir() -> Path:
    """The CC0 clothing photos (skips when the shared datasets are not beside the repo)."""
    if not CLOTHING.is_dir():
        pytest.skip(f"real photos not found at {CLOTHING} (set LOOKALIKE_SHARED_DATASETS)")
    return CLOTHING


@pytest.fixture(scope="session")
def grocery_dir() -> Path:
    """The grocery photos with product identity (skips when missing)."""
    if not GROCERY.is_dir():
        pytest.skip(f"real photos not found at {GROCERY} (set LOOKALIKE_SHARED_DATASETS)")
    return GROCERY


def copy_photos(
    clothing: Path, dest: Path, categories: tuple[str, ...], per_category: int
) -> list[Path]:
    """Copy the first ``per_category`` test photos of each category into ``dest/<category>/``."""
    copied: list[Path] = []
    for category in categories:
        target = dest / category
        target.mkdir(parents=True, exist_ok=True)
        for src in sorted((clothing / "test" / category).glob("*.jpg"))[:per_category]:
            copied.append(Path(shutil.copy(src, target / src.name)))
    return copied


@pytest.fixture(scope="session")
def photo_folder(clothing_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder catalog of 40 real photos: 8 of each of 5 categories."""
    root = tmp_path_factory.mktemp("photos")
    copy_photos(clothing_dir, root, ("dress", "hat", "pants", "shoes", "t-shirt"), 8)
    return root


def jpeg_bytes(
    color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 48)
) -> bytes:
    """A small solid-colour JPEG."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


def texture_image(
    seed: int, size: tuple[int, int] = (240, 300), base: tuple[int, int, int] | None = None
) -> Image.Image:
    """A made-up product photo: a 1/f colour texture (natural images' spectrum), its own
    pattern per seed, around ``base`` (default: a colour of its own)."""
    rng = np.random.default_rng(seed)
    w, h = size
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    amplitude = 1 / np.maximum(np.sqrt(fx**2 + fy**2), 1 / max(h, w)) ** 1.8
    amplitude[0, 0] = 0
    shape = (h, w // 2 + 1)
    common = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    channels = []
    for _ in range(3):
        own = rng.normal(size=shape) + 1j * rng.normal(size=shape)
        x = np.fft.irfft2((0.7 * common + 0.3 * own) * amplitude, s=(h, w))
        channels.append((x - x.mean()) / x.std())
    centre = np.asarray(base if base is not None else rng.integers(60, 200, 3), dtype=float)
    pixels = np.stack(channels, -1) * 45 + centre
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


CHROMIUM = Path("/usr/bin/chromium")
# Debian's chromium as root, with no background traffic (the network here is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    """One headless Debian chromium per test module, driven by playwright (skips without it).

    Per module, not per session: sync playwright keeps an asyncio loop running in the main
    thread while it is open, so every later test's ``asyncio.run`` would fail."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
