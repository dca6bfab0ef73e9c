"""The projection head in torch, its losses, and its export to the numpy runtime.

torch is imported inside functions (and by the modules that call them), never at package import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.embed.head import Head

if TYPE_CHECKING:
    import torch

__all__ = [
    "class_weights",
    "build_projection",
    "ProxyAnchorLoss",
    "triplet_loss",
    "contrastive_loss",
    "to_numpy_head",
]


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency weights ``N / (C * n_c)``, normalised so the mean weight over the
    training rows is 1 (a balanced set gets all ones); classes with no row get 0."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes).astype(float)
    present = counts > 0
    weights = np.zeros(n_classes, dtype=np.float64)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.astype(np.float32)


def build_projection(input_dim: int, hidden: int, dim: int, dropout: float) -> torch.nn.Module:
    """``Linear -> ReLU -> Dropout -> Linear``: the part saved as the head (dropout is a
    no-op at inference, so the numpy runtime skips it)."""
    import torch

    return torch.nn.Sequential(
        torch.nn.Linear(input_dim, hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(dropout),
        torch.nn.Linear(hidden, dim),
    )


def to_numpy_head(
    projection: torch.nn.Module, mean: np.ndarray, std: np.ndarray, meta: dict[str, Any]
) -> Head:
    """The numpy runtime equivalent of ``projection`` after standardising with mean/std."""
    import torch

    linears = [m for m in projection.modules() if isinstance(m, torch.nn.Linear)]
    return Head(
        np.asarray(mean, np.float32),
        np.asarray(std, np.float32),
        tuple(m.weight.detach().cpu().float().numpy().copy() for m in linears),
        tuple(m.bias.detach().cpu().float().numpy().copy() for m in linears),
        "relu",
        dict(meta),
    )


def _cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(dim=1)


def triplet_loss(
    anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float
) -> torch.Tensor:
    """Mean ``max(0, s(a,n) - s(a,p) + margin)`` on unit vectors (cosine similarity)."""
    return (_cos(anchor, negative) - _cos(anchor, positive) + margin).clamp(min=0).mean()


def contrastive_loss(
    anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float
) -> torch.Tensor:
    """Margin contrastive loss on the (a,p) and (a,n) pairs: pull positives to cosine 1,
    push negatives below ``1 - margin`` (Hadsell et al., in cosine form)."""
    pos = (1 - _cos(anchor, positive)).pow(2)
    neg = (_cos(anchor, negative) - (1 - margin)).clamp(min=0).pow(2)
    return (pos + neg).mean() / 2


def _proxy_anchor_class() -> type:
    import torch

    class _ProxyAnchorLoss(torch.nn.Module):
        """Proxy-Anchor loss (Kim et al., CVPR 2020): one learned proxy per category."""

        def __init__(self, n_classes: int, dim: int, alpha: float = 32.0, delta: float = 0.1):
            super().__init__()
            self.proxies = torch.nn.Parameter(torch.randn(n_classes, dim) * 0.01)
            self.alpha, self.delta, self.n_classes = alpha, delta, n_classes

        def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            sim = embeddings @ torch.nn.functional.normalize(self.proxies, dim=1).T
            onehot = torch.nn.functional.one_hot(labels, self.n_classes).bool()
            pos_exp = torch.where(onehot, torch.exp(-self.alpha * (sim - self.delta)), 0.0)
            neg_exp = torch.where(~onehot, torch.exp(self.alpha * (sim + self.delta)), 0.0)
            with_pos = onehot.any(dim=0)
            pos_term = torch.log1p(pos_exp.sum(dim=0))[with_pos].sum() / with_pos.sum().clamp(min=1)
            neg_term = torch.log1p(neg_exp.sum(dim=0)).sum() / self.n_classes
            return pos_term + neg_term

    return _ProxyAnchorLoss


def ProxyAnchorLoss(n_classes: int, dim: int) -> torch.nn.Module:  # noqa: N802 - a factory
    """A Proxy-Anchor loss module with ``n_classes`` learned proxies of dimension ``dim``."""
    return _proxy_anchor_class()(n_classes, dim)
