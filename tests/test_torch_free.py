"""The core runtime never imports torch (nor transformers, sentence-transformers, onnx): build,
similar and the serve app in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import REPO

# onnx too: graphs are written by lookalike.embed.onnx_proto, onnx is a dev-only checker.
HEAVY = ("torch", "transformers", "sentence_transformers", "efficientnet_lite_pytorch", "onnx")

SCRIPT = """
import json, sys
from lookalike.cli import main

def run(*args):
    try:
        main(list(args))
    except SystemExit as exc:
        assert exc.code == 0, (args, exc.code)

ws, catalog = sys.argv[1], sys.argv[2]
run("build", ws, "--catalog", catalog, "--quiet")
run("similar", ws, "p0", "-k", "2", "--json")
run("similar", ws, "--title", "red wool hat", "-k", "2", "--json")
from lookalike.serve.app import create_app
create_app([ws])
print(json.dumps([m for m in {heavy!r} if m in sys.modules]))
"""


@pytest.mark.skipif(
    os.path.exists("/proc/driver/nvidia"), reason="with a GPU, device auto uses torch on purpose"
)
def test_build_similar_and_serve_do_not_import_torch(tmp_path: Path) -> None:
    rows = ["id,title,image"]
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]
    titles = ["Red wool hat", "Green cotton shirt", "Blue denim jeans", "Yellow rain coat"]
    for i, (colour, title) in enumerate(zip(colours, titles, strict=True)):
        Image.new("RGB", (96, 80), colour).save(tmp_path / f"p{i}.jpg")
        rows.append(f"p{i},{title},p{i}.jpg")
    (tmp_path / "catalog.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "LOOKALIKE_CACHE_DIR": str(tmp_path / "cache"),  # the converter runs, no cached graph
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT.format(heavy=HEAVY),
            str(tmp_path / "shop"),
            str(tmp_path / "catalog.csv"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    assert list((tmp_path / "cache" / "models").glob("lite0-*.onnx"))
