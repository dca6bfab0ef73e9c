"""Options and failures of ``run_evaluation`` that need no model."""

from __future__ import annotations

from pathlib import Path

import pytest

from lookalike.errors import ConfigError, WorkspaceError
from lookalike.evaluate.runner import EvaluateOptions, run_evaluation


def test_options_are_validated() -> None:
    for bad in ({"k": 0}, {"queries": -1}, {"n_boot": 5}):
        with pytest.raises(ConfigError):
            EvaluateOptions(**bad)  # type: ignore[arg-type]


def test_unbuilt_workspace_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="lookalike build"):
        run_evaluation(tmp_path / "nothing-here", EvaluateOptions())
