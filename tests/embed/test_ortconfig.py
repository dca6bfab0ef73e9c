"""ONNX Runtime settings reach the session; provider choice falls back cleanly without a GPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.embed.ortconfig import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    OrtSettings,
    select_providers,
    session_options,
    usable_cores,
)
from lookalike.embed.runners import OnnxEmbedder
from lookalike.errors import ConfigError


def test_session_options_carry_the_settings() -> None:
    import onnxruntime as ort

    options = session_options(OrtSettings(threads=3, spinning=False, optimization="extended"))
    assert options.intra_op_num_threads == 3
    assert options.inter_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    spinning = session_options(OrtSettings(spinning=True))
    assert spinning.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert spinning.intra_op_num_threads == usable_cores()


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="threads"):
        OrtSettings(threads=0)
    with pytest.raises(ConfigError, match="optimization"):
        OrtSettings(optimization="max")


@pytest.mark.parametrize(
    ("device", "available", "expected"),
    [
        ("auto", [CPU_PROVIDER], [CPU_PROVIDER]),
        ("auto", [CUDA_PROVIDER, CPU_PROVIDER], [CUDA_PROVIDER, CPU_PROVIDER]),
        ("cpu", [CUDA_PROVIDER, CPU_PROVIDER], [CPU_PROVIDER]),
        ("cuda", [CUDA_PROVIDER, CPU_PROVIDER], [CUDA_PROVIDER, CPU_PROVIDER]),
    ],
)
def test_select_providers(device: str, available: list[str], expected: list[str]) -> None:
    assert select_providers(device, available) == expected


def test_cuda_without_the_provider_says_what_to_install() -> None:
    with pytest.raises(ConfigError, match="onnxruntime-gpu"):
        select_providers("cuda", [CPU_PROVIDER])
    with pytest.raises(ConfigError, match="unknown device"):
        select_providers("tpu", [CPU_PROVIDER])


def test_session_gets_the_options_and_falls_back_to_cpu(lite0_onnx: Path) -> None:
    embedder = OnnxEmbedder(
        lite0_onnx,
        name="lite0",
        settings=OrtSettings(threads=1),
        providers=(CUDA_PROVIDER, CPU_PROVIDER),  # no GPU here: CUDA is dropped
    )
    assert embedder.session_options.intra_op_num_threads == 1
    import onnxruntime as ort

    if CUDA_PROVIDER not in ort.get_available_providers():
        assert embedder.providers == [CPU_PROVIDER]
    x = np.zeros((2, 3, 224, 224), np.float32)
    assert embedder.embed(x).shape == (2, 1280)
