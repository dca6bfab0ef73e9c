"""Hybrid weights tuned on the catalog (``lookalike train --method weights``).

They live in ``Workspace.weights_dir`` as ``weights.json`` (``{"weights": {"image": ..,
"title": .., "attrs": ..}, ...}``) and are the Recommender's default weights when the build
did not set its own (``build --weights`` other than image-only wins: it was asked for) and the
build kept its title vectors. A query's own weights always win. A damaged file is a logged
skip, never a service that cannot start.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from lookalike.atomic import write_json_atomic
from lookalike.errors import ConfigError
from lookalike.recommend.filters import Weights

__all__ = ["WEIGHTS_FILE", "default_weights", "load_tuned_weights", "save_tuned_weights"]

WEIGHTS_FILE = "weights.json"
log = logging.getLogger(__name__)


def save_tuned_weights(folder: Path, weights: Weights, record: dict[str, Any]) -> Path:
    """Write ``weights.json`` in ``folder`` atomically (``record``: how they were chosen)."""
    path = folder / WEIGHTS_FILE
    write_json_atomic(path, {**record, "weights": weights.as_dict()})
    return path


def load_tuned_weights(folder: Path) -> Weights | None:
    """The weights in ``folder/weights.json``, or None (missing; damaged: logged)."""
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        return None
    try:
        return Weights.parse(json.loads(path.read_text(encoding="utf-8"))["weights"])
    except (OSError, ValueError, KeyError, TypeError, ConfigError) as exc:
        log.warning("ignoring the tuned weights in %s (%s): train them again", path, exc)
        return None


def default_weights(manifest: dict[str, Any], folder: Path) -> Weights:
    """The build's weights when it set any beyond image-only, else the tuned ones (when the
    build has title vectors), else image-only."""
    conf = manifest.get("recommend") or {}
    built = Weights.parse(conf.get("weights"))
    if not built.image_only or not conf.get("titles", True):
        return built
    return load_tuned_weights(folder) or built
