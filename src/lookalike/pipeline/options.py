"""Build options (validated on construction) and the build report."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.catalog.formats import ColumnMap
from lookalike.index.compress import QUANTIZE_KINDS
from lookalike.index.factory import INDEX_KINDS
from lookalike.progress import Progress
from lookalike.recommend.aggregate import AGGREGATES
from lookalike.recommend.expansion import Expansion
from lookalike.recommend.filters import DEFAULT_NEAR_DUPLICATE, Weights

if TYPE_CHECKING:
    from lookalike.catalog.http import FetchSettings

__all__ = [
    "BuildOptions",
    "BuildReport",
    "DEFAULT_K",
    "DECODE_REASONS",
    "DEFAULT_MODEL",
    "default_model",
    "resolve_model",
]


DEFAULT_K = 20
# The model of a new workspace: Lite1 beats Lite0 on every set of ../shared/datasets for about
# 1.5x the build time (docs/quality.md); an existing workspace keeps the model it was built with.
DEFAULT_MODEL = "lite1"
DEFAULT_MODEL_ENV = "LOOKALIKE_DEFAULT_MODEL"  # a deployment (or the test suite) may pin another
DEFAULT_MAX_SHRINK = 0.2
DEFAULT_STALE_GRACE_DAYS = 7.0
# Decode failures are properties of the bytes: the same bytes are not decoded again next build.
DECODE_REASONS = {"not_an_image", "truncated", "too_large", "corrupt"}


@dataclass(frozen=True, kw_only=True)
class BuildOptions:
    """How to build a workspace. Validated on construction."""

    # None: the workspace's own model when it was built before, else default_model()
    model: str | None = None
    precision: str = "fp32"  # fp32 | int8 (calibrated on the shop's photos, several x faster)
    k: int = DEFAULT_K
    batch_size: int | None = None  # None: the fastest of a short calibration
    workers: int | None = None  # decode threads; None: one per usable core
    progress: Progress | None = field(default=None, compare=False, repr=False)
    columns: ColumnMap | None = None
    catalog_format: str | None = None  # --format: a catalog format name, skips detection
    allow_private: bool = False
    index: str = "auto"  # exact | flat | hnsw | ivfpq | auto (exact below 50k products)
    pca: int | None = None  # reduce stored vectors to this many dimensions
    quantize: str | None = None  # None | float16 | int8
    # "auto": apply <workspace>/head/ (from `lookalike train`) when present; "none": ignore it.
    head: str = "auto"
    fetch: FetchSettings | None = None  # timeouts, retries, limits; None = the defaults
    revalidate: bool = True  # ask servers whether cached images changed (304 = no download)
    aggregate: str = "mean"  # product similarity over images: "mean" vector or "max" pair
    # label-free transforms fitted on the catalog (docs/quality.md): PCA-whitening with this
    # shrinkage, and DBA of the product vectors + alpha-QE of image queries
    whiten: float | None = None
    expand: Expansion | None = None
    # hybrid scoring and default exclusions (the top-K table is built with them)
    titles: bool = True  # embed titles with MiniLM (cached by title hash)
    weights: Weights = field(default_factory=Weights)
    exclude_group: bool = True
    # near-duplicates: calibrated on re-encoded copies of the catalog's images for this
    # model and head (pipeline/neardup.py); near_duplicate is the fallback (too few images)
    # or, with calibrate_near_duplicate=False, the fixed threshold; None keeps near-duplicates
    near_duplicate: float | None = DEFAULT_NEAR_DUPLICATE
    calibrate_near_duplicate: bool = True
    # publish guard: refuse to publish when products with vectors drop by more than this
    max_shrink: float = DEFAULT_MAX_SHRINK
    allow_shrink: bool = False
    # an image that worked before and now fails (HTTP error, timeout) keeps its cached copy
    # for this many days ("stale" in the report), then is dropped
    stale_grace_days: float = DEFAULT_STALE_GRACE_DAYS
    # local image paths are allowed only inside the catalog's folder, or inside this one
    allow_local_paths: Path | None = None
    # scale-out: where fetch + embed run, and where the serving data is published
    engine: str = "local"  # local | ray
    ray_address: str | None = None  # None: a local Ray instance for the build
    ray_actors: int = 1  # embedding actors, one model session each
    ray_gpus: float = 0.0  # GPUs per embedding actor (ONNX Runtime CUDA provider)
    store: str | None = None  # None: local files; milvus://HOST:PORT/collection | milvus-lite:PATH

    def __post_init__(self) -> None:
        from lookalike.errors import ConfigError

        if self.index not in INDEX_KINDS:
            raise ConfigError(f"index must be one of {', '.join(INDEX_KINDS)}, got {self.index!r}")
        if self.pca is not None and self.pca < 1:
            raise ConfigError(f"pca must be a positive number of dimensions, got {self.pca}")
        if self.quantize is not None and self.quantize not in QUANTIZE_KINDS:
            raise ConfigError(f"quantize must be float16 or int8, got {self.quantize!r}")

        # a bad --model is a usage error, before any work; "tuned" is the shop's fine-tuned
        # model (train.partial.TUNED), resolved once the workspace is open
        if self.model is not None and self.model != "tuned":
            from lookalike.embed.registry import check_model_name

            check_model_name(self.model)
        if self.precision not in ("fp32", "int8"):
            raise ConfigError(f"precision must be fp32 or int8, got {self.precision!r}")
        if self.precision == "int8" and self.model == "histogram":
            raise ConfigError("the histogram embedder has no int8 version: use --precision fp32")
        if self.head not in ("auto", "none"):
            raise ConfigError(f"head must be 'auto' or 'none', got {self.head!r}")
        if self.weights.title and not self.titles:
            raise ConfigError("a title weight needs title embeddings: do not turn titles off")
        if self.near_duplicate is not None and not -1 <= self.near_duplicate <= 1:
            raise ConfigError(f"near_duplicate must be in [-1, 1], got {self.near_duplicate}")
        if not 0 <= self.max_shrink <= 1:
            raise ConfigError(f"max shrink must be between 0 and 1, got {self.max_shrink}")
        if self.stale_grace_days < 0:
            raise ConfigError(f"stale grace must be >= 0 days, got {self.stale_grace_days}")
        if not 1 <= self.k <= 1000:
            raise ConfigError(f"k must be between 1 and 1000, got {self.k}")
        if self.batch_size is not None and not 1 <= self.batch_size <= 4096:
            raise ConfigError(f"batch size must be between 1 and 4096, got {self.batch_size}")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")
        if self.engine not in ("local", "ray"):
            raise ConfigError(f"engine must be local or ray, got {self.engine!r}")
        if self.engine == "ray" and self.precision != "fp32":
            raise ConfigError("--engine ray embeds in fp32 (the actors load the plain model)")
        if self.engine != "ray" and self.ray_address:
            raise ConfigError("--ray-address needs --engine ray")
        if self.ray_actors < 1 or self.ray_gpus < 0:
            raise ConfigError("ray actors must be >= 1 and GPUs per actor >= 0")
        if self.store is not None:
            from lookalike.recommend.milvus import StoreSpec

            StoreSpec.parse(self.store)  # a bad --store fails before anything is written
        if self.whiten is not None and not 0 < self.whiten <= 1e6:
            raise ConfigError(f"whiten shrinkage must be in (0, 1e6], got {self.whiten}")
        if self.expand is not None and self.aggregate != "mean":
            raise ConfigError("--expand works on product vectors: use it with --aggregate mean")
        if self.aggregate not in AGGREGATES:
            raise ConfigError(
                f"aggregate must be one of {', '.join(AGGREGATES)}, got {self.aggregate!r}"
            )

    @property
    def model_name(self) -> str:
        """The model, once :func:`resolve_model` has filled it in (the build does that first)."""
        if self.model is None:
            raise AssertionError("BuildOptions.model is resolved at the start of a build")
        return self.model

    def fetch_settings(self) -> FetchSettings:
        """The settings for image and feed downloads (``allow_private`` folded in)."""
        from lookalike.catalog.http import FetchSettings

        settings = self.fetch or FetchSettings()
        if self.allow_private and not settings.allow_private:
            settings = replace(settings, allow_private=True)
        return settings


def default_model() -> str:
    """The model of a new workspace: ``$LOOKALIKE_DEFAULT_MODEL`` or :data:`DEFAULT_MODEL`."""
    return os.environ.get(DEFAULT_MODEL_ENV) or DEFAULT_MODEL


def resolve_model(model: str | None, manifest: dict[str, Any] | None) -> str:
    """``model`` when given; else the one the published build was asked for (a workspace keeps
    its model when the default changes); else :func:`default_model`."""
    if model:
        return model
    if manifest:
        recorded = manifest.get("model_requested") or manifest.get("model")
        if recorded:
            return str(recorded)
    return default_model()


@dataclass
class BuildReport:
    """What a build did: product changes, image outcomes with reasons, timings."""

    workspace: str
    catalog: str
    model: str
    products: dict[str, int] = field(default_factory=dict)
    images: dict[str, int] = field(default_factory=dict)
    # where image bytes came from: fetched (200), revalidated (304), reused (cache, no request),
    # stale (request failed, old copy used), local (files), failed; pruned: cache entries of
    # URLs no product uses any more, deleted
    downloads: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    # images whose refresh failed but whose cached copy (within the grace) was used
    stale: list[dict[str, Any]] = field(default_factory=list)
    vectors: int = 0
    index: dict[str, Any] = field(default_factory=dict)
    titles: dict[str, int] = field(default_factory=dict)
    # hosts whose remaining URLs were skipped after failing too many times in a row
    hosts: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    generation: str = ""  # the generation this build published ("" when refused)
    refused: str = ""  # why the publish guard refused it

    @property
    def status(self) -> str:
        """``ok``, ``partial`` (some images failed) or ``failed`` (not published)."""
        if self.refused or (self.products.get("total", 0) and not self.vectors):
            return "failed"
        return "partial" if self.failures else "ok"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the status."""
        return {**asdict(self), "status": self.status}
