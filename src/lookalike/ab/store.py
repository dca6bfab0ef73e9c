"""The experiments of one shop in ``<workspace>/experiments.json``: load (cached until the file
changes), save atomically, and the lifecycle operations the CLI calls."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

from lookalike.ab.experiments import (
    FORMAT_VERSION,
    Assignment,
    Experiment,
    Status,
    Variant,
)
from lookalike.atomic import write_json_atomic
from lookalike.errors import ConfigError, NotFoundError
from lookalike.workspace import Workspace

__all__ = ["ExperimentStore"]


class ExperimentStore:
    """The experiments of one shop, kept in ``<workspace>/experiments.json``.

    Writes replace the file atomically; reads re-parse it only when it changed on disk, so a
    running service picks up ``lookalike ab pause`` from another process on its next request.
    """

    def __init__(self, root: str | os.PathLike[str]):
        self.path = Workspace(root).experiments_path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._cache: dict[str, Experiment] = {}

    def load(self) -> dict[str, Experiment]:
        """All experiments by name (empty when the file does not exist)."""
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                self._stamp, self._cache = None, {}
                return {}
            stamp = (stat.st_mtime_ns, stat.st_ino)
            if stamp != self._stamp:
                self._cache = self._parse()
                self._stamp = stamp
            return dict(self._cache)

    def _parse(self) -> dict[str, Experiment]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {self.path}: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("experiments", {}), dict):
            raise ConfigError(f"{self.path}: expected an object with an 'experiments' object")
        if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
            raise ConfigError(f"{self.path}: unsupported version {data.get('version')!r}")
        return {
            name: Experiment.from_dict(name, entry)
            for name, entry in data.get("experiments", {}).items()
        }

    def save(self, experiments: Mapping[str, Experiment]) -> None:
        """Replace the file with ``experiments`` (atomically)."""
        payload = {
            "version": FORMAT_VERSION,
            "experiments": {name: e.to_dict() for name, e in experiments.items()},
        }
        write_json_atomic(self.path, payload)

    def get(self, name: str) -> Experiment:
        """One experiment (``NotFoundError`` when unknown)."""
        experiments = self.load()
        if name not in experiments:
            known = ", ".join(sorted(experiments)) or "none"
            raise NotFoundError(f"no experiment {name!r} in {self.path} (known: {known})")
        return experiments[name]

    def active(self) -> Experiment | None:
        """The experiment that is running or paused, if any."""
        for experiment in self.load().values():
            if experiment.status in ("running", "paused"):
                return experiment
        return None

    def assign(self, visitor: str) -> Assignment | None:
        """What ``visitor`` gets now, or ``None`` when the shop has no active experiment."""
        experiment = self.active()
        return None if experiment is None else experiment.assign(visitor)

    def start(
        self,
        name: str,
        variants: Sequence[Variant] = (),
        *,
        holdout: float | None = None,
        control: str = "",
        now: float | None = None,
    ) -> Experiment:
        """Define and start ``name``, or start a ``draft`` defined in the file by hand."""
        now = time.time() if now is None else now
        experiments = self.load()
        active = self.active()
        if active is not None and active.name != name:
            raise ConfigError(
                f"experiment {active.name!r} is {active.status}; stop it before starting {name!r}"
            )
        existing = experiments.get(name)
        if existing is not None and existing.status != "draft":
            raise ConfigError(
                f"experiment {name!r} already ran ({existing.status}); use `ab resume` or "
                "choose a new name"
            )
        if variants:
            experiment = Experiment(
                name,
                tuple(variants),
                holdout=holdout or 0.0,
                control=control,
                status="running",
                periods=((now, None),),
                created=now,
            )
        elif existing is not None:
            experiment = replace(
                existing,
                status="running",
                periods=((now, None),),
                holdout=existing.holdout if holdout is None else holdout,
                control=control or existing.control,
            )
        else:
            raise ConfigError(
                f"experiment {name!r} is not defined in {self.path}: give its variants, "
                "e.g. --variant image=50 --variant attributes=50"
            )
        experiments[name] = experiment
        self.save(experiments)
        return experiment

    def set_status(self, name: str, status: Status, now: float | None = None) -> Experiment:
        """Pause, resume (``running``) or stop ``name`` and save."""
        experiments = self.load()
        current = self.get(name)
        if status == "running":
            active = self.active()
            if active is not None and active.name != name:
                raise ConfigError(f"experiment {active.name!r} is {active.status}; stop it first")
        experiments[name] = current.with_status(status, now)
        self.save(experiments)
        return experiments[name]
