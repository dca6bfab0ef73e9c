"""Learning curves as a PNG (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from lookalike.atomic import write_bytes_atomic

__all__ = ["plot_learning_curve"]


def plot_learning_curve(
    history: list[dict[str, Any]], path: Path, *, monitor: str, best_epoch: int, title: str
) -> Path:
    """Train/validation loss and the monitored validation metric per epoch, saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    metric_key = monitor if monitor != "val_loss" else None
    fig, axes = plt.subplots(1, 2 if metric_key else 1, figsize=(10 if metric_key else 5, 3.6))
    loss_ax = axes[0] if metric_key else axes
    loss_ax.plot(epochs, [r["train_loss"] for r in history], marker="o", label="train loss")
    if any(r.get("val_loss") is not None for r in history):
        loss_ax.plot(epochs, [r.get("val_loss") for r in history], marker="o", label="val loss")
    loss_ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label="kept")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.legend()
    if metric_key:
        axes[1].plot(epochs, [r.get(metric_key) for r in history], marker="o", color="C2")
        axes[1].axvline(best_epoch, color="grey", linestyle="--", linewidth=1)
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel(metric_key.replace("val_", "validation "))
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
    return path
