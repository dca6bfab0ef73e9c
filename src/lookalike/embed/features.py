"""Label-free feature options, named in the model string: ``lite0+gem+flip+color``.

A model name is one or more backbones (``lite0``, ``lite1``, ``lite2``; several = an
ensemble, descriptors concatenated with equal weight) followed by options:

- ``gem`` / ``gemP`` (``gem4``, ``gem2.5``): generalised-mean pooling, ``(mean x^p)^(1/p)``,
  instead of the plain mean (p=1). Stresses the strongest activations. A build given ``gem``
  without P chooses p on the catalog (:mod:`~lookalike.embed.gem_select`) and records it;
  elsewhere (``get_embedder``, ``evaluate --compare``) plain ``gem`` is p=3.
- ``blocks``: fuse the pooled outputs of two earlier blocks (``last``, ``mid`` of
  :mod:`~lookalike.embed.feature_export`) with the head's, each L2-normalised, weight 0.5.
- ``flip``: also embed the mirrored image; descriptors averaged.
- ``ms``: multi-scale: the model input is 1.25x the native side, and a 0.8x down-sampled copy
  (the native side) is embedded too; descriptors averaged.
- ``sqrt`` / ``powA`` (``pow0.3``): power normalisation ``sign(x)|x|^a`` of the descriptor.
- ``color`` / ``colorW``: concatenate the 8x8x8 RGB histogram (Hellinger) with weight W (0.5).

Every option is deterministic (no randomness anywhere). The canonical name (:func:`FeatureSpec.key`)
is the embedding-cache key, so each combination has its own cache.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.embed.base import check_batch, l2_normalize
from lookalike.errors import ConfigError

__all__ = [
    "FeatureSpec",
    "FeatureEmbedder",
    "BACKBONES",
    "gem_pool",
    "power_normalize",
    "resize_batch",
    "load_feature_embedder",
]

BACKBONES = ("lite0", "lite1", "lite2")
DEFAULT_GEM = 3.0
DEFAULT_COLOR = 0.5
BLOCK_WEIGHT = 0.5
MS_FACTOR = 1.25
# the maps pooled: the head's, the last block's and the last stride-16 block's, named by role
MAP_ROLES = ("head", "last", "mid")
# their names in the converter's graph (lookalike.embed.lite_onnx)
CONVERTER_OUTPUTS = ("head", "stage7", "stage5")
_OPTION = re.compile(r"^(gem|pow|color)(\d+(?:\.\d+)?)?$")


def _number(text: str) -> str:
    return f"{float(text):g}"


@dataclass(frozen=True)
class FeatureSpec:
    """Backbones and pooling/augmentation options; see the module doc for the grammar."""

    models: tuple[str, ...]
    gem: float | None = None
    blocks: bool = False
    flip: bool = False
    multiscale: bool = False
    power: float | None = None
    color: float | None = None
    # ``gem`` named without P: a build chooses p on the catalog (the key still says gem3)
    gem_auto: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if not self.models or any(m not in BACKBONES for m in self.models):
            raise ConfigError(f"feature models must be among {', '.join(BACKBONES)}")
        if self.gem is not None and not 1.0 <= self.gem <= 10.0:
            raise ConfigError(f"GeM p must be in [1, 10], got {self.gem}")
        if self.power is not None and not 0.0 < self.power <= 1.0:
            raise ConfigError(f"power must be in (0, 1], got {self.power}")
        if self.color is not None and not 0.0 < self.color <= 4.0:
            raise ConfigError(f"colour weight must be in (0, 4], got {self.color}")

    @classmethod
    def parse(cls, name: str) -> FeatureSpec:
        """``"lite0+gem+flip"`` -> a spec; ConfigError for an unknown part."""
        parts = [p.strip().lower() for p in name.split("+") if p.strip()]
        models = tuple(dict.fromkeys(p for p in parts if p in BACKBONES))
        kwargs: dict[str, object] = {}
        for part in parts:
            if part in BACKBONES:
                continue
            if part in ("blocks", "flip"):
                kwargs[part] = True
            elif part == "ms":
                kwargs["multiscale"] = True
            elif part == "sqrt":
                kwargs["power"] = 0.5
            elif match := _OPTION.match(part):
                kind, value = match.group(1), match.group(2)
                if kind == "gem":
                    kwargs["gem"] = float(value) if value else DEFAULT_GEM
                    kwargs["gem_auto"] = not value
                elif kind == "pow":
                    kwargs["power"] = float(value) if value else 0.5
                else:
                    kwargs["color"] = float(value) if value else DEFAULT_COLOR
            else:
                raise ConfigError(
                    f"unknown feature option {part!r} in model {name!r}; valid: gem[P], blocks, "
                    "flip, ms, sqrt, pow[A], color[W] after lite0/lite1/lite2"
                )
        if not models:
            raise ConfigError(f"model {name!r} names no backbone (lite0, lite1 or lite2)")
        return cls(models, **kwargs)  # type: ignore[arg-type]

    @property
    def is_plain(self) -> bool:
        """One backbone, no option: the plain embedder does the same, faster."""
        return len(self.models) == 1 and self == FeatureSpec(self.models)

    def with_gem(self, p: float) -> FeatureSpec:
        """This spec with GeM exponent ``p`` (p=1: plain mean pooling, no ``gem`` part)."""
        return replace(self, gem=None if p == 1.0 else float(p), gem_auto=False)

    def key(self) -> str:
        """The canonical name (fixed option order), also the embedding-cache key."""
        parts = list(self.models)
        if self.gem is not None:
            parts.append(f"gem{_number(str(self.gem))}")
        if self.blocks:
            parts.append("blocks")
        if self.flip:
            parts.append("flip")
        if self.multiscale:
            parts.append("ms")
        if self.power is not None:
            parts.append("sqrt" if self.power == 0.5 else f"pow{_number(str(self.power))}")
        if self.color is not None:
            parts.append("color" if self.color == DEFAULT_COLOR else f"color{self.color:g}")
        return "+".join(parts)


def gem_pool(maps: np.ndarray, p: float | None) -> np.ndarray:
    """``(B, C, H, W)`` -> ``(B, C)``: mean over H, W (``p`` None or 1) or GeM with exponent
    ``p`` on the maps clamped at 1e-6 (GeM is defined for non-negative activations)."""
    x = np.asarray(maps, dtype=np.float32)
    if p is None or p == 1.0:
        return x.mean(axis=(2, 3))
    x = np.maximum(x, 1e-6, dtype=np.float32)
    return np.power(np.power(x, p).mean(axis=(2, 3)), 1.0 / p).astype(np.float32)


def power_normalize(x: np.ndarray, alpha: float | None) -> np.ndarray:
    """``sign(x) |x|^alpha`` (``alpha`` None: unchanged)."""
    if alpha is None:
        return np.asarray(x, dtype=np.float32)
    return (np.sign(x) * np.power(np.abs(x), alpha)).astype(np.float32)


def _resample_matrix(size_in: int, size_out: int) -> np.ndarray:
    """``(out, in)`` antialiased linear (triangle) weights, rows summing to 1."""
    scale = size_in / size_out
    support = max(scale, 1.0)
    centres = (np.arange(size_out) + 0.5) * scale - 0.5
    taps = np.arange(size_in)[None, :]
    weights = np.maximum(0.0, 1.0 - np.abs(taps - centres[:, None]) / support)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def resize_batch(batch: np.ndarray, size: int) -> np.ndarray:
    """Resample a ``(B, C, H, W)`` batch to ``(B, C, size, size)`` (separable, antialiased)."""
    rows = _resample_matrix(batch.shape[2], size)
    cols = _resample_matrix(batch.shape[3], size)
    b, c, h, w = batch.shape
    # two plain GEMMs (broadcast matmul over a 4-d stack is far slower)
    x = np.asarray(batch, dtype=np.float32).reshape(b * c * h, w) @ cols.T  # (B*C*H, size)
    x = x.reshape(b, c, h, size).transpose(2, 0, 1, 3).reshape(h, -1)
    x = (rows @ x).reshape(size, b, c, size).transpose(1, 2, 0, 3)
    return np.ascontiguousarray(x)


class FeatureEmbedder:
    """Runs the feature-map ONNX exports and pools them as a :class:`FeatureSpec` says."""

    def __init__(
        self,
        spec: FeatureSpec,
        sessions: dict[str, tuple[Any, tuple[str, ...]]],
        native: int,
        sides: dict[str, int] | None = None,
    ) -> None:
        from lookalike.embed.preprocess import resize_for_input

        self.spec = spec
        self.name = spec.key()
        self._sessions = sessions
        self._sides = sides or {}  # model -> the side its graph takes (absent: any side)
        self._native = native
        # (model, view tag) -> maps of the current batch: lets several embedders that share
        # sessions reuse one forward pass (the benchmark's option table); None = no reuse
        self.memo: dict[tuple[str, str], list[np.ndarray]] | None = None
        self.input_size = round(native * MS_FACTOR) if spec.multiscale else native
        self.resize_size = resize_for_input(self.input_size)
        probe = np.zeros((1, 3, native, native), dtype=np.float32)
        self.dim = int(self._describe(probe).shape[1])

    def with_spec(self, spec: FeatureSpec) -> FeatureEmbedder:
        """Another pooling of the same backbones, sharing this one's sessions (same input)."""
        if spec.models != self.spec.models or spec.multiscale != self.spec.multiscale:
            raise ConfigError("with_spec changes pooling only, not backbones or input size")
        return FeatureEmbedder(spec, self._sessions, self._native, self._sides)

    def _maps(self, model: str, tag: str, view: np.ndarray) -> list[np.ndarray]:
        names = ["head", "last", "mid"] if self.spec.blocks else ["head"]
        memo = self.memo
        if memo is not None and (model, tag) in memo:
            return memo[(model, tag)][: len(names)]
        session, graph_names = self._sessions[model]
        wanted = ["head", "last", "mid"] if memo is not None else names
        outputs = [graph_names[MAP_ROLES.index(n)] for n in wanted]
        maps = session.run(outputs, {"input": view})
        if memo is not None:
            memo[(model, tag)] = maps
        return list(maps[: len(names)])

    def _views(self, batch: np.ndarray) -> list[tuple[str, np.ndarray]]:
        views = [("base", batch)]
        if self.spec.multiscale:
            views.append(("small", resize_batch(batch, self._native)))
        if self.spec.flip:
            views += [(f"{tag}-flip", v[..., ::-1].copy()) for tag, v in views]
        return views

    def _one_model(self, model: str, batch: np.ndarray) -> np.ndarray:
        side = self._sides.get(model)
        if side is not None and batch.shape[-1] != side:
            batch = resize_batch(batch, side)  # a static graph (ensembles): its native side
        total: list[np.ndarray] | None = None
        for tag, view in self._views(batch):
            pooled = [gem_pool(m, self.spec.gem) for m in self._maps(model, tag, view)]
            total = pooled if total is None else [t + p for t, p in zip(total, pooled, strict=True)]
        assert total is not None
        parts = [l2_normalize(power_normalize(t, self.spec.power)) for t in total]
        weights = [1.0] + [BLOCK_WEIGHT] * (len(parts) - 1)
        return l2_normalize(np.concatenate([w * p for w, p in zip(weights, parts, strict=True)], 1))

    def _describe(self, batch: np.ndarray) -> np.ndarray:
        parts = [self._one_model(m, batch) for m in self.spec.models]
        if self.spec.color is not None:
            from lookalike.embed.runners import ColorHistogramEmbedder

            parts.append(self.spec.color * ColorHistogramEmbedder().embed(batch))
        return l2_normalize(np.concatenate(parts, axis=1))

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(B, 3, S, S)`` -> float32 ``(B, dim)`` L2-normalised rows."""
        batch = check_batch(batch, self.input_size)
        if batch.shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._describe(batch)

    def __repr__(self) -> str:
        return f"FeatureEmbedder(name={self.name!r}, dim={self.dim})"


def load_feature_embedder(spec: FeatureSpec, cache_dir: Path | None = None) -> FeatureEmbedder:
    """Open every backbone's feature-map graph for ``spec``: lookalike's torch-free converter
    (static native side) unless multi-scale needs any side, which takes the torch export of
    :mod:`~lookalike.embed.feature_export` (the ``train`` extra)."""
    import onnxruntime as ort

    from lookalike.embed.onnx_export import export_onnx, get_spec
    from lookalike.embed.ortconfig import OrtSettings, session_options
    from lookalike.embed.runners import _ort_errors
    from lookalike.errors import EmbedError

    sessions: dict[str, tuple[Any, tuple[str, ...]]] = {}
    sides: dict[str, int] = {}
    # the plain embedder's settings: no spin-waiting threads, sized by the usable cores
    options = session_options(OrtSettings())
    for model in spec.models:
        if spec.multiscale:
            from lookalike.embed.feature_export import export_feature_maps

            path, names = export_feature_maps(model, cache_dir=cache_dir), MAP_ROLES
        else:
            names = CONVERTER_OUTPUTS
            path = export_onnx(model, cache_dir=cache_dir, outputs=names)
            sides[model] = get_spec(model).input_size
        try:
            session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except _ort_errors() as exc:
            raise EmbedError(f"cannot load ONNX model {path}: {exc}") from exc
        sessions[model] = (session, names)
    native = max(get_spec(m).input_size for m in spec.models)
    return FeatureEmbedder(spec, sessions, native, sides)
