"""``--model lite0+gem`` without P: the build chooses p on its catalog, once per workspace.

The first build samples the catalog's images (after the images stage, before embedding) and
scores GeM's grid with :func:`lookalike.embed.gem_select.choose_gem`; the model becomes
``lite0+gemP`` (``lite0`` when p=1 wins) for the embedding cache, the manifest and the
service. Later builds asking for the same model reuse the recorded p, so their caches stay
valid and a rebuild gives the same vectors.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from lookalike.embed.features import DEFAULT_GEM, FeatureSpec
from lookalike.embed.gem_select import SAMPLE_SIZE, choose_gem
from lookalike.pipeline.state import BuildState

__all__ = ["gem_is_auto", "recorded_model", "pick_gem_stage", "MIN_SAMPLE"]

MIN_SAMPLE = 10  # images; fewer and p stays GeM's usual 3


def gem_is_auto(model: str) -> bool:
    """True when ``model`` names ``gem`` without its p (a build chooses it)."""
    if "+" not in model or model.lower().endswith(".onnx"):
        return False
    return FeatureSpec.parse(model).gem_auto


def recorded_model(model: str, manifest: dict[str, Any] | None) -> str | None:
    """The model an earlier build of this workspace resolved ``model`` to, or None."""
    choice = (manifest or {}).get("gem_choice")
    if choice and manifest and manifest.get("model_requested") == model:
        return str(manifest["model"])
    return None


def pick_gem_stage(state: BuildState, model: str) -> str:
    """Choose p on a sample of the build's images; returns the resolved model name and
    records the choice in ``state.gem_choice``."""
    spec = FeatureSpec.parse(model)
    firsts: dict[str, tuple[str, str]] = {}  # sha256 -> (path, category): one image a product
    for product in state.products:
        for source in product.images:
            image = state.images.get(source)
            if image is not None and image.sha256 and image.path and not image.reason:
                firsts.setdefault(image.sha256, (str(image.path), product.category))
                break
    # a deterministic sample: the first SAMPLE_SIZE by a hash of the content hash
    order = sorted(firsts, key=lambda sha: hashlib.sha256(sha.encode()).hexdigest())
    chosen = [firsts[sha] for sha in order[:SAMPLE_SIZE]]
    if len(chosen) < MIN_SAMPLE:  # nothing to choose on: GeM's usual p
        state.gem_choice = {"p": DEFAULT_GEM, "criterion": "default", "sample": len(chosen)}
        return spec.with_gem(DEFAULT_GEM).key()
    with state.timed("gem"):
        choice = choose_gem(
            spec, [Path(path).read_bytes for path, _ in chosen], [c for _, c in chosen]
        )
    state.gem_choice = choice.record()
    return spec.with_gem(choice.p).key()
