"""Machine-fitted defaults for a build: the model batch size (a short calibration) and the
number of decode threads.

Bigger batches are not always faster on a CPU: a batch-1 pass of EfficientNet-Lite keeps its
activations in cache, a batch of 32 does not, and on these 2-core machines batch 1 to 8 ran
as fast or faster than 32. So the batch size is measured, once per model per process, on a
few dummy batches (about a second), rather than guessed.

It is measured in CPU seconds per image (the whole process's, so the model's intra-op threads
count), not wall time: during a build the decode threads keep every core busy beside the model,
so the CPU an image costs is what sets the throughput, and CPU time does not swing with other
work on the machine the way wall time does (on a shared 2-core machine, wall-time calibration
picked batch 8 or 32 at random; batch 1 cost ~8% less CPU per image).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from lookalike.embed.base import Embedder
from lookalike.embed.ortconfig import usable_cores

__all__ = ["BATCH_CANDIDATES", "choose_batch_size", "decode_workers"]

BATCH_CANDIDATES = (1, 8, 32)
# per candidate and round (at least one batch): CPU time needs fewer than wall time did, and
# the calibration is pure overhead (~1.5 s of CPU with 32, a tenth of a 2,000-photo build)
_CALIBRATION_IMAGES = 8
_chosen: dict[int, int] = {}


def decode_workers(requested: int | None = None) -> int:
    """Decode threads: ``requested``, else one per usable core (the model's intra-op threads
    do not spin, so decode threads get the cores whenever the model waits)."""
    return requested if requested is not None else usable_cores()


def choose_batch_size(
    embedder: Embedder, candidates: Sequence[int] = BATCH_CANDIDATES, *, rounds: int = 1
) -> int:
    """The candidate batch size with the least CPU per image for ``embedder`` (cached per
    process).

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
    cost: dict[int, float] = {}  # CPU seconds per image, the best round
    for _ in range(rounds):  # interleaved rounds: a cache-thrashing neighbour hits all alike
        for count in candidates:
            started = time.process_time()
            for _ in range(max(_CALIBRATION_IMAGES // count, 1)):
                embedder.embed(batch[:count])
            spent = (time.process_time() - started) / max(_CALIBRATION_IMAGES, count)
            cost[count] = min(cost.get(count, spent), spent)
    chosen = min(cost, key=lambda c: cost[c])
    _chosen[id(embedder)] = chosen
    return chosen
