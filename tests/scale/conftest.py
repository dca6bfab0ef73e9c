"""Scale-out fixtures: one local Ray instance for the session, milvus-lite databases.

Both skip (with the reason) only where the ``scale`` extra is not installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest


def require(module: str) -> None:
    """Skip the test when ``module`` (part of the ``scale`` extra) cannot be imported."""
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[scale]')")


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A local Ray instance with 2 CPUs, started once: Ray takes seconds to start."""
    require("ray")
    import ray

    for attempt in range(3):
        try:
            ray.init(
                num_cpus=2,
                include_dashboard=False,
                log_to_driver=False,
                object_store_memory=256 * 1024**2,
            )
            break
        except Exception:  # Ray gives the raylet a fixed 30 s to register: a loaded machine
            ray.shutdown()  # can miss it, so try again before failing the tests
            if attempt == 2:
                raise
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def milvus_lite() -> None:
    """Skips without pymilvus + milvus-lite."""
    require("pymilvus")
    require("milvus_lite")
