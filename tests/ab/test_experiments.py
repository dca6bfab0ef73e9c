"""Experiments: sticky hash assignment, traffic split on 100k visitors, holdout, lifecycle and
the config file (atomic, re-read when another process changes it)."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from lookalike.ab.experiments import (
    HOLDOUT,
    Experiment,
    Variant,
    assign_variant,
    bucket_of,
    parse_variant,
)
from lookalike.ab.store import ExperimentStore
from lookalike.errors import ConfigError, NotFoundError

VARIANTS = (Variant("image", 50), Variant("attributes", 30), Variant("popular", 20))


def test_bucket_is_sha256_based_and_uniform() -> None:
    # Fixed value: a change of hash or encoding would silently reshuffle every live experiment.
    assert bucket_of("exp", "visitor-1") == bucket_of("exp", "visitor-1")
    digest = hashlib.sha256(b"exp\x1fvisitor-1").digest()
    assert bucket_of("exp", "visitor-1") == int.from_bytes(digest[:8], "big") / 2**64
    u = np.array([bucket_of("exp", f"v{i}") for i in range(20_000)])
    assert 0.0 <= u.min() and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 0.001


def _assign_many(name: str, visitors: list[str]) -> list[str]:
    return [assign_variant(name, v, VARIANTS, 0.1) for v in visitors]


def test_assignment_is_sticky_across_calls_and_processes() -> None:
    visitors = [f"visitor-{i}" for i in range(2000)]
    first = _assign_many("exp", visitors)
    assert first == _assign_many("exp", visitors)
    # A fresh interpreter (spawn: no inherited state, other hash seed) agrees.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        other = pool.apply(_assign_many, ("exp", visitors))
    assert other == first
    # Another experiment splits the same visitors independently.
    second = _assign_many("other-exp", visitors)
    assert 0.3 < np.mean([a != b for a, b in zip(first, second, strict=True)]) < 0.8


@pytest.mark.parametrize("holdout", [0.0, 0.1, 0.25])
def test_split_of_100k_visitors_matches_weights_and_holdout(holdout: float) -> None:
    experiment = Experiment("split", VARIANTS, holdout=holdout, status="running")
    n = 100_000
    counts = Counter(experiment.assign(f"v{i}").variant for i in range(n))
    expected = experiment.shares()
    names = [name for name, share in expected.items() if share > 0]
    assert set(counts) == set(names)
    observed = np.array([counts[name] for name in names])
    chi2 = stats.chisquare(observed, f_exp=np.array([expected[k] for k in names]) * n)
    assert chi2.pvalue > 0.001, (counts, expected)
    for name in names:  # and each share within 4 sigma
        p = expected[name]
        assert abs(counts[name] / n - p) < 4 * np.sqrt(p * (1 - p) / n)
    assert counts[HOLDOUT] / n == pytest.approx(holdout, abs=0.01)


def test_holdout_assignment_serves_nothing() -> None:
    experiment = Experiment("h", VARIANTS, holdout=0.5, status="running")
    holdout = next(
        v for v in (f"v{i}" for i in range(100)) if experiment.assign(v).variant == HOLDOUT
    )
    assignment = experiment.assign(holdout)
    assert assignment.kind == "" and assignment.attributed


def test_lifecycle_pause_resume_stop(tmp_path: Path) -> None:
    store = ExperimentStore(tmp_path)
    assert store.load() == {} and store.active() is None and store.assign("v") is None
    started = store.start("exp", VARIANTS, holdout=0.1, control="attributes", now=100.0)
    assert started.status == "running" and started.periods == ((100.0, None),)
    running = store.assign("visitor-7")
    assert running is not None and running.experiment == "exp"
    with pytest.raises(ConfigError, match="stop it"):
        store.start("another", VARIANTS)

    paused = store.set_status("exp", "paused", now=200.0)
    assert paused.periods == ((100.0, 200.0),)
    during_pause = store.assign("visitor-7")
    assert during_pause is not None
    assert (during_pause.experiment, during_pause.variant, during_pause.kind) == (
        "",
        "",
        "attributes",  # everyone gets the control, unattributed
    )
    with pytest.raises(ConfigError, match="already paused"):
        store.set_status("exp", "paused")

    store.set_status("exp", "running", now=300.0)
    assert store.assign("visitor-7") == running  # sticky across pause/resume
    stopped = store.set_status("exp", "stopped", now=400.0)
    assert stopped.periods == ((100.0, 200.0), (300.0, 400.0))
    assert [stopped.counts_at(t) for t in (50, 150, 250, 350, 450)] == [
        False,
        True,
        False,
        True,
        False,
    ]
    assert store.active() is None and store.assign("visitor-7") is None
    with pytest.raises(ConfigError, match="stopped"):
        store.set_status("exp", "running")
    with pytest.raises(ConfigError, match="already ran"):
        store.start("exp", VARIANTS)
    store.start("another", VARIANTS)  # a stopped one no longer blocks a new one
    with pytest.raises(NotFoundError):
        store.set_status("missing", "paused")


def test_file_format_roundtrip_and_reload_by_another_instance(tmp_path: Path) -> None:
    writer, reader = ExperimentStore(tmp_path), ExperimentStore(tmp_path)
    writer.start("exp", (Variant("img", 2, "image"), Variant("attributes", 1)), holdout=0.05)
    assert reader.get("exp").status == "running"
    writer.set_status("exp", "paused")
    assert reader.get("exp").status == "paused"  # the file changed on disk: re-read
    data = json.loads((tmp_path / "experiments.json").read_text())
    assert data["version"] == 1
    entry = data["experiments"]["exp"]
    assert entry["variants"] == [
        {"name": "img", "weight": 2.0, "kind": "image"},
        {"name": "attributes", "weight": 1.0},
    ]
    assert entry["holdout"] == 0.05 and entry["control"] == "img"
    assert list(tmp_path.iterdir()) == [tmp_path / "experiments.json"]  # no temp file left


def test_draft_written_by_hand_is_started_by_name(tmp_path: Path) -> None:
    (tmp_path / "experiments.json").write_text(
        json.dumps(
            {
                "experiments": {
                    "colour": {
                        "variants": [
                            {"name": "image", "weight": 1},
                            {
                                "name": "trend",
                                "weight": 1,
                                "kind": "popular",
                                "params": {"days": 7},
                            },
                        ],
                        "holdout": 0.2,
                    }
                }
            }
        )
    )
    store = ExperimentStore(tmp_path)
    draft = store.get("colour")
    assert draft.status == "draft" and store.active() is None
    assert draft.assign("v").experiment == ""  # a draft attributes nothing
    started = store.start("colour")
    assert started.status == "running" and started.holdout == 0.2
    assert started.variant("trend").params == {"days": 7}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "cannot read"),
        ('{"experiments": []}', "expected an object"),
        ('{"version": 9, "experiments": {}}', "unsupported version"),
        ('{"experiments": {"x": {"variants": [{"name": "image"}]}}}', "at least two"),
        ('{"experiments": {"x": {"variants": [{"name": "image"}, {"name": "svd"}]}}}', "kind"),
        ('{"experiments": {"x": {"variants": [], "colour": 1}}}', "unknown field"),
        (
            '{"experiments": {"x": {"variants": [{"name": "image"}, {"name": "popular"}],'
            ' "holdout": 1.5}}}',
            "holdout",
        ),
    ],
)
def test_malformed_file_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "experiments.json").write_text(text)
    with pytest.raises(ConfigError, match=message):
        ExperimentStore(tmp_path).load()


def test_parse_variant_and_validation() -> None:
    assert parse_variant("image=50") == Variant("image", 50.0)
    assert parse_variant("attributes") == Variant("attributes", 1.0)
    assert parse_variant("cheap=30:attributes") == Variant("cheap", 30.0, "attributes")
    assert parse_variant("hybrid=20").kind == "hybrid"
    for bad in ("image=abc", "image=0", "image=-1", "holdout=10", "bad name=1", "svd=1"):
        with pytest.raises(ConfigError):
            parse_variant(bad)
    Variant("mix", 1, "hybrid", {"image": 1, "title": 0.5})
    for kind, params in [
        ("hybrid", {"image": -1}),
        ("hybrid", {"colour": 1}),
        ("popular", {"days": 0}),
        ("popular", {"days": "soon"}),
    ]:
        with pytest.raises(ConfigError):
            Variant("v", 1, kind, params)
    with pytest.raises(ConfigError, match="repeat"):
        Experiment("x", (Variant("image", 1), Variant("image", 2)))
    with pytest.raises(ConfigError, match="control"):
        Experiment("x", VARIANTS, control="hybrid")
