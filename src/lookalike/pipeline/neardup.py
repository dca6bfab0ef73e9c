"""The near-duplicate threshold, calibrated for the build's own model and head.

A near-duplicate is the same photo under another SKU: re-uploaded, so re-encoded and often
resized. How close such a copy scores depends on the space: a trained head pulls distinct
products together (a fixed 0.97 then hid real neighbours of 11-23% of products), the colour
histogram scores every re-encoding near 1. So each build measures it:

1. a sample of the catalog's images (the ``SAMPLE`` lowest sha256: a random, stable sample)
   is re-encoded as JPEG in each of ``VARIANTS`` (quality, scale), embedded and passed through
   the head, exactly as a re-uploaded copy would be; its cosine to the original is a *copy*
   score;
2. ``threshold_from(copies)``: just below what re-encoding does to the same photo, the
   ``QUANTILE`` of the copy scores less ``MARGIN`` of its distance to 1, clamped to
   ``[LOWEST, HIGHEST]``: a product scoring above it is a copy of the query and is dropped;
3. the sampled products' nearest *other* product (another group) gives the *distinct* scores,
   recorded with the share of them above the threshold (``nearest_above``) and above the fixed
   0.97 (``fixed_above``): what the threshold hides, and what the fixed one would have hidden.
   They do not move the threshold (a catalog's nearest pairs include its real duplicates),
   but when the threshold would hide the nearest neighbour of more than ``UNRELIABLE`` of
   the sampled products, the model does not tell copies from distinct products (re-encoding
   moves a photo farther than its neighbours: Lite0 on flat synthetic drawings scored copies
   0.74-0.99 against distinct drawings at 0.85-0.91) and the fixed
   ``DEFAULT_NEAR_DUPLICATE`` is kept (``method: "fixed"`` with the measurements). Measured
   on real clothing photos with Lite0: copies 0.96-1.0, the nearest distinct products at most
   0.89, threshold 0.956.

Re-encoded vectors are cached by ``<sha256>:<variant>`` (``Workspace.embeddings``, key
``<model key>.reencoded``), so a rebuild loads no model for them; the sample is topped up
only when the build embedded something anyway (or has fewer than ``MIN_SAMPLE`` cached).
Fewer than ``MIN_SAMPLE`` usable images: the fixed ``DEFAULT_NEAR_DUPLICATE`` (``method:
"fixed"``). The threshold is stored in the generation's manifest
(``recommend.near_duplicate``, details in ``recommend.near_duplicate_calibration``): the top-K
table is built with it and the service reads it from there (an older generation without one
reads the fixed value).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image

from lookalike.embed.decode import load_image
from lookalike.embed.head import Head
from lookalike.index.exact import knn_exact
from lookalike.index.vectors import VectorSet
from lookalike.pipeline.embed import EmbedStage
from lookalike.pipeline.state import BuildState
from lookalike.recommend.exclusions import DEFAULT_NEAR_DUPLICATE

__all__ = [
    "Calibration",
    "NearDuplicateStage",
    "VARIANTS",
    "copy_scores",
    "reencode",
    "threshold_from",
]

log = logging.getLogger(__name__)

SAMPLE = 48
MIN_SAMPLE = 8
VARIANTS: tuple[tuple[int, float], ...] = ((70, 0.75), (90, 1.0))  # JPEG quality, scale
QUANTILE = 0.02
MARGIN = 0.25
LOWEST, HIGHEST = 0.80, 0.9995
# above this share of sampled products losing their nearest neighbour, the measurement is
# not trusted (copies and distinct products overlap) and the fixed threshold is kept
UNRELIABLE = 0.5


@dataclass
class Calibration:
    """The threshold and the measurements behind it (the manifest keeps ``record()``)."""

    threshold: float
    method: str  # "reencoded" (measured) or "fixed" (too few images)
    images: int = 0  # sampled images with a copy score
    copies: dict[str, float] = field(default_factory=dict)  # min, q02, median
    distinct: dict[str, float] = field(default_factory=dict)  # median, q90, q99
    nearest_above: float | None = None  # sampled products whose nearest other is above it
    fixed_above: float | None = None  # ... above the fixed DEFAULT_NEAR_DUPLICATE

    def record(self) -> dict[str, Any]:
        """JSON-ready, rounded."""
        out = asdict(self)
        for key in ("copies", "distinct"):
            out[key] = {k: round(v, 6) for k, v in out[key].items()}
        return out


def reencode(data: bytes, quality: int, scale: float) -> bytes:
    """The image as a re-uploaded copy: decoded, resized by ``scale``, saved as JPEG."""
    image = load_image(data)
    if scale != 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def threshold_from(copies: np.ndarray) -> float:
    """The rule: the ``QUANTILE`` of the copy scores, less ``MARGIN`` of its distance to 1,
    clamped to ``[LOWEST, HIGHEST]`` (an exact copy at 1.0 is always dropped)."""
    low = float(np.quantile(np.asarray(copies, dtype=np.float64), QUANTILE))
    return float(np.clip(low - MARGIN * (1.0 - low), LOWEST, HIGHEST))


def copy_scores(space: VectorSet, copies: VectorSet) -> np.ndarray:
    """Cosine of each copy (``"<sha>:<variant>"`` rows, in the product space) to its original."""
    originals = space.take([i.split(":", 1)[0] for i in copies.ids]).vectors
    return np.einsum("ij,ij->i", np.asarray(originals), np.asarray(copies.vectors))


def _distinct(state: BuildState, shas: list[str]) -> np.ndarray:
    """Per sampled product: the cosine of its nearest product of another group."""
    assert state.vectors is not None
    sampled = set(shas)
    rows = [i for i, pid in enumerate(state.vectors.ids) if sampled & set(state.owned.get(pid, ()))]
    x = np.asarray(state.vectors.vectors)
    if len(x) < 2 or not rows:
        return np.zeros(0)
    group = {p.id: p.group_id for p in state.products}
    groups = np.asarray([group.get(pid, "") or pid for pid in state.vectors.ids], dtype=object)
    scores, idx = knn_exact(x[rows], x, min(len(x), 11))
    best = []
    for row, (s, j) in zip(rows, zip(scores, idx, strict=True), strict=True):
        other = (j >= 0) & (j != row) & (groups[np.maximum(j, 0)] != groups[row])
        if other.any():
            best.append(float(s[other][0]))
    return np.asarray(best)


def _quantiles(values: np.ndarray, named: dict[str, float]) -> dict[str, float]:
    return {k: float(np.quantile(values, q)) for k, q in named.items()} if len(values) else {}


class NearDuplicateStage:
    """Calibrates ``state.options.near_duplicate`` (see the module doc) with the embed
    stage's model (loaded once per build) and cache key."""

    def __init__(self, embed: EmbedStage) -> None:
        self.embed = embed
        self.key = embed.key

    def __call__(self, state: BuildState, head: Head | None) -> None:
        options = state.options
        if not options.calibrate_near_duplicate or options.near_duplicate is None:
            return
        with state.timed("near_duplicate"):
            calibration = self._calibrate(state, head)
        state.near_duplicate_calibration = calibration.record()
        state.options = replace(options, near_duplicate=calibration.threshold)
        log.info("near-duplicate threshold %.4f (%s)", calibration.threshold, calibration.method)

    def _calibrate(self, state: BuildState, head: Head | None) -> Calibration:
        assert state.space is not None
        usable = sorted(
            i.sha256
            for i in state.images.values()
            if i.sha256 and not i.reason and i.path is not None and i.sha256 in state.space
        )
        shas = list(dict.fromkeys(usable))[:SAMPLE]
        if len(shas) < MIN_SAMPLE:
            return Calibration(DEFAULT_NEAR_DUPLICATE, "fixed", images=len(shas))
        copies = self._copies(state, shas)
        if head is not None and len(copies):
            copies = VectorSet(copies.ids, head.apply(copies.vectors))
        scores = copy_scores(state.space, copies)
        if len(scores) < MIN_SAMPLE:
            return Calibration(DEFAULT_NEAR_DUPLICATE, "fixed", images=len(scores))
        threshold = threshold_from(scores)
        distinct = _distinct(state, shas)
        share = (lambda t: float(np.mean(distinct > t))) if len(distinct) else (lambda t: None)
        hidden = share(threshold)
        method = "reencoded"
        if hidden is not None and hidden > UNRELIABLE:
            # re-encoding moves a photo farther than most products' nearest neighbour: the
            # model does not tell copies from distinct products, so keep the fixed rule
            threshold, method, hidden = (
                DEFAULT_NEAR_DUPLICATE,
                "fixed",
                share(DEFAULT_NEAR_DUPLICATE),
            )
        return Calibration(
            threshold,
            method,
            images=len({c.split(":", 1)[0] for c in copies.ids}),
            copies=_quantiles(scores, {"min": 0.0, "q02": QUANTILE, "median": 0.5}),
            distinct=_quantiles(distinct, {"median": 0.5, "q90": 0.9, "q99": 0.99}),
            nearest_above=hidden,
            fixed_above=share(DEFAULT_NEAR_DUPLICATE),
        )

    def _copies(self, state: BuildState, shas: list[str]) -> VectorSet:
        """The backbone vectors of every sampled image's copies (cached, topped up)."""
        cache_file = state.ws.embeddings(f"{self.key}.reencoded")  # rows <sha256>:<variant>
        dim = state.cache.dim if state.cache is not None else 0
        cache = cache_file.load_or_empty(dim)
        wanted = [f"{s}:{v}" for s in shas for v in range(len(VARIANTS))]
        have = [w for w in wanted if w in cache]
        cached_images = len({w.split(":", 1)[0] for w in have})
        # only top up when the model is loaded anyway, or too few are cached to decide
        if len(have) < len(wanted) and (state.embedded or cached_images < MIN_SAMPLE):
            new = self._embed(state, [w for w in wanted if w not in cache])
            if len(new):
                cache = cache.merged(new)
                cache_file.save(cache.merged(VectorSet.empty(cache.dim), keep=wanted))
            have = [w for w in wanted if w in cache]
        return cache.take(have) if have else VectorSet.empty(dim)

    def _embed(self, state: BuildState, names: list[str]) -> VectorSet:
        from lookalike.embed.pipeline import embed_images

        path = {i.sha256: i.path for i in state.images.values() if i.sha256 and i.path}

        def copy_of(name: str) -> Callable[[], bytes]:
            sha, variant = name.split(":", 1)
            quality, scale = VARIANTS[int(variant)]
            return lambda: reencode(path[sha].read_bytes(), quality, scale)

        if not names:
            return VectorSet.empty(0)
        embedder = self.embed.embedder([path[n.split(":", 1)[0]] for n in names])
        # the copies are made in the decode threads, beside the model, not before it
        result = embed_images(
            [copy_of(name) for name in names],
            embedder,
            batch_size=state.options.batch_size,
            workers=state.options.workers,
        )
        for row, error in sorted(result.errors.items()):  # the build decoded them: rare
            log.warning("near-duplicate calibration skips %s: %s", names[row][:12], error)
        return VectorSet([names[i] for i in result.ok], result.vectors)
