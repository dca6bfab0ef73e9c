"""Compare settings in one run: models x metrics x PCA/quantisation x exact/ANN x weights.

``--compare AXIS=V1,V2`` (repeatable) names the values of one axis; the settings are the
cartesian product of every axis (an axis not named keeps its default: the workspace's model,
cosine, no compression, exact search, image only). ``all`` expands to every known value.
Search, compression and metrics come from their own packages (``lookalike.index``,
``lookalike.recommend``); this module only combines and scores them.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lookalike.errors import ConfigError
from lookalike.index.compress import VectorCodec
from lookalike.index.exact import knn_exact
from lookalike.index.exact import pair_scores as exact_pair_scores
from lookalike.index.factory import make_index
from lookalike.index.vectors import VectorSet
from lookalike.textutil import split_pair

__all__ = [
    "Setting",
    "AXES",
    "parse_compare",
    "expand_settings",
    "search_setting",
    "pair_scores",
    "unsupported",
]

SERVED = "served"  # --compare model=served: the vectors the workspace serves
AXES = ("model", "metric", "pca", "quantize", "index", "weights", "whiten", "expand")
_ALL: dict[str, tuple[str, ...]] = {
    "model": ("lite0", "lite1", "lite2", "histogram", "random"),
    "metric": ("cosine", "euclidean", "manhattan"),
    "pca": ("none", "256", "64"),
    "quantize": ("none", "float16", "int8"),
    "index": ("exact", "hnsw", "ivfpq"),
    "whiten": ("none", "1", "64", "256"),
    "expand": ("none", "dba"),
}


@dataclass(frozen=True)
class Setting:
    """One way of producing recommendations. ``model=None``: the workspace's own model."""

    model: str | None = None
    metric: str = "cosine"
    pca: int | None = None
    quantize: str | None = None
    index: str = "exact"
    weights: str | None = None
    # PCA-whitening fitted on the catalog, with this shrinkage (see lookalike.embed.whiten)
    whiten: float | None = None
    # "dba": database-side augmentation of the catalog + alpha query expansion of the queries
    expand: str | None = None

    def label(self, default_model: str = "") -> str:
        """Short, unique among the compared settings: only what differs from the defaults."""
        model = self.model or default_model
        # a user's ONNX file is named by its file name, not its whole path
        parts = [Path(model).name if model.lower().endswith(".onnx") else model]
        if self.metric != "cosine":
            parts.append(self.metric)
        if self.pca:
            parts.append(f"pca{self.pca}")
        if self.quantize:
            parts.append(self.quantize)
        if self.index != "exact":
            parts.append(self.index)
        if self.weights:
            parts.append(f"hybrid({self.weights})")
        if self.whiten is not None:
            parts.append(f"whiten{self.whiten:g}")
        if self.expand:
            parts.append(self.expand)
        return " · ".join(p for p in parts if p)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return asdict(self)


def parse_compare(options: list[str]) -> dict[str, tuple[str, ...]]:
    """``["model=lite0,lite2", "metric=all"]`` -> ``{"model": ("lite0", "lite2"), ...}``."""
    axes: dict[str, tuple[str, ...]] = {}
    for option in options:
        usage = f"use AXIS=V1,V2 with AXIS one of {', '.join(AXES)}"
        try:
            name, raw = split_pair(option, what="AXIS=V1,V2")
        except ConfigError:
            raise ConfigError(f"bad --compare {option!r}: {usage}") from None
        if name not in AXES:
            raise ConfigError(f"bad --compare {option!r}: {usage}")
        if name == "weights":
            # weights values contain commas themselves: separate settings with ';'
            values = tuple(v.strip() for v in raw.split(";") if v.strip())
        else:
            values = tuple(v.strip() for v in raw.split(",") if v.strip())
        if values == ("all",):
            if name not in _ALL:
                raise ConfigError(f"--compare {name}=all is not defined; list the values")
            values = _ALL[name]
        if not values:
            raise ConfigError(f"--compare {name}= needs at least one value")
        axes[name] = tuple(dict.fromkeys(axes.get(name, ()) + values))
    return axes


def _none(value: str) -> str | None:
    return None if value.lower() in {"none", "off", "no", ""} else value


def _shrink(value: str) -> float | None:
    raw = _none(value)
    try:
        shrink = None if raw is None else float(raw)
    except ValueError:
        raise ConfigError(f"whiten must be a shrinkage (e.g. 64) or none, got {value!r}") from None
    if shrink is not None and shrink <= 0:
        raise ConfigError(f"whiten shrinkage must be > 0, got {value!r}")
    return shrink


def expand_settings(axes: dict[str, tuple[str, ...]]) -> list[Setting]:
    """Every combination of the axes' values, validated."""
    names = [a for a in AXES if a in axes]
    settings: list[Setting] = []
    for combo in itertools.product(*(axes[a] for a in names)):
        kwargs: dict[str, object] = {}
        for name, value in zip(names, combo, strict=True):
            if name == "pca":
                raw = _none(value)
                try:
                    kwargs["pca"] = None if raw is None else int(raw)
                except ValueError:
                    raise ConfigError(f"pca must be a number or none, got {value!r}") from None
            elif name in {"quantize", "weights"}:
                kwargs[name] = _none(value)
            elif name == "whiten":
                kwargs["whiten"] = _shrink(value)
            elif name == "expand":
                raw = _none(value)
                if raw not in (None, "dba"):
                    raise ConfigError(f"expand must be none or dba, got {value!r}")
                kwargs["expand"] = raw
            elif name == "model" and value == SERVED:
                kwargs["model"] = None  # the workspace's own vectors (with its head, if any)
            else:
                kwargs[name] = value
        settings.append(Setting(**kwargs))  # type: ignore[arg-type]
    return settings or [Setting()]


def unsupported(setting: Setting, dim: int) -> str | None:
    """Why ``setting`` cannot run on ``dim``-d vectors (None when it can)."""
    if setting.pca is not None and setting.pca >= dim:
        return f"PCA {setting.pca} >= dim {dim}"
    if setting.index != "exact" and setting.metric != "cosine":
        return "ANN indexes search by inner product: cosine only"
    fitted = setting.whiten is not None or setting.expand
    if setting.weights and (
        setting.metric != "cosine" or setting.pca or setting.quantize or fitted
    ):
        return "hybrid weights combine plain cosine scores: no other metric, PCA or quantisation"
    if fitted and (setting.index != "exact" or setting.metric != "cosine"):
        return "whitening / expansion are evaluated with exact cosine search"
    return None


def _knn(xq: np.ndarray, xb: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k under ``metric`` (scores: higher is closer); cosine is the inner product
    here, since compressed vectors are compared as decoded (not re-normalised)."""
    return knn_exact(xq, xb, k, "ip" if metric == "cosine" else metric)


def pair_scores(xq: np.ndarray, xb: np.ndarray, metric: str) -> np.ndarray:
    """``(len(xq), len(xb))`` scores under ``metric`` (higher is closer)."""
    return exact_pair_scores(xq, xb, "ip" if metric == "cosine" else metric)


def search_setting(
    base: np.ndarray,
    query_rows: np.ndarray,
    k: int,
    setting: Setting,
    *,
    seed: int = 0,
    gallery: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, float]]:
    """Top-``k + 1`` of ``base[query_rows]`` among ``base`` (its first ``gallery`` rows when
    given: outside queries sit after the catalog) under ``setting``'s compression, metric and
    index. Returns ``(D, I, stored, queries, seconds)``: the raw lists (self not yet dropped),
    the stored and query vectors as searched (for pair-score histograms) and the seconds of
    each stage."""
    if setting.weights:
        raise ConfigError("hybrid weights are ranked by evaluate.hybrid, not by a vector search")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    everything = np.asarray(base, dtype=np.float32)
    stored = raw = everything if gallery is None else everything[:gallery]
    queries = everything[query_rows]
    if setting.whiten is not None or setting.expand:
        stored, queries = _fitted(stored, queries, query_rows, setting, gallery is None)
    if setting.pca or setting.quantize:
        codec = VectorCodec(pca=setting.pca, quantize=setting.quantize).fit(stored, seed=seed)
        queries = codec.project(queries)
        stored = codec.decode(codec.encode(stored))
    seconds["compress"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if setting.index == "exact":
        dists, rows = _knn(queries, stored, k + 1, setting.metric)
    else:
        dists, rows = _ann_search(raw, everything[query_rows], k + 1, setting)
    seconds["search"] = time.perf_counter() - t0
    return dists, np.asarray(rows, dtype=np.int64), stored, queries, seconds


def _fitted(
    stored: np.ndarray, queries: np.ndarray, rows: np.ndarray, setting: Setting, same: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Whitening fitted on the catalog, then DBA of the catalog and alpha-QE of the queries.
    ``same``: the queries are catalog rows (``rows``), transformed with the catalog."""
    from lookalike.embed.whiten import Whitening
    from lookalike.recommend.expansion import (
        DEFAULT_EXPANSION,
        alpha_query_expansion,
        database_augmentation,
    )

    if setting.whiten is not None:
        whitening = Whitening.fit(stored, setting.whiten)
        stored = whitening.apply(stored)
        queries = stored[rows] if same else whitening.apply(queries)
    if setting.expand == "dba":
        k, alpha = DEFAULT_EXPANSION
        stored = database_augmentation(stored, k, alpha)
        queries = alpha_query_expansion(stored[rows] if same else queries, stored, k, alpha)
    return stored, queries


def _ann_search(
    base: np.ndarray, queries: np.ndarray, k: int, setting: Setting
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` with ``lookalike.index.make_index`` (it fits its own PCA/quantisation and
    projects the queries itself); rows are named by their position."""
    ids = [str(i) for i in range(len(base))]
    index = make_index(
        setting.index, VectorSet(ids, base), pca=setting.pca, quantize=setting.quantize
    )
    scores, found = index.search(queries, k)
    dists = np.full((len(queries), k), -np.inf, dtype=np.float32)
    rows = np.full((len(queries), k), -1, dtype=np.int64)
    for i, (row_scores, row_ids) in enumerate(zip(scores, found, strict=True)):
        hits = [(float(s), int(r)) for s, r in zip(row_scores, row_ids, strict=False) if r != ""]
        for j, (score, row) in enumerate(hits[:k]):
            dists[i, j], rows[i, j] = score, row
    return dists, rows
