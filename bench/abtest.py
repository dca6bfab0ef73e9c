"""A/B figures on this machine: the sample-size estimator's simulated power and false-positive
rate, assignment throughput, event-log write rate and report time.

    .venv/bin/python bench/abtest.py [--runs 4000] [--events 100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from lookalike.ab.events import Event, EventLog  # noqa: E402
from lookalike.ab.experiments import Experiment, Variant  # noqa: E402
from lookalike.ab.reporting import collect_report  # noqa: E402
from lookalike.ab.stats import sample_size_per_arm, two_proportion_ztest  # noqa: E402
from lookalike.ab.store import ExperimentStore  # noqa: E402

UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0 Safari/537.36"


def power_table(runs: int) -> None:
    print(f"\nsimulated two-sided z-test at alpha 0.05, {runs} seeded runs per row")
    print(f"{'p_a':>6} {'lift':>6} {'n/arm':>8} {'x n':>5} {'rejects':>8}  (target)")
    rng = np.random.default_rng(0)
    for p_a, lift in ((0.02, 0.2), (0.05, 0.2), (0.10, 0.1), (0.05, 0.0)):
        p_b = p_a * (1 + lift)
        n = sample_size_per_arm(p_a, p_a * 1.2) if lift == 0 else sample_size_per_arm(p_a, p_b)
        assert n is not None
        for factor in (0.5, 1.0, 2.0) if lift else (1.0,):
            m = int(n * factor)
            _, p = two_proportion_ztest(
                rng.binomial(m, p_a, runs), m, rng.binomial(m, p_b, runs), m
            )
            target = "0.80" if lift and factor == 1.0 else ("0.05" if not lift else "")
            rejects = float(np.mean(p < 0.05))
            print(f"{p_a:>6.2f} {lift:>6.0%} {m:>8} {factor:>5.1f} {rejects:>8.3f}  {target}")


def timings(n_events: int) -> None:
    variants = (Variant("image", 1), Variant("attributes", 1))
    exp = Experiment("bench", variants, holdout=0.1, status="running", periods=((0.0, None),))
    start = time.perf_counter()
    for i in range(100_000):
        exp.assign(f"visitor-{i}")
    per_s = 100_000 / (time.perf_counter() - start)
    print(f"\nassignment: {per_s:,.0f} visitors/s (sha256, one thread)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "shop"
        root.mkdir()
        ExperimentStore(root).start("bench", variants, now=0.0)
        rng = np.random.default_rng(1)
        with EventLog(Path(tmp) / "events.sqlite") as log:
            one = [
                Event(
                    "impression",
                    "shop",
                    visitor=f"v{i}",
                    experiment="bench",
                    variant="image",
                    shown=["a"],
                    user_agent=UA,
                )
                for i in range(200)
            ]
            start = time.perf_counter()
            for event in one:
                log.record(event)
            single = len(one) / (time.perf_counter() - start)
            batch = []
            for i in range(n_events):
                variant = "image" if i % 2 else "attributes"
                batch.append(
                    Event(
                        "impression",
                        "shop",
                        visitor=f"v{i % 5000}",
                        experiment="bench",
                        variant=variant,
                        shown=["a", "b"],
                        user_agent=UA,
                        ts=1.0 + i * 10.0,
                    )
                )
                if rng.random() < 0.05:
                    batch.append(
                        Event(
                            "click",
                            "shop",
                            visitor=f"v{i % 5000}",
                            experiment="bench",
                            variant=variant,
                            target_id="a",
                            position=1,
                            user_agent=UA,
                            ts=1.5 + i * 10.0,
                        )
                    )
            start = time.perf_counter()
            log.record_many(batch)
            batched = len(batch) / (time.perf_counter() - start)
            print(
                f"event log: {single:,.0f} events/s one per transaction (synchronous=FULL), "
                f"{batched:,.0f} events/s batched"
            )
            start = time.perf_counter()
            report = collect_report(root, "bench", events=log)
            took = time.perf_counter() - start
            print(
                f"report over {log.count():,} events: {took:.2f} s "
                f"({len(next(iter(report.series.values())))} time buckets)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=4000)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    power_table(args.runs)
    timings(args.events)


if __name__ == "__main__":
    main()
