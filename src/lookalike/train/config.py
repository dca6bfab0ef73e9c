"""Options of ``lookalike train`` as one frozen dataclass, validated on construction."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from lookalike.errors import ConfigError
from lookalike.progress import Progress

__all__ = ["TrainOptions", "METHODS", "LOSSES"]

# partial: the backbone's last blocks fine-tuned on cached activations (train.partial)
METHODS = ("classifier", "triplet", "partial")
# triplet/contrastive: mined without labels; proxy: Proxy-Anchor on categories.
LOSSES = ("triplet", "contrastive", "proxy")


@dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """How to train a projection head on the frozen backbone's embeddings."""

    method: str = "classifier"
    loss: str = "triplet"  # for method="triplet"
    epochs: int = 30
    dim: int = 256
    hidden: int = 512
    dropout: float = 0.2
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    patience: int = 5
    seed: int = 0
    threads: int = 1  # torch intra-op threads: fixed, so runs are reproducible
    class_balance: str = "weights"  # classifier: "weights" (inverse frequency) or "sampler"
    # triplet mining
    margin: float = 0.2
    band: float = 0.3  # semi-hard negatives: s(a,p) - band <= s(a,n) < s(a,p)
    candidates: int = 100  # nearest neighbours searched for negatives and positives
    title_threshold: float = 0.9  # MiniLM cosine for "near-identical titles"
    use_titles: bool = True
    use_categories: bool = True  # same-category positives when the catalog has categories
    mutual_nn: bool = True
    # splits (fractions of products / categories)
    val_fraction: float = 0.15
    holdout_fraction: float = 0.2
    holdout_categories: float = 0.2
    # adoption: a head that loses on a held-out set is kept off unless forced; an adopted
    # head is refitted on every product with the chosen number of epochs
    force: bool = False
    refit: bool = True
    finetune: bool = False
    finetune_blocks: int = 2
    # partial: the weights kept are pretrained + mix * (fine-tuned - pretrained) (WiSE-FT):
    # 0.5 kept the gain on known categories and stopped the loss on new ones (bench/partial.py)
    mix: float = 0.5
    progress: Progress | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.class_balance not in ("weights", "sampler"):
            raise ConfigError(f"class_balance must be weights or sampler: {self.class_balance!r}")
        for name in ("epochs", "dim", "hidden", "batch_size", "patience", "threads", "candidates"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.dim > 4096 or self.hidden > 8192:
            raise ConfigError("dim must be <= 4096 and hidden <= 8192")
        for name in ("val_fraction", "holdout_fraction", "holdout_categories", "dropout"):
            if not 0.0 <= getattr(self, name) < 0.9:
                raise ConfigError(f"{name} must be in [0, 0.9), got {getattr(self, name)}")
        if not 0.0 < self.lr < 1.0:
            raise ConfigError(f"lr must be in (0, 1), got {self.lr}")
        if not 0.0 <= self.margin <= 2.0 or not 0.0 < self.band <= 2.0:
            raise ConfigError("margin must be in [0, 2] and band in (0, 2]")
        if not 0.0 < self.title_threshold <= 1.0:
            raise ConfigError(f"title_threshold must be in (0, 1], got {self.title_threshold}")
        if not 0.0 < self.mix <= 1.0:
            raise ConfigError(f"mix must be in (0, 1], got {self.mix}")
        if self.finetune_blocks < 1:
            raise ConfigError("finetune_blocks must be at least 1")

    @property
    def objective(self) -> str:
        """The loss actually optimised: ``cross_entropy`` or the triplet method's loss."""
        return "cross_entropy" if self.method in ("classifier", "partial") else self.loss

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {k: v for k, v in asdict(self).items() if k != "progress"}
