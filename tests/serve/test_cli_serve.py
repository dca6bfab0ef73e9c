"""`lookalike serve` as a user runs it: a real process on 127.0.0.1 with an admin key."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.serve.conftest import Shops, free_port


@pytest.mark.slow
def test_serve_command(shops: Shops, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "LOOKALIKE_API_KEYS": "alpha=from-env",
        "LOOKALIKE_EVENTS_DB": str(tmp_path / "events.sqlite"),
    }
    cmd = [sys.executable, "-m", "lookalike", "serve", str(shops.alpha), str(shops.beta)]
    cmd += ["--port", str(port), "--api-key", "cli-admin"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    health = client.get("/healthz")
                    break
                except httpx.ConnectError:
                    assert proc.poll() is None, proc.stdout.read().decode()
                    assert time.monotonic() < deadline, "server did not start"
                    time.sleep(0.2)
            assert health.json()["shops"] == ["alpha", "beta"]
            assert (
                client.post("/v1/shops/beta/reload", headers={"X-API-Key": "cli-admin"}).status_code
                == 200
            )
            assert (
                client.get("/v1/shops/alpha/stats", headers={"X-API-Key": "from-env"}).status_code
                == 200
            )
            assert (
                client.get("/v1/shops/beta/stats", headers={"X-API-Key": "from-env"}).status_code
                == 403
            )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
    assert (tmp_path / "events.sqlite").exists()


def test_serve_reports_a_missing_workspace_without_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "lookalike", "serve", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1
    assert "error:" in result.stderr and "Traceback" not in result.stderr
