"""Shared pieces of the pipeline tests: colour-photo catalogs, a tiny embedder, a shop CDN."""

from __future__ import annotations

import colorsys
import csv
import io
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.embed.base import l2_normalize


class MeanColourEmbedder:
    """A tiny real embedder: the mean RGB of the preprocessed image, unit norm."""

    name = "meancolour"
    dim = 3
    input_size = 32

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, batch: np.ndarray) -> np.ndarray:
        self.calls += len(batch)
        return l2_normalize(batch.mean(axis=(2, 3)))


def tiny(_model: str) -> MeanColourEmbedder:
    """An ``embedder_factory``."""
    return MeanColourEmbedder()


def colour_jpeg(i: int, n: int = 12) -> bytes:
    """A distinct solid colour per ``i`` (hues around the circle), as JPEG bytes."""
    r, g, b = colorsys.hsv_to_rgb((i % n) / n, 0.8, 0.4 + 0.5 * ((i // n) % 2))
    buffer = io.BytesIO()
    Image.new("RGB", (40, 32), (int(r * 255), int(g * 255), int(b * 255))).save(buffer, "JPEG")
    return buffer.getvalue()


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    """A catalog CSV with the columns of ``rows[0]`` (header only when empty)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(rows[0]) if rows else ["id", "title", "image"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)
    return path


def local_catalog(folder: Path, n: int, start: int = 0) -> Path:
    """``folder/catalog.csv`` with products p<i> whose photos are files beside it."""
    (folder / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(start, start + n):
        (folder / "img" / f"p{i}.jpg").write_bytes(colour_jpeg(i))
        rows.append({"id": f"p{i}", "title": f"Colour {i % 6}", "image": f"img/p{i}.jpg"})
    return write_csv(folder / "catalog.csv", rows)


@dataclass
class Cdn:
    """What the shop's image server does: ``mode`` is ok, 403, 404 or drip (one byte per
    ``drip_every`` seconds)."""

    files: dict[str, bytes] = field(default_factory=dict)
    mode: str = "ok"
    drip_every: float = 0.5
    hits: Counter[str] = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    base: str = ""

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


class _CdnHandler(BaseHTTPRequestHandler):
    server: _CdnServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        cdn = self.server.cdn
        name = urllib.parse.urlsplit(self.path).path.lstrip("/")
        cdn.hits[name] += 1
        body = cdn.files.get(name)
        if body is None or cdn.mode in ("403", "404"):
            code = int(cdn.mode) if cdn.mode in ("403", "404") else 404
            self.send_response(code)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"nope")
            return
        kind = "text/csv" if name.endswith(".csv") else "image/jpeg"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if cdn.mode != "drip" or kind == "text/csv":
            self.wfile.write(body)
            return
        for byte in body:
            if cdn.stop.wait(cdn.drip_every):
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return


class _CdnServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cdn: Cdn) -> None:
        super().__init__(("127.0.0.1", 0), _CdnHandler)
        self.cdn = cdn


@pytest.fixture()
def cdn() -> Iterator[Cdn]:
    """A real HTTP server on 127.0.0.1 serving ``cdn.files``."""
    state = Cdn()
    server = _CdnServer(state)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.stop.set()
    server.shutdown()
    server.server_close()
    thread.join(5)
    time.sleep(0)
