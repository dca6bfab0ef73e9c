"""ONNX Runtime session settings and execution-provider choice, as plain testable functions.

On a small CPU the defaults cost throughput: ORT's intra-op threads spin-wait between kernels,
taking the cores the decode threads need, and it sizes its pool by the host, not by what the
process may use. ``OrtSettings`` says what the build wants; ``session_options`` applies it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lookalike.errors import ConfigError

__all__ = [
    "OrtSettings",
    "OPTIMIZATION_LEVELS",
    "usable_cores",
    "session_options",
    "select_providers",
    "CUDA_PROVIDER",
    "CPU_PROVIDER",
]

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"
OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask, not the host's count)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


@dataclass(frozen=True, kw_only=True)
class OrtSettings:
    """How an ONNX Runtime session runs.

    ``threads``: intra-op threads (None: every usable core). ``spinning``: let idle intra-op
    threads spin-wait; only worth it when nothing else needs the cores, so off by default
    (decode threads run beside the model). ``optimization``: graph optimisation level.
    """

    threads: int | None = None
    spinning: bool = False
    optimization: str = "all"

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"ORT threads must be at least 1, got {self.threads}")
        if self.optimization not in OPTIMIZATION_LEVELS:
            raise ConfigError(
                f"optimization must be one of {', '.join(OPTIMIZATION_LEVELS)}, "
                f"got {self.optimization!r}"
            )

    @property
    def intra_op_threads(self) -> int:
        """The thread count the session gets."""
        return self.threads or usable_cores()


def session_options(settings: OrtSettings) -> Any:
    """An ``onnxruntime.SessionOptions`` carrying ``settings``."""
    import onnxruntime as ort

    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    options = ort.SessionOptions()
    options.graph_optimization_level = levels[settings.optimization]
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = 1  # one CNN: no parallel branches worth a second pool
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    spin = "1" if settings.spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    return options


def select_providers(device: str, available: Sequence[str]) -> list[str]:
    """Execution providers for ``device`` ("auto", "cpu", "cuda") given ORT's ``available``.

    "auto" takes CUDA when this onnxruntime build has it, CPU otherwise; "cuda" without the
    CUDA provider is a :class:`ConfigError` (the caller may try torch instead). CPU always
    comes last so an op the GPU provider lacks still runs.
    """
    has_cuda = CUDA_PROVIDER in available
    if device == "cpu" or (device == "auto" and not has_cuda):
        return [CPU_PROVIDER]
    if device in ("auto", "cuda") and has_cuda:
        return [CUDA_PROVIDER, CPU_PROVIDER]
    if device == "cuda":
        raise ConfigError(
            "device 'cuda' needs onnxruntime with the CUDA provider (pip install onnxruntime-gpu)"
        )
    raise ConfigError(f"unknown device {device!r}; valid: auto, cpu, cuda")
