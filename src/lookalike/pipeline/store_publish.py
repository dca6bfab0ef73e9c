"""The publish steps for ``--store milvus...``: the build's serving data in a new collection.

``store_stage`` writes the collection before the workspace publish (nothing reads it yet: the
service opens the collection the published manifest names). ``store_commit`` runs after
``CURRENT`` names the new generation: it moves the alias and drops collections no kept
generation names. ``store_recover`` runs the same at the start of the next build, so a build
killed anywhere leaves at most an unread collection and an alias one step behind, both repaired.
"""

from __future__ import annotations

import logging
from typing import Any

from lookalike.errors import WorkspaceError
from lookalike.pipeline.options import BuildOptions
from lookalike.pipeline.state import BuildState
from lookalike.workspace import Workspace

__all__ = ["store_stage", "store_commit", "store_recover"]

log = logging.getLogger(__name__)


def store_stage(state: BuildState) -> None:
    """With ``--store``: write every product with a vector (its filter fields and top-K) to a
    new generation collection of the shop (``state.published``); the alias does not move."""
    if not state.options.store:
        return
    from lookalike.recommend.milvus import StoreSpec
    from lookalike.recommend.milvus_publish import write_generation

    assert state.vectors is not None and state.neighbors is not None, "the table stage runs first"
    if not len(state.vectors):  # a failed build: the shop's published collection stays served
        log.warning("no product has a vector: %s is not published to Milvus", state.ws.shop)
        return
    with state.timed("store"):
        by_id = {p.id: p for p in state.products}
        ids = [pid for pid in state.vectors.ids if pid in by_id]
        state.published = write_generation(
            StoreSpec.parse(state.options.store),
            state.ws.shop,
            [by_id[pid] for pid in ids],
            state.vectors.take(ids).vectors,
            {pid: state.neighbors.lookup(pid) for pid in ids},
            index_kind=state.options.index,
        )


def _kept_records(ws: Workspace) -> list[dict[str, Any]]:
    """The store records of the published generation (first) and the one it replaced."""
    records: list[dict[str, Any]] = []
    current = ws.current_id()
    while current is not None and len(records) < 2:
        try:
            manifest = Workspace(ws.root, generation=ws.generation_dir(current)).manifest()
        except WorkspaceError:
            break
        records.append(manifest.get("store") or {})
        previous = manifest.get("previous")
        current = previous if isinstance(previous, str) and len(records) < 2 else None
    return records


def _commit(ws: Workspace, spec_text: str) -> None:
    from lookalike.recommend.milvus import StoreSpec
    from lookalike.recommend.milvus_publish import commit_generation

    spec = StoreSpec.parse(spec_text)
    alias = spec.base_name(ws.shop)

    def here(record: dict[str, Any]) -> bool:
        return record.get("uri") == spec.uri and record.get("alias") == alias

    records = _kept_records(ws)
    if not records or not here(records[0]) or not records[0].get("name"):
        return  # the served generation is not in this store: nothing to point the alias at
    names = {str(r["name"]) for r in records if here(r) and r.get("name")}
    commit_generation(spec, ws.shop, str(records[0]["name"]), names)


def store_recover(ws: Workspace, options: BuildOptions) -> None:
    """Before a ``--store`` build (build lock held): point the alias at the collection the
    published generation names and drop the ones no kept generation names (what a killed
    build left)."""
    if options.store:
        _commit(ws, options.store)


def store_commit(ws: Workspace, state: BuildState) -> None:
    """After ``CURRENT`` names the new generation: move the alias onto its collection, drop
    unreferenced ones. A failure here is logged, not raised: the build is published and
    served already, and the next build repairs the alias."""
    if state.published is None or not state.options.store:
        return
    try:
        _commit(ws, state.options.store)
    except Exception as exc:  # pymilvus raises bare MilvusException / grpc errors
        log.warning("published, but the Milvus alias of %s did not move: %s", ws.shop, exc)
