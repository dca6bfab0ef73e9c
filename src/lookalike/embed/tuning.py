"""Machine-fitted defaults for a build: the model batch size (a short calibration) and the
number of decode threads.

Bigger batches are not always faster on a CPU: a small batch of EfficientNet-Lite keeps its
activations in cache, a batch of 32 does not. So the batch size is measured, once per model per
process, on a few dummy batches (a fraction of a second), rather than guessed.

It is measured in wall time per image, because in a build the model's thread is the critical
path: the decode threads finish their ~2 ms per photo long before the model finishes its ~4-7.
An earlier version measured CPU time per image, which favours batch 1 (at batch 1 one of the
intra-op threads sits idle on the small late layers, costing no CPU but adding wall time): it
picked batch 1 on every run here, while in the build pipeline batch 4 or 8 embedded 10-25%
more photos per second (fp32 Lite0 and Lite1, int8 Lite0; 2 cores). Wall time swings with
other work on the machine, so each candidate takes the best of two runs, and the candidates
are tried in increasing size until one is clearly slower than the best so far.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from lookalike.embed.base import Embedder
from lookalike.embed.ortconfig import usable_cores

__all__ = ["BATCH_CANDIDATES", "choose_batch_size", "decode_workers"]

BATCH_CANDIDATES = (1, 4, 8, 16, 32, 64)  # 64: a GPU; a CPU stops long before
# images per candidate and run (at least one batch): the calibration is pure overhead
_CALIBRATION_IMAGES = 8
# stop trying bigger batches once one is this much slower per image than the best so far
_CLEARLY_SLOWER = 1.15
_chosen: dict[int, int] = {}


def decode_workers(requested: int | None = None) -> int:
    """Decode threads: ``requested``, else one per usable core (the model's intra-op threads
    do not spin, so decode threads get the cores whenever the model waits)."""
    return requested if requested is not None else usable_cores()


def choose_batch_size(
    embedder: Embedder, candidates: Sequence[int] = BATCH_CANDIDATES, *, runs: int = 2
) -> int:
    """The candidate batch size with the least wall time per image for ``embedder`` (cached
    per process).

    Embedders without an ONNX session (histogram, fakes) are not worth measuring: 32.
    """
    if not hasattr(embedder, "session_options"):
        return 32
    cached = _chosen.get(id(embedder))
    if cached is not None:
        return cached
    size = embedder.input_size
    batch = np.zeros((max(candidates), 3, size, size), np.float32)
    embedder.embed(batch[:1])  # first run allocates; not part of any figure
    chosen, best = 0, float("inf")
    for count in sorted(candidates):
        # best of ``runs``: a new batch shape allocates on its first run, and a neighbour's
        # burst slows one run, not both
        spent = min(_seconds_per_image(embedder, batch[:count]) for _ in range(max(runs, 1)))
        if spent < best:
            chosen, best = count, spent
        elif spent > best * _CLEARLY_SLOWER:
            break  # per-image time only grows from here (activations fall out of cache)
    _chosen[id(embedder)] = chosen
    return chosen


def _seconds_per_image(embedder: Embedder, batch: np.ndarray) -> float:
    calls = max(_CALIBRATION_IMAGES // len(batch), 1)
    started = time.perf_counter()
    for _ in range(calls):
        embedder.embed(batch)
    return (time.perf_counter() - started) / (calls * len(batch))
