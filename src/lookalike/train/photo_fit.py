"""Fitting a photo -> catalog head: a linear map, applied to photos and catalog alike.

The head starts as the identity (exactly the untrained features) and is pulled back towards
it (``reg * |W - I|^2``), so it can only move as far as the photos justify. The loss is
InfoNCE, a contrastive loss: each training photo (the anchor) is scored against the gallery
vectors of the training products (its own product's catalog image is the positive, the others
the negatives) with temperature ``temperature``. Early stopping on the validation photos'
InfoNCE loss (their top-1 is logged too); the best epoch's head is kept. torch is imported here
only; the saved head is the numpy :class:`~lookalike.embed.head.Head`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from lookalike.embed.head import Head
from lookalike.errors import ConfigError
from lookalike.progress import Progress
from lookalike.train.loop import EarlyStopping, FitResult, deterministic
from lookalike.train.photos import PhotoData, photo_metrics

__all__ = ["FORMS", "PhotoTrainOptions", "fit_photo_head"]

FORMS = ("full", "diagonal", "lowrank")


@dataclass(frozen=True, kw_only=True)
class PhotoTrainOptions:
    """How to train the photo -> catalog head and check it (``lookalike train --photos``)."""

    epochs: int = 30
    lr: float = 3e-3
    temperature: float = 0.02
    reg: float = 0.1  # weight of |W - I|^2 / input width
    batch_size: int = 64
    gallery_sample: int = 1024  # products scored per step (positives + random negatives)
    patience: int = 5
    # the map: diagonal (re-weights the features: generalises to products never trained on),
    # full (d x d: fits the trained products' photos far better, may lose on new products),
    # lowrank (I + U V^T), or auto (diagonal and full both checked, see train.photo_api)
    form: str = "auto"
    rank: int = 32
    seed: int = 0
    threads: int = 1
    holdout_products: float = 0.2
    holdout_photos: float = 0.2
    val_fraction: float = 0.15
    force: bool = False
    refit: bool = True
    progress: Progress | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "gallery_sample", "patience", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("holdout_products", "holdout_photos", "val_fraction"):
            if not 0.0 <= getattr(self, name) < 0.9:
                raise ConfigError(f"{name} must be in [0, 0.9), got {getattr(self, name)}")
        if self.form not in (*FORMS, "auto") or self.rank < 1:
            raise ConfigError(f"form must be auto or one of {', '.join(FORMS)} (rank >= 1)")
        if not 0.0 < self.lr < 1.0 or not 0.0 < self.temperature <= 1.0 or self.reg < 0:
            raise ConfigError("lr must be in (0, 1), temperature in (0, 1] and reg >= 0")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {k: v for k, v in asdict(self).items() if k != "progress"}


def _numpy_head(weight: np.ndarray, bias: np.ndarray, meta: dict[str, Any]) -> Head:
    dim = weight.shape[1]
    zeros, ones = np.zeros(dim, np.float32), np.ones(dim, np.float32)
    return Head(zeros, ones, (weight.astype(np.float32),), (bias.astype(np.float32),), "relu", meta)


def _identity_map_class() -> type:
    import torch

    class _Map(torch.nn.Module):
        """``x -> x W^T`` with W = I + delta, delta full, diagonal or of low rank (no bias: a
        shared offset would swamp sparse features and is not what tells products apart)."""

        def __init__(self, dim: int, form: str, rank: int):
            super().__init__()
            self.form, self.dim = form, dim
            if form == "full":
                self.delta = torch.nn.Parameter(torch.zeros(dim, dim))
            elif form == "diagonal":
                self.delta = torch.nn.Parameter(torch.zeros(dim))
            else:
                self.u = torch.nn.Parameter(torch.zeros(dim, rank))
                self.v = torch.nn.Parameter(torch.randn(dim, rank) / dim**0.5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.form == "full":
                return x + x @ self.delta.T
            if self.form == "diagonal":
                return x * (1 + self.delta)
            return x + (x @ self.v) @ self.u.T

        def distance(self) -> torch.Tensor:
            """|W - I|^2 per input width (the pull back to the untrained features)."""
            if self.form == "lowrank":
                return (self.u @ self.v.T).pow(2).sum() / self.dim
            return self.delta.pow(2).sum() / self.dim

        def matrix(self) -> tuple[np.ndarray, np.ndarray]:
            with torch.no_grad():
                eye = torch.eye(self.dim)
                w = self.forward(eye)  # row i = W e_i, so this is W^T
            return w.T.numpy().copy(), np.zeros(self.dim, np.float32)

    return _Map


def _IdentityMap(dim: int, form: str, rank: int) -> Any:  # noqa: N802 - a factory
    return _identity_map_class()(dim, form, rank)


class _Gallery:
    """Training products' gallery vectors under the current map, on a sample of products."""

    def __init__(self, data: PhotoData, products: np.ndarray, sample: int, rng: Any):
        import torch

        self.products = np.asarray(products, np.int64)
        self.sample, self.rng = sample, rng
        keep = np.isin(data.catalog_product, self.products)
        self.x = torch.from_numpy(data.catalog[keep])
        self.owner = data.catalog_product[keep]

    def __call__(self, linear: Any, positives: np.ndarray) -> tuple[Any, np.ndarray]:
        """``(vectors (S, D), product index per row)`` over the positives plus negatives."""
        import torch

        chosen = self.products
        if len(chosen) > self.sample:
            others = np.setdiff1d(chosen, positives)
            extra = self.rng.choice(others, max(0, self.sample - len(set(positives))), False)
            chosen = np.union1d(np.unique(positives), extra)
        rows = np.flatnonzero(np.isin(self.owner, chosen))
        slot = np.searchsorted(chosen, self.owner[rows])
        y = torch.nn.functional.normalize(linear(self.x[torch.from_numpy(rows)]), dim=1)
        sums = torch.zeros(len(chosen), y.shape[1]).index_add_(0, torch.from_numpy(slot), y)
        return torch.nn.functional.normalize(sums, dim=1), chosen


def fit_photo_head(
    data: PhotoData,
    train: np.ndarray,
    val: np.ndarray,
    products: np.ndarray,
    options: PhotoTrainOptions,
    *,
    meta: dict[str, Any],
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> FitResult:
    """Train on photo rows ``train`` against the gallery of ``products`` (indices); early-stop
    on ``val`` photos (their loss against the same products). See the module doc."""
    import torch

    started = time.perf_counter()
    if len(train) < 2:
        raise ConfigError(f"only {len(train)} training photos after the splits: too few")
    dim = data.photos.shape[1]
    with deterministic(options.seed, options.threads):
        rng = np.random.default_rng(options.seed)
        gen = torch.Generator().manual_seed(options.seed)
        linear = _IdentityMap(dim, options.form, options.rank)
        gallery = _Gallery(data, products, options.gallery_sample, rng)
        x = torch.from_numpy(data.photos)
        optimizer = torch.optim.Adam(linear.parameters(), lr=options.lr)
        fit = FitResult(head=_numpy_head(np.eye(dim), np.zeros(dim), meta))

        def current() -> Head:
            w, b = linear.matrix()
            return _numpy_head(w, b, meta)

        def info_nce(rows: np.ndarray) -> Any:
            labels = data.photo_product[rows]
            vectors, chosen = gallery(linear, labels)
            target = torch.from_numpy(np.searchsorted(chosen, labels))
            q = torch.nn.functional.normalize(linear(x[torch.from_numpy(rows)]), dim=1)
            return torch.nn.functional.cross_entropy(q @ vectors.T / options.temperature, target)

        def validate(record: dict[str, Any]) -> float:
            """Adds the validation loss and top-1 to ``record``; the score to maximise."""
            if not len(val):
                return float(record["epoch"])  # nothing to monitor: keep the latest
            with torch.no_grad():
                record["val_loss"] = float(info_nce(val))
            top1 = photo_metrics(data, val, current().apply, products=products)["Recall@1"]
            record["val_Recall@1"] = top1
            return -record["val_loss"]

        # at least ~8 steps an epoch: a small shop's photos would otherwise barely move the map
        batch_size = min(options.batch_size, max(8, len(train) // 8))
        stopping = EarlyStopping(
            fit, options.patience, lambda: copy.deepcopy(linear.state_dict()), on_epoch
        )
        stopping.state = stopping.snapshot()
        for epoch in range(1, options.epochs + 1):
            order = train[torch.randperm(len(train), generator=gen).numpy()]
            losses = []
            for start in range(0, len(order), batch_size):
                loss = info_nce(order[start : start + batch_size])
                loss = loss + options.reg * linear.distance()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
            record: dict[str, Any] = {"epoch": epoch, "train_loss": float(np.mean(losses))}
            if stopping.update(epoch, record, validate(record)):
                break
        linear.load_state_dict(stopping.state)
        fit.head = current()
    fit.seconds = time.perf_counter() - started
    return fit
