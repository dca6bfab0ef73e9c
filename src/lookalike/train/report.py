"""What a training run reports (shared by the head trainer and the backbone fine-tuner)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["TrainReport", "run_fields"]


class _Run(Protocol):
    history: list[dict[str, Any]]
    best_epoch: int
    stopped_early: bool


class _Splits(Protocol):
    def sizes(self) -> dict[str, int]: ...


class _Options(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


def run_fields(root: object, options: _Options, splits: _Splits, fit: _Run) -> dict[str, Any]:
    """The :class:`TrainReport` fields every trainer takes from its workspace, options,
    splits and fitted run (the head trainer and the partial fine-tuner alike)."""
    return {
        "workspace": str(root),
        "options": options.to_dict(),
        "splits": splits.sizes(),
        "history": fit.history,
        "best_epoch": fit.best_epoch,
        "stopped_early": fit.stopped_early,
    }


@dataclass
class TrainReport:
    """What a training run did and how the held-out quality changed."""

    workspace: str
    options: dict[str, Any]
    splits: dict[str, int]
    history: list[dict[str, Any]]
    best_epoch: int
    stopped_early: bool
    monitor: str
    objective_before: float
    objective_after: float
    evaluation: dict[str, dict[str, Any]] = field(default_factory=dict)
    mining: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    head_dir: str = ""
    curve: str = ""
    head_hash: str = ""
    notes: list[str] = field(default_factory=list)
    # the adoption gate (lookalike.train.gate): adopted or kept off, and why
    adopted: bool = False
    decision: dict[str, Any] = field(default_factory=dict)
    # the run on every product after an adopted check (its head is the one saved), or None
    refit: dict[str, Any] | None = None
    held_out_categories: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dict(self.__dict__)
