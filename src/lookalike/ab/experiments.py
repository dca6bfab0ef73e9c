"""A/B experiments: definitions (frozen, validated), lifecycle and sticky visitor assignment.

They are kept in ``<workspace>/experiments.json`` by ``experiment_store.ExperimentStore``
(format in README "A/B testing")::

    {"version": 1, "experiments": {"img-vs-attr": {
        "variants": [{"name": "image", "weight": 50}, {"name": "attributes", "weight": 50}],
        "holdout": 0.1, "control": "image", "status": "running",
        "periods": [[1764090000.0, null]], "created": 1764090000.0}}}

A visitor is assigned by ``sha256(experiment name + visitor id)`` read as a uniform number in
[0, 1): the first ``holdout`` share of that interval is the holdout, the rest is cut by the
variants' cumulative weights. So the same visitor always sees the same variant, in any process,
and two experiments split visitors independently of each other.

At most one experiment of a shop runs (or is paused) at a time, so that every impression is
attributed to one variant. ``paused``: everyone gets the control variant and nothing is
attributed; ``stopped``: frozen for good, the report still works. An experiment written into
the file by hand without a status is a ``draft`` until ``lookalike ab start`` starts it.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from lookalike.errors import ConfigError, NotFoundError
from lookalike.textutil import split_pair

__all__ = [
    "HOLDOUT",
    "HYBRID_DEFAULT_WEIGHTS",
    "VARIANT_KINDS",
    "Assignment",
    "Experiment",
    "Variant",
    "assign_variant",
    "bucket_of",
    "parse_variant",
]

FORMAT_VERSION = 1
HOLDOUT = "holdout"  # the variant name of holdout visitors: they get no recommendations
# What a variant can serve (see ab/variants.py): image similarity, catalog attributes only,
# weighted image + title + attributes, most-clicked in the query's category.
VARIANT_KINDS = ("image", "attributes", "hybrid", "popular")
# A hybrid variant without params: mostly the image, some title and attribute agreement.
HYBRID_DEFAULT_WEIGHTS = {"image": 0.6, "title": 0.2, "attrs": 0.2}
Status = Literal["draft", "running", "paused", "stopped"]
STATUSES: tuple[str, ...] = ("draft", "running", "paused", "stopped")
_NAME = re.compile(r"[A-Za-z0-9][\w.-]{0,63}")


def bucket_of(experiment: str, visitor: str) -> float:
    """The visitor's uniform number in [0, 1) for ``experiment`` (first 64 bits of sha256)."""
    digest = hashlib.sha256(f"{experiment}\x1f{visitor}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@dataclass(frozen=True)
class Variant:
    """One arm of an experiment: a name, a relative traffic weight and what it serves.

    ``kind`` (default: the name) is one of ``VARIANT_KINDS``; ``params`` tunes it
    (``hybrid``: the weights ``{"image": 0.6, "title": 0.2, "attrs": 0.2}``, the default;
    ``popular``: ``{"days": 30}``, the click window).
    """

    name: str
    weight: float
    kind: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name) or self.name == HOLDOUT:
            raise ConfigError(
                f"bad variant name {self.name!r}: letters, digits, '.', '_' or '-', not {HOLDOUT!r}"
            )
        if not self.kind:
            object.__setattr__(self, "kind", self.name)
        if self.kind not in VARIANT_KINDS:
            raise ConfigError(
                f"variant {self.name!r}: unknown kind {self.kind!r}; use one of {VARIANT_KINDS}"
            )
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise ConfigError(f"variant {self.name!r}: weight must be a positive number")
        object.__setattr__(self, "params", dict(self.params))
        if self.kind == "hybrid":
            from lookalike.recommend.filters import Weights

            Weights.parse(self.params or HYBRID_DEFAULT_WEIGHTS)  # ConfigError when invalid
        elif self.kind == "popular" and not _positive(self.params.get("days", 30)):
            raise ConfigError(f"variant {self.name!r}: days must be a positive number")

    def to_dict(self) -> dict[str, Any]:
        """The variant as stored in the config file."""
        data: dict[str, Any] = {"name": self.name, "weight": self.weight}
        if self.kind != self.name:
            data["kind"] = self.kind
        if self.params:
            data["params"] = dict(self.params)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Variant:
        """Read one entry of ``variants`` (``ConfigError`` when malformed)."""
        unknown = set(data) - {"name", "weight", "kind", "params"}
        if unknown:
            raise ConfigError(f"unknown variant field(s) {sorted(unknown)}")
        try:
            name = str(data["name"])
            weight = float(data.get("weight", 1))
            params = dict(data.get("params", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"bad variant {dict(data)!r}: {exc!r}") from exc
        return cls(name=name, weight=weight, kind=str(data.get("kind", "")), params=params)


def _positive(value: object) -> bool:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number > 0


def parse_variant(text: str) -> Variant:
    """``image=50``, ``attributes`` (weight 1) or ``cheap=30:attributes`` (name=weight:kind)."""
    name, rest = split_pair(text, what="NAME=WEIGHT") if "=" in text else (text, "")
    weight_text, _, kind = rest.partition(":")
    try:
        weight = float(weight_text) if weight_text else 1.0
    except ValueError as exc:
        raise ConfigError(f"bad --variant {text!r}: use NAME=WEIGHT, e.g. image=50") from exc
    return Variant(name.strip(), weight, kind.strip())


@dataclass(frozen=True)
class Assignment:
    """What one request gets: the variant to serve and whether its events are attributed."""

    experiment: str  # "" when no experiment is running for this visitor
    variant: str  # the variant name, HOLDOUT, or "" when none
    kind: str  # the recommender to use; "" for the holdout (nothing is shown)
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def attributed(self) -> bool:
        """Whether impressions and clicks should carry the experiment and variant."""
        return bool(self.experiment)


def assign_variant(
    experiment: str, visitor: str, variants: Sequence[Variant], holdout: float
) -> str:
    """The variant name (or ``HOLDOUT``) of ``visitor``: deterministic and sticky."""
    u = bucket_of(experiment, visitor)
    if u < holdout:
        return HOLDOUT
    u = (u - holdout) / (1.0 - holdout)  # uniform again on the non-holdout part
    total = sum(v.weight for v in variants)
    edge = 0.0
    for variant in variants:
        edge += variant.weight / total
        if u < edge:
            return variant.name
    return variants[-1].name  # u just below 1.0 with rounding in the cumulative sum


@dataclass(frozen=True)
class Experiment:
    """An experiment's definition and lifecycle state.

    ``holdout`` is a share in [0, 0.9]; ``control`` (default: the first variant) is the
    baseline of the report and what everybody gets while the experiment is paused.
    ``periods`` are the ``[start, end]`` times (``end`` None while running) during which
    events count for the report.
    """

    name: str
    variants: tuple[Variant, ...]
    holdout: float = 0.0
    control: str = ""
    status: Status = "draft"
    periods: tuple[tuple[float, float | None], ...] = ()
    created: float = 0.0

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ConfigError(
                f"bad experiment name {self.name!r}: 1-64 letters, digits, '.', '_' or '-'"
            )
        variants = tuple(self.variants)
        object.__setattr__(self, "variants", variants)
        if len(variants) < 2:
            raise ConfigError(f"experiment {self.name!r} needs at least two variants")
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise ConfigError(f"experiment {self.name!r}: variant names repeat: {names}")
        if not 0.0 <= self.holdout <= 0.9:
            raise ConfigError(f"holdout must be a share between 0 and 0.9, not {self.holdout}")
        if not self.control:
            object.__setattr__(self, "control", names[0])
        if self.control not in names:
            raise ConfigError(f"control {self.control!r} is not one of the variants {names}")
        if self.status not in STATUSES:
            raise ConfigError(f"unknown status {self.status!r}: use one of {STATUSES}")
        object.__setattr__(self, "periods", tuple((float(s), e) for s, e in self.periods))
        if not self.created:
            object.__setattr__(self, "created", time.time())

    def variant(self, name: str) -> Variant:
        """A variant by name (``NotFoundError`` when unknown)."""
        for v in self.variants:
            if v.name == name:
                return v
        raise NotFoundError(f"experiment {self.name!r} has no variant {name!r}")

    def shares(self) -> dict[str, float]:
        """Expected traffic share of each variant and of the holdout (they sum to 1)."""
        total = sum(v.weight for v in self.variants)
        out = {v.name: (1.0 - self.holdout) * v.weight / total for v in self.variants}
        out[HOLDOUT] = self.holdout
        return out

    def assign(self, visitor: str) -> Assignment:
        """What ``visitor`` gets now: while running, their variant (or the holdout); without a
        visitor id, or when not running, the control, unattributed. (The service asks only the
        active experiment: once stopped, a shop is back to plain image similarity.)"""
        if self.status != "running" or not visitor:
            control = self.variant(self.control)
            return Assignment("", "", control.kind, control.params)
        name = assign_variant(self.name, visitor, self.variants, self.holdout)
        if name == HOLDOUT:
            return Assignment(self.name, HOLDOUT, "")
        chosen = self.variant(name)
        return Assignment(self.name, name, chosen.kind, chosen.params)

    def counts_at(self, ts: float) -> bool:
        """Whether an event at time ``ts`` falls in a running period."""
        return any(s <= ts and (e is None or ts <= e) for s, e in self.periods)

    def with_status(self, status: Status, now: float | None = None) -> Experiment:
        """A copy moved to ``status`` (``ConfigError`` for a transition that is not allowed)."""
        now = time.time() if now is None else now
        if self.status == "stopped":
            raise ConfigError(f"experiment {self.name!r} is stopped; start a new one")
        if status == self.status:
            raise ConfigError(f"experiment {self.name!r} is already {status}")
        if self.status == "draft" and status != "running":
            raise ConfigError(f"experiment {self.name!r} has not started yet")
        if status == "draft":
            raise ConfigError("an experiment cannot go back to draft")
        periods = list(self.periods)
        if status == "running":
            periods.append((now, None))
        elif periods and periods[-1][1] is None:
            periods[-1] = (periods[-1][0], now)
        return replace(self, status=status, periods=tuple(periods))

    def to_dict(self) -> dict[str, Any]:
        """The experiment as stored in the config file."""
        return {
            "variants": [v.to_dict() for v in self.variants],
            "holdout": self.holdout,
            "control": self.control,
            "status": self.status,
            "periods": [list(p) for p in self.periods],
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> Experiment:
        """Read one entry of ``experiments`` (``ConfigError`` when malformed)."""
        unknown = set(data) - {"variants", "holdout", "control", "status", "periods", "created"}
        if unknown:
            raise ConfigError(f"experiment {name!r}: unknown field(s) {sorted(unknown)}")
        if not isinstance(data.get("variants"), list):
            raise ConfigError(f"experiment {name!r} needs a list of variants")
        variants = tuple(Variant.from_dict(v) for v in data["variants"])
        try:
            holdout = float(data.get("holdout", 0.0))
            periods = tuple(
                (float(s), None if e is None else float(e)) for s, e in data.get("periods", [])
            )
            created = float(data.get("created", 0.0))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"experiment {name!r} is malformed: {exc!r}") from exc
        return cls(
            name=name,
            variants=variants,
            holdout=holdout,
            control=str(data.get("control", "")),
            status=data.get("status", "draft"),
            periods=periods,
            created=created,
        )
