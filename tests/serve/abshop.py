"""A small built shop for the A/B tests: generated images, categories, prices and attributes,
embedded with the fast colour-histogram model."""

from __future__ import annotations

import csv
from pathlib import Path

from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.workspace import Workspace
from tests.conftest import jpeg_bytes

CATEGORIES = {
    "shoes": ((200, 40, 40), ("leather", "canvas")),
    "hats": ((40, 160, 40), ("wool", "straw")),
    "bags": ((40, 40, 200), ("leather", "nylon")),
}
PER_CATEGORY = 6


def build_ab_shop(root: Path) -> Workspace:
    """18 products, 6 per category, with ``price`` and ``material``/``color`` attributes."""
    images = root / "images"
    images.mkdir(parents=True)
    rows = []
    for category, (rgb, materials) in CATEGORIES.items():
        for i in range(PER_CATEGORY):
            pid = f"{category}-{i}"
            shade = tuple(min(255, c + 12 * i) for c in rgb)
            (images / f"{pid}.jpg").write_bytes(jpeg_bytes(shade))  # type: ignore[arg-type]
            rows.append(
                {
                    "id": pid,
                    "title": f"{category.title()} {i}",
                    "image": f"images/{pid}.jpg",
                    "category": category,
                    "price": f"{10 * (i + 1):.2f}",
                    "url": f"http://127.0.0.1/shop/{pid}",
                    "material": materials[i % 2],
                    "color": "dark" if i < 3 else "light",
                }
            )
    catalog = root / "catalog.csv"
    with catalog.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    ws = Workspace(root / "shop")
    report = build_workspace(ws, catalog, BuildOptions(model="histogram", k=10, progress=False))
    assert report.status == "ok", report.failures
    return ws
