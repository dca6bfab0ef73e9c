"""Fitting the head: seeded, deterministic, early-stopped on a validation split.

The inputs are standardised with the train split's mean/std. ``classifier`` trains the
projection plus a linear classifier with (weighted) cross-entropy on categories; ``triplet``
trains the projection alone on triplets mined each epoch (triplet or contrastive loss), or with
Proxy-Anchor on categories (``loss="proxy"``). The embedding is the projection's output.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lookalike.embed.base import l2_normalize
from lookalike.embed.head import Head
from lookalike.errors import ConfigError
from lookalike.train.config import TrainOptions
from lookalike.train.data import TrainData
from lookalike.train.evaluation import retrieval_metrics
from lookalike.train.mining import (
    Triplets,
    identity_positives,
    merge_positives,
    mine_triplets,
    mutual_nearest_neighbours,
    title_positives,
)
from lookalike.train.model import (
    ProxyAnchorLoss,
    build_projection,
    class_weights,
    contrastive_loss,
    to_numpy_head,
    triplet_loss,
)

__all__ = ["EarlyStopping", "FitResult", "fit_head", "deterministic"]

_STD_FLOOR = 1e-6


@dataclass
class FitResult:
    """The trained head and how training went."""

    head: Head
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    monitor: str = "val_loss"
    objective_before: float = float("nan")
    objective_after: float = float("nan")
    seconds: float = 0.0
    mining: dict[str, int] = field(default_factory=dict)


class EarlyStopping:
    """Keeps the best epoch's state (``snapshot()``) and says when ``patience`` epochs went by
    without a better score; records each epoch in ``result`` and passes it to ``on_epoch``."""

    def __init__(
        self,
        result: FitResult,
        patience: int,
        snapshot: Callable[[], Any],
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.result, self.patience = result, patience
        self.snapshot, self.on_epoch = snapshot, on_epoch
        self.best, self.waited = -np.inf, 0
        self.state: Any = None

    def update(self, epoch: int, record: dict[str, Any], score: float) -> bool:
        """Record ``epoch`` with its ``score`` (higher is better); True when training stops."""
        if score > self.best:
            self.best, self.waited, self.result.best_epoch = score, 0, epoch
            self.state = self.snapshot()
        else:
            self.waited += 1
        self.result.history.append(record)
        if self.on_epoch is not None:
            self.on_epoch(record)
        self.result.stopped_early = self.waited >= self.patience
        return self.result.stopped_early


@contextlib.contextmanager
def deterministic(seed: int, threads: int) -> Iterator[None]:
    """Seed torch, force deterministic kernels and a fixed thread count; restore on exit."""
    import torch

    previous = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous[0])
        torch.use_deterministic_algorithms(previous[1])


class _Objective:
    """Holds the trainable modules and computes the loss for one method/loss."""

    def __init__(self, options: TrainOptions, input_dim: int, classes: list[str]):
        import torch

        self.options = options
        self.classes = classes
        self.class_index = {c: i for i, c in enumerate(classes)}
        self.projection = build_projection(input_dim, options.hidden, options.dim, options.dropout)
        self.extra: torch.nn.Module | None = None
        if options.objective == "cross_entropy":
            self.extra = torch.nn.Linear(options.dim, len(classes))
        elif options.objective == "proxy":
            self.extra = ProxyAnchorLoss(len(classes), options.dim)
        self.weights: torch.Tensor | None = None

    def modules(self) -> list[Any]:
        return [m for m in (self.projection, self.extra) if m is not None]

    def train(self, mode: bool) -> None:
        for m in self.modules():
            m.train(mode)

    def optimizer(self) -> Any:
        import torch

        groups = [{"params": self.projection.parameters(), "lr": self.options.lr}]
        if self.extra is not None:
            # Proxies learn faster than the network (Kim et al. use 100x).
            scale = 100.0 if self.options.objective == "proxy" else 1.0
            groups.append({"params": self.extra.parameters(), "lr": self.options.lr * scale})
        return torch.optim.AdamW(groups, weight_decay=self.options.weight_decay)

    def embed(self, x: Any) -> Any:
        import torch

        return torch.nn.functional.normalize(self.projection(x), dim=1)

    def labels(self, data: TrainData) -> np.ndarray:
        """Class index per row, -1 for a category unknown to the classifier."""
        return np.array([self.class_index.get(str(c), -1) for c in data.category], np.int64)

    def label_loss(self, x: Any, y: Any) -> Any:
        import torch

        if self.options.objective == "proxy":
            assert self.extra is not None
            return self.extra(self.embed(x), y)
        assert self.extra is not None
        logits = self.extra(self.projection(x))
        return torch.nn.functional.cross_entropy(logits, y, weight=self.weights)

    def triplet_loss(self, x: Any, t: Triplets) -> Any:
        import torch

        a, p, n = (self.embed(x[torch.from_numpy(r)]) for r in (t.anchor, t.positive, t.negative))
        fn = triplet_loss if self.options.objective == "triplet" else contrastive_loss
        return fn(a, p, n, self.options.margin)


def _vectors(obj: _Objective, x: Any) -> np.ndarray:
    import torch

    obj.train(False)
    with torch.no_grad():
        return obj.embed(x).numpy()


def fit_head(
    train: TrainData,
    val: TrainData,
    options: TrainOptions,
    *,
    meta: dict[str, Any] | None = None,
    title_vectors: np.ndarray | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> FitResult:
    """Train a head on ``train``, early-stopped on ``val``; returns it with its history.

    ``title_vectors`` (unit rows aligned with ``train``; zero rows = no title) enable
    near-identical-title positives for the triplet method.
    """
    import torch

    started = time.perf_counter()
    labelled = options.objective in ("cross_entropy", "proxy")
    classes = train.categories if labelled else []
    if labelled and len(classes) < 2:
        raise ConfigError(
            f"{options.method}/{options.objective} needs at least 2 categories in the training "
            f"split, found {len(classes)}: use --method triplet --loss triplet"
        )
    # triplets from categories when the catalog has them (no product identity needed)
    use_categories = not labelled and options.use_categories and len(train.categories) >= 2
    mean = train.vectors.mean(axis=0)
    std = np.maximum(train.vectors.std(axis=0), _STD_FLOOR)
    with deterministic(options.seed, options.threads):
        rng = np.random.default_rng(options.seed)
        gen = torch.Generator().manual_seed(options.seed)
        obj = _Objective(options, train.vectors.shape[1], classes)
        xt = torch.from_numpy(((train.vectors - mean) / std).astype(np.float32))
        xv = torch.from_numpy(((val.vectors - mean) / std).astype(np.float32))
        yt_np, yv_np = obj.labels(train), obj.labels(val)
        keep_t, keep_v = yt_np >= 0, yv_np >= 0
        yt, yv = torch.from_numpy(yt_np), torch.from_numpy(yv_np)
        if options.objective == "cross_entropy" and options.class_balance == "weights":
            obj.weights = torch.from_numpy(class_weights(yt_np[keep_t], len(classes)))

        fixed_pos = identity_positives(train.product, train.group)
        if title_vectors is not None:
            found = title_positives(title_vectors, train.product, options.title_threshold)
            fixed_pos = merge_positives(fixed_pos, found)
        val_pos = identity_positives(val.product, val.group)
        if options.mutual_nn and len(val):
            partner = mutual_nearest_neighbours(l2_normalize(val.vectors))
            val_pos = merge_positives(val_pos, [{int(j)} if j >= 0 else set() for j in partner])

        def mine(x: Any, data: TrainData, positives: list[set[int]]) -> Triplets:
            current = _vectors(obj, x)
            pos = positives
            if options.mutual_nn:
                partner = mutual_nearest_neighbours(current)
                pos = merge_positives(pos, [{int(j)} if j >= 0 else set() for j in partner])
            return mine_triplets(
                current,
                pos,
                data.product,
                data.group,
                band=options.band,
                candidates=options.candidates,
                rng=rng,
                category=data.category if use_categories else None,
            )

        def objective(x: Any, y: Any, keep: np.ndarray, triplets: Triplets | None) -> float:
            obj.train(False)
            with torch.no_grad():
                if labelled:
                    rows = torch.from_numpy(np.flatnonzero(keep))
                    return float(obj.label_loss(x[rows], y[rows])) if len(rows) else float("nan")
                if triplets is None or not len(triplets):  # e.g. a validation split too small
                    return float("nan")
                return float(obj.triplet_loss(x, triplets))

        first = None if labelled else mine(xt, train, fixed_pos)
        val_triplets = None
        if not labelled and len(val) >= 3:  # fixed, so val loss is comparable across epochs
            val_triplets = mine_triplets(
                val.vectors,
                val_pos,
                val.product,
                val.group,
                band=options.band,
                candidates=options.candidates,
                rng=np.random.default_rng(0),
                category=val.category if use_categories else None,
            )
        result = FitResult(head=None)  # type: ignore[arg-type]
        result.objective_before = objective(xt, yt, keep_t, first)
        if first is not None:
            result.mining = {
                "triplets": len(first),
                "no_negative_in_band": first.dropped,
                "anchors_with_identity_positive": sum(1 for p in fixed_pos if p),
            }
        metric_name = "mAP@10" if labelled and val.categories else None
        if not labelled and val.has_identity:
            metric_name = "Recall@1"
        result.monitor = f"val_{metric_name}" if metric_name else "val_loss"
        optimizer = obj.optimizer()
        stopping = EarlyStopping(
            result,
            options.patience,
            lambda: [copy.deepcopy(m.state_dict()) for m in obj.modules()],
            on_epoch,
        )
        for epoch in range(1, options.epochs + 1):
            obj.train(True)
            losses: list[float] = []
            if labelled:
                rows = np.flatnonzero(keep_t)
                if options.class_balance == "sampler" and options.objective == "cross_entropy":
                    w = torch.from_numpy(class_weights(yt_np[rows], len(classes))[yt_np[rows]])
                    order = rows[torch.multinomial(w.double(), len(rows), True, generator=gen)]
                else:
                    order = rows[torch.randperm(len(rows), generator=gen).numpy()]
                batches = [
                    order[i : i + options.batch_size]
                    for i in range(0, len(order), options.batch_size)
                ]
            else:
                triplets = first if epoch == 1 else mine(xt, train, fixed_pos)
                assert triplets is not None
                order = torch.randperm(len(triplets), generator=gen).numpy()
                batches = [
                    order[i : i + options.batch_size]
                    for i in range(0, len(order), options.batch_size)
                ]
            obj.train(True)
            for batch in batches:
                if labelled:
                    rows_t = torch.from_numpy(batch)
                    loss = obj.label_loss(xt[rows_t], yt[rows_t])
                else:
                    assert triplets is not None
                    sub = Triplets(
                        triplets.anchor[batch], triplets.positive[batch], triplets.negative[batch]
                    )
                    loss = obj.triplet_loss(xt, sub)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
            record: dict[str, Any] = {
                "epoch": epoch,
                "train_loss": float(np.mean(losses)) if losses else float("nan"),
                "val_loss": objective(xv, yv, keep_v, val_triplets) if len(val) else None,
            }
            if not labelled and triplets is not None:
                record["triplets"] = len(triplets)
            if metric_name and len(val) >= 2:
                scores = retrieval_metrics(_vectors(obj, xv), val.category, val.product)
                record[f"val_{metric_name}"] = scores[metric_name]
            current = record.get(result.monitor)
            if current is None or (isinstance(current, float) and np.isnan(current)):
                score = float(epoch)  # nothing to monitor: keep the latest
            else:
                score = float(current) if metric_name else -float(current)
            if stopping.update(epoch, record, score):
                break
        assert stopping.state is not None
        for module, state in zip(obj.modules(), stopping.state, strict=True):
            module.load_state_dict(state)
        result.objective_after = objective(xt, yt, keep_t, first)
        info = {
            "method": options.method,
            "loss": options.objective,
            "classes": classes,
            **(meta or {}),
        }
        obj.train(False)
        result.head = to_numpy_head(obj.projection, mean, std, info)
    result.seconds = time.perf_counter() - started
    return result
