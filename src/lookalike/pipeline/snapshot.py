"""The snapshot stage: the products and the head a generation serves, copied into it."""

from __future__ import annotations

import shutil

from lookalike.crashpoints import crash_point
from lookalike.embed.head import Head
from lookalike.pipeline.state import BuildState

__all__ = ["snapshot_stage"]


def snapshot_stage(state: BuildState, head: Head | None) -> None:
    """Copy the product store (as this build left it) and the applied head into the
    generation, so readers never look outside it."""
    with state.timed("snapshot"):
        state.store.snapshot(state.ws.served_db)
        crash_point("snapshot.products")
        if head is not None:
            shutil.copytree(state.ws.head_dir, state.ws.served_head_dir)
    crash_point("snapshot.done")
