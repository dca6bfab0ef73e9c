"""What a user sees when the server starts: the URL once it listens, HEAD /, offline /docs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.serve.conftest import Shops, free_port


@pytest.mark.slow
def test_url_is_printed_once_listening_and_docs_work_offline(shops: Shops, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "COLUMNS": "200",
        "LOOKALIKE_EVENTS_DB": str(tmp_path / "events.sqlite"),
    }
    cmd = [sys.executable, "-m", "lookalike", "serve", str(shops.alpha), "--port", str(port)]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # blocks until the server prints; bounded by the test timeout
            if "Open http://" in line:
                break
        else:
            pytest.fail(f"server exited ({proc.wait()}) without printing its URL")
        assert f"http://127.0.0.1:{port}/" in line
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            # No retry loop: the URL is printed only after the socket listens.
            assert client.get("/").status_code == 200
            assert client.head("/").status_code == 200
            docs = client.get("/docs")
            assert docs.status_code == 200
            assert "/docs/assets/swagger-ui-bundle.js" in docs.text
            assert "cdn" not in docs.text.lower()
            js = client.get("/docs/assets/swagger-ui-bundle.js")
            assert js.status_code == 200 and len(js.content) > 100_000
            assert client.get("/docs/assets/swagger-ui.css").status_code == 200
            assert client.get("/openapi.json").json()["info"]["title"] == "lookalike"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_onnxruntime_writes_no_telemetry_under_home(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import lookalike  # sets ORT_DISABLE_TELEMETRY before onnxruntime is imported
        import numpy as np, onnx, onnxruntime as ort
        from onnx import TensorProto, helper
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
        graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        print(session.run(None, {"x": np.ones((1, 2), np.float32)})[0].sum())
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(
        HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / ".cache"), PYTHONPATH=str(REPO / "src")
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2.0"
    assert not (tmp_path / ".cache" / "Microsoft").exists()
