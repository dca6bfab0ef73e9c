"""The batch size is chosen by CPU per image, the candidates measured on dummy batches."""

from __future__ import annotations

import time

import numpy as np

from lookalike.embed.tuning import choose_batch_size


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


class Fake:
    """An 'ONNX' embedder (it has session options) whose CPU cost per call is given."""

    session_options = object()
    input_size = 8
    dim = 4

    def __init__(self, cost: float, per_call: float) -> None:
        self.cost, self.per_call = cost, per_call

    def embed(self, batch: np.ndarray) -> np.ndarray:
        _burn(self.per_call + self.cost * len(batch) ** 1.5)
        return np.zeros((len(batch), self.dim), np.float32)


def test_picks_the_least_cpu_per_image() -> None:
    # (both stay alive: the choice is cached per embedder object)
    # costs well above the clock's and background threads' noise (process_time counts them)
    growing, per_call = Fake(cost=2e-4, per_call=0.0), Fake(cost=1e-7, per_call=2e-2)
    # per image, the cost grows with the batch (activations out of cache): batch 1 wins
    assert choose_batch_size(growing, (1, 8, 32)) == 1
    # a large cost per call (and a small one per image): the biggest batch wins
    assert choose_batch_size(per_call, (1, 8, 32)) == 32
