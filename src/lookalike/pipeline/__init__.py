"""The build pipeline: catalog → images → embeddings → product vectors → index → top-K table.

``pipeline.build_workspace`` runs the stages; ``images`` resolves and hashes image sources,
``vectors`` turns image vectors into product vectors and the neighbour table, ``options`` holds
``BuildOptions`` and ``BuildReport``.
"""

from lookalike.pipeline.options import DEFAULT_K, BuildOptions, BuildReport
from lookalike.pipeline.runner import build_workspace

__all__ = ["BuildOptions", "BuildReport", "build_workspace", "DEFAULT_K"]
