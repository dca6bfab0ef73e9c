"""The batch size is chosen by wall time per image, the candidates measured on dummy batches
in increasing size until one is clearly slower."""

from __future__ import annotations

import time

import numpy as np

from lookalike.embed.tuning import choose_batch_size


class Fake:
    """An 'ONNX' embedder (it has session options) whose wall time per call is given."""

    session_options = object()
    input_size = 8
    dim = 4

    def __init__(self, cost: float, per_call: float) -> None:
        self.cost, self.per_call = cost, per_call
        self.sizes: list[int] = []

    def embed(self, batch: np.ndarray) -> np.ndarray:
        self.sizes.append(len(batch))
        time.sleep(self.per_call + self.cost * len(batch) ** 1.5)
        return np.zeros((len(batch), self.dim), np.float32)


def test_picks_the_least_wall_time_per_image() -> None:
    # (both stay alive: the choice is cached per embedder object)
    # costs well above the sleep's granularity and a busy machine's scheduling noise
    growing, per_call = Fake(cost=2e-3, per_call=0.0), Fake(cost=1e-7, per_call=2e-2)
    # per image, the cost grows with the batch (activations out of cache): batch 1 wins
    assert choose_batch_size(growing, (1, 8, 32)) == 1
    # a large cost per call (and a small one per image): the biggest batch wins
    assert choose_batch_size(per_call, (1, 8, 32)) == 32


def test_stops_at_the_first_clearly_slower_batch() -> None:
    growing = Fake(cost=2e-3, per_call=0.0)
    assert choose_batch_size(growing, (1, 4, 8, 16, 32)) == 1
    # batch 4 already costs twice batch 1 per image: 8 and above are never run
    assert max(growing.sizes) == 4


def test_the_choice_is_measured_once_per_embedder() -> None:
    fake = Fake(cost=0.0, per_call=1e-3)
    first = choose_batch_size(fake, (1, 4))
    calls = len(fake.sizes)
    assert choose_batch_size(fake, (1, 4)) == first
    assert len(fake.sizes) == calls
