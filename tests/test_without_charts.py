"""Without matplotlib (the core install): reports keep their numbers and say how to get charts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_reports_without_matplotlib(photo_folder: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["matplotlib"] = None  # as in a core install: `import matplotlib` fails
        from pathlib import Path
        from lookalike.ab.report import ABReport, render_png
        from lookalike.evaluate.plots import CHARTS_HINT, charts_available
        from lookalike.evaluate.report import write_report
        from lookalike.evaluate.runner import EvaluateOptions, run_evaluation
        from lookalike.pipeline import BuildOptions, build_workspace
        from lookalike.workspace import Workspace

        assert not charts_available()
        ws = Workspace(Path({str(tmp_path / "shop")!r}))
        build_workspace(ws, Path({str(photo_folder)!r}),
                        BuildOptions(model="histogram", progress=False))
        evaluation = run_evaluation(ws, EvaluateOptions(k=5, n_boot=50, progress=False))
        html = write_report(evaluation, Path({str(tmp_path / "report")!r})).read_text()
        assert "No charts: " in html and "lookalike[reports]" in html, html[:500]
        assert "<img class=\\"plot\\"" not in html
        assert render_png(ABReport.__new__(ABReport)) is None
        print("ok")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
