"""The What-if tab's sweep without a page: on local processes when there are several points and
cores, the same numbers as in one thread, a Stop that ends it, and the value the charts mark."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

pytest.importorskip("altair", reason="the app's charts need the app extra (pip install -e '.[app]')")

import flowsim
from flowsim.api import Cancelled
from flowsim.app.sweep_job import SweepJob, sweep_workers
from flowsim.reports.whatif import WhatIf, whatif_charts
from flowsim.sweep import SweepPlan

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
TEXT = (SCENARIOS / "baseline.yaml").read_text(encoding="utf-8")
BUDGET = 5_000_000


def plan(path: str, values: list[float], replications: int = 2, duration: float = 2000) -> SweepPlan:
    scenarios = [flowsim.load_scenario(TEXT, {path: v, "replications": replications, "duration": duration},
                                       base_dir=SCENARIOS) for v in values]  # fmt: skip
    return SweepPlan([path], [{path: v} for v in values], scenarios)


def test_workers_one_per_core_for_several_points_and_one_thread_otherwise() -> None:
    three = plan("load.multiplier", [0.5, 1.0, 1.5])  # 3 points x 2 replications = 6 jobs
    assert sweep_workers(three, cores=2) == 2
    assert sweep_workers(three, cores=8) == 6  # never more workers than replications
    assert sweep_workers(three, cores=1) == 1
    assert sweep_workers(plan("load.multiplier", [1.0]), cores=8) == 1  # one point: nothing to spread


def _finish(job: SweepJob) -> SweepJob:
    job.start()
    job.wait(600)
    assert not job.running and job.error is None, job.error
    return job


def test_a_sweep_on_two_processes_gives_the_numbers_of_one_thread() -> None:
    grid = plan("load.multiplier", [0.5, 1.5])
    apart, alone = _finish(SweepJob.of(grid, BUDGET, workers=2)), _finish(SweepJob.of(grid, BUDGET, workers=1))
    assert apart.workers == 2 and alone.workers == 1
    assert apart.sweep is not None and alone.sweep is not None
    # a replication's numbers depend on (seed, replication index) only, not on where it ran
    assert apart.sweep.records() == alone.sweep.records()
    assert apart.fraction == 1.0  # 4 replications done of 4


@pytest.fixture
def sigterm_ignored() -> Iterator[None]:
    """As in the Streamlit server, whose SIGTERM handler forked workers inherit: SIGTERM alone does not end them."""
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_stop_ends_a_sweep_on_processes_and_kills_its_workers(sigterm_ignored: None) -> None:
    grid = plan("load.multiplier", [0.5, 1.0, 1.5, 2.0], replications=2, duration=400_000)  # minutes of work
    job = SweepJob.of(grid, 50_000_000, workers=2).start()
    while job.pool is None or len(getattr(job.pool, "_processes", None) or {}) < 2:  # both workers started
        job.wait(0.05)
    workers = list(job.pool._processes.values())  # type: ignore[attr-defined]
    job.stop()
    job.wait(30)
    assert not job.running and job.stopped and job.sweep is None
    assert isinstance(job.error, BrokenProcessPool | Cancelled | RuntimeError), job.error
    for process in workers:
        process.join(10)
        # the pool's manager thread may reap the worker first: its exit code then shows once it has
        deadline = time.monotonic() + 10
        while process.exitcode is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.exitcode == -signal.SIGKILL  # killed, not left to finish minutes of work
    assert job.stop_delay is not None


class _Walk(WhatIf):
    """A what-if whose verdicts per value are given, to test the walk that picks the marked value."""

    def __init__(self, path: str, verdicts: list[tuple[float, bool]]) -> None:
        super().__init__("A", path, path, None)  # type: ignore[arg-type]
        self.verdicts = verdicts

    def _holds(self) -> list[tuple[float, bool]]:
        return self.verdicts


def test_the_load_marks_its_highest_sustainable_value_and_a_pool_its_fewest() -> None:
    load = _Walk("load.multiplier", [(0.5, True), (1.0, True), (1.5, False), (2.0, True)])
    assert load.sustainable()[0] == 1.0  # the walk up ends at 1.5: holding again at 2.0 is luck
    assert "highest sustainable load is 1x" in load.sustainable()[1]
    pool = _Walk("nodes.api.servers", [(1, False), (2, True), (3, True)])
    assert pool.sustainable()[0] == 2  # 1 server saturates (rho 0.9 with its p99 SLO broken); 2 and up hold
    assert "is the fewest that hold" in pool.sustainable()[1]
    assert _Walk("nodes.api.servers", [(1, False), (2, False)]).sustainable() == (None, "")


def test_the_what_if_chart_has_cis_the_slo_line_and_the_mark() -> None:
    job = _finish(SweepJob.of(plan("load.multiplier", [0.5, 1.0, 2.5]), BUDGET))
    assert job.sweep is not None
    whatif = WhatIf("A", "load.multiplier", "Load multiplier", job.sweep)
    # baseline: 0.9/s x 1 s over 2 servers, rho = 0.45 x multiplier: 2.5x is rho 1.125, saturated
    at, _ = whatif.sustainable()
    assert at is not None and at < 2.5
    frame = whatif.frame()
    losses = frame[frame["figure"] == "losses"]
    assert len(losses) == 3 and losses["ci95"].notna().all()  # 2 replications per point: a Student-t interval
    spec = whatif_charts([whatif], {"p99_s": 6.0}, at, whatif.mark_name()).to_dict()
    text = str(spec)
    assert "errorbar" in text and "SLO 6" in text and f"highest sustainable load: {at:g}" in text


def test_each_chart_gets_the_tightest_slo_on_what_it_plots() -> None:
    from flowsim.reports.whatif import slo_lines
    from flowsim.results import SloVerdict

    def verdict(metric: str, op: str, threshold: float) -> SloVerdict:
        return SloVerdict(slo=f"{metric} {op} {threshold:g}", metric=metric, op=op, threshold=threshold,
                          value=None, passed=False)  # fmt: skip

    lines = slo_lines([
        verdict("end_to_end.a.latency_s.p99", "<", 2.0), verdict("end_to_end.b.latency_s.p99", "<", 1.5),
        verdict("totals.dropped", "==", 0.0), verdict("totals.dead_lettered", "<=", 5.0),
        verdict("nodes.api.utilization", "<", 0.8), verdict("cost.per_hour", "<", 12.0),
        verdict("end_to_end.a.throughput_per_s", ">", 90.0),  # a lower bound: no chart of it has a line
        verdict("end_to_end.a.latency_s.p50", "<", 0.1),  # the charts plot p99 only
    ])  # fmt: skip
    assert lines == {"p99_s": 1.5, "losses": 0.0, "max_utilization": 0.8, "cost_per_hour": 12.0}
