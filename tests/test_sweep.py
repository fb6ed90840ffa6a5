"""Sweeps: grid expansion, identical numbers on every executor, cost, objectives, and the CLI."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import flowsim
from flowsim.cli import app
from flowsim.cli.sweeps import bare_objective
from flowsim.executors import ExecutorChoice, choose_executor, make_executor, plan_tasks
from flowsim.multirun import run_scenarios
from flowsim.sweep import SweepResult, plan_sweep, run_sweep, sweep
from flowsim.sweep_grid import expand_grid, parse_set, parse_sets

# Two stages with prices: each API server costs 0.25/h, storage 2 GB at 0.5/GB-h (1.0/h).
# At 1.6 arrivals/s and 1 s per request, 1 server is overloaded and 2 servers (rho 0.8) wait
# too long for the mean-latency SLO; 3 servers meet it; 4 meet it too but cost more.
# All prices and the 1800 s window (0.5 h) are exact in binary, so cost checks are exact.
SCENARIO = """
name: capacity
architecture:
  name: priced-two-stage
  nodes:
    arrivals: {kind: source, rate: 1.6/s}
    api: {kind: service, servers: 2, service_time: {dist: exponential, mean: 1s}, price: {per_hour: 0.25}}
    store: {kind: sink, price: {per_hour: 0.5, unit: gb, units: 2}}
  edges: [arrivals -> api, api -> store]
duration: 2100s
warmup: 300s
seed: 11
replications: 3
slos:
  - end_to_end.store.latency_s.mean < 2s
"""
GRID = {"nodes.api.servers": [1, 2, 3, 4]}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
runner = CliRunner()


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sweep") / "capacity.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


@cache
def serial_sweep(path: Path) -> SweepResult:
    return sweep(path, GRID, workers=1)


# ---- the grid ------------------------------------------------------------------------------
def test_expand_grid_is_the_product_last_path_fastest() -> None:
    grid = expand_grid({"a": [1, 2], "b": ["x", "y", "z"]})
    assert len(grid) == 6
    assert grid[:3] == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 1, "b": "z"}]
    assert expand_grid({}) == [{}]


def test_set_values_are_read_as_yaml() -> None:
    assert parse_set("nodes.events.partitions=3,6,12") == ("nodes.events.partitions", [3, 6, 12])
    assert parse_set("load.multiplier=0.5, 1.5") == ("load.multiplier", [0.5, 1.5])
    _path, values = parse_set("nodes.api.service_time={dist: constant, value: 1s},{dist: exponential, mean: 2s}")
    assert values == [{"dist": "constant", "value": "1s"}, {"dist": "exponential", "mean": "2s"}]
    for bad in ("nodes.api.servers", "=1,2", "nodes.api.servers=", "a=1,,2"):
        with pytest.raises(flowsim.SpecError):
            parse_set(bad)
    with pytest.raises(flowsim.SpecError, match="set twice"):
        parse_sets(["a=1", "a=2"])


def test_a_range_of_whole_numbers_stands_for_each_of_them() -> None:
    assert parse_set("nodes.api.servers=1..4") == ("nodes.api.servers", [1, 2, 3, 4])  # both ends included
    assert parse_set("nodes.t.partitions=4..32:8") == ("nodes.t.partitions", [4, 12, 20, 28])  # 36 > 32
    assert parse_set("a=1..2,10") == ("a", [1, 2, 10])  # ranges and single values mix
    assert parse_set("a=1.5..2") == ("a", ["1.5..2"])  # not whole numbers: the value as written
    for bad, says in [("a=5..1", "A <= B"), ("a=1..5:0", "a step of 1 or more"), ("a=0..10000000", "over 10,000")]:
        with pytest.raises(flowsim.SpecError, match=says):
            parse_set(bad)


def test_tasks_batch_short_runs_and_cover_every_replication(scenario_file: Path) -> None:
    scenarios = [flowsim.load_scenario(scenario_file, {"nodes.api.servers": n, "replications": 50}) for n in (2, 3)]
    tasks = plan_tasks(scenarios, [20_000.0, 20_000.0], workers=2)
    assert 10 < len(tasks) <= 17  # batched into about 8 tasks per worker
    covered = sorted((c.point, r) for task in tasks for c in task for r in c.replications)
    assert covered == [(p, r) for p in (0, 1) for r in range(50)]
    assert len(plan_tasks(scenarios, [20_000.0, 20_000.0], workers=1)) == 100  # in-thread: one each
    assert len(plan_tasks(scenarios, [1e7, 1e7], workers=2)) == 100  # long runs: one each


def test_one_rule_chooses_the_executor() -> None:
    assert choose_executor(1) == ExecutorChoice("serial")  # one job: nothing to spread
    assert choose_executor(12, workers=1) == choose_executor(12, "serial", workers=4) == ExecutorChoice("serial")
    assert choose_executor(12, workers=4) == ExecutorChoice("process", 4)
    assert choose_executor(3, workers=8) == ExecutorChoice("process", 3)  # no larger than the work
    assert choose_executor(12, "dask", workers=2) == ExecutorChoice("dask", 2)
    assert choose_executor(12, workers=2, scheduler_address="tcp://h:8786") == ExecutorChoice("dask", 2, "tcp://h:8786")
    with pytest.raises(flowsim.FlowsimError, match="scheduler"):
        choose_executor(12, "process", scheduler_address="tcp://h:8786")


def test_plan_checks_everything_before_running(scenario_file: Path) -> None:
    plan = plan_sweep(scenario_file, GRID, objective="min cost.per_hour")
    assert plan.parameters == ["nodes.api.servers"] and plan.jobs == 4 * 3
    assert [s.arch.nodes["api"].servers for s in plan.scenarios] == [1, 2, 3, 4]  # type: ignore[attr-defined]
    with pytest.raises(flowsim.FlowsimError, match="objective"):
        plan_sweep(scenario_file, GRID, objective="min end_to_end.nowhere.latency_s.p99")
    with pytest.raises(flowsim.SpecError, match=r"nodes\.api\.servers=0"):
        plan_sweep(scenario_file, {"nodes.api.servers": [0, 2]})
    with pytest.raises(flowsim.FlowsimError, match="no points"):
        plan_sweep(scenario_file, [])
    run = run_sweep(plan_sweep(scenario_file, [{"nodes.api.servers": 3}]), workers=1)
    pd.testing.assert_frame_equal(run.table, serial_sweep(scenario_file).table.iloc[[2]].reset_index(drop=True))


# ---- identical numbers everywhere ----------------------------------------------------------
@pytest.mark.slow
def test_process_pool_gives_the_serial_table(scenario_file: Path) -> None:
    with make_executor("process", workers=2) as pool:
        parallel = sweep(scenario_file, GRID, executor=pool)
    pd.testing.assert_frame_equal(parallel.table, serial_sweep(scenario_file).table, check_exact=True)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_serial_table(scenario_file: Path) -> None:
    pytest.importorskip("distributed")
    with make_executor("dask", workers=1) as client:
        remote = sweep(scenario_file, GRID, executor=client)
    pd.testing.assert_frame_equal(remote.table, serial_sweep(scenario_file).table, check_exact=True)


def test_batching_does_not_change_the_numbers(scenario_file: Path) -> None:
    scenarios = [flowsim.load_scenario(scenario_file, {"nodes.api.servers": 3})]
    with make_executor("serial") as inline:
        one_by_one = run_scenarios(scenarios, inline)[0]
    direct = flowsim.simulate(scenarios[0])
    assert one_by_one.model_dump(exclude={"analysis"}) == direct.model_dump(exclude={"analysis"})


# ---- cost and objectives -------------------------------------------------------------------
def test_cost_arithmetic_is_exact(scenario_file: Path) -> None:
    point = serial_sweep(scenario_file).points[2]
    assert point.params == {"nodes.api.servers": 3}
    cost = point.result.cost
    assert cost is not None
    assert cost.by_node == {"api": 0.75, "store": 1.0}
    assert (cost.per_hour, cost.hours, cost.total) == (1.75, 0.5, 0.875)
    assert point.result.metric("cost.total") == 0.875
    assert list(serial_sweep(scenario_file).table["cost.per_hour"]) == [1.25, 1.5, 1.75, 2.0]


def test_explicit_units_and_unpriced_designs(scenario_file: Path) -> None:
    priced = flowsim.load_scenario(scenario_file, {"nodes.api.price": {"per_hour": 0.25, "units": 8}})
    result = flowsim.simulate(priced, replications=1)
    assert result.cost is not None and result.cost.by_node["api"] == 2.0
    plain = flowsim.load_scenario(scenario_file, {"nodes.api.price": None, "nodes.store.price": None})
    unpriced = flowsim.simulate(plain, replications=1).cost
    assert unpriced is not None and (unpriced.total, unpriced.by_node) == (0.0, {})
    with pytest.raises(flowsim.SpecError, match="units"):
        flowsim.load_scenario(scenario_file, {"nodes.store.price": {"per_hour": 1, "unit": "gb"}})


def test_cost_figures_are_usable_in_slos(scenario_file: Path) -> None:
    scenario = flowsim.load_scenario(scenario_file, {"slos": ["cost.per_hour <= 1.5"], "replications": 1})
    assert flowsim.simulate(scenario).passed()
    with pytest.raises(flowsim.SpecError, match="per_hour"):
        flowsim.load_scenario(scenario_file, {"slos": ["cost.per_hr < 2"]})


def test_objective_picks_the_cheapest_point_meeting_the_slos(scenario_file: Path) -> None:
    result = serial_sweep(scenario_file)
    assert list(result.table["slo_passed"]) == [False, False, True, True]
    best = result.best()
    assert best is not None and best.params == {"nodes.api.servers": 3}
    fastest = result.best("min end_to_end.store.latency_s.mean")
    assert fastest is not None and fastest.params == {"nodes.api.servers": 4}
    assert result.best("max cost.per_hour") is result.points[3]
    with pytest.raises(flowsim.FlowsimError, match="did you mean"):
        result.best("min end_to_end.store.latency_s.p999")


def test_table_is_tidy_with_cis(scenario_file: Path) -> None:
    table = serial_sweep(scenario_file).table
    assert list(table["nodes.api.servers"]) == [1, 2, 3, 4]
    for figure in ("throughput_per_s", "end_to_end.store.latency_s.p99", "totals.dropped", "max_utilization"):
        assert figure in table.columns and figure + "_ci95" in table.columns
    assert (table["end_to_end.store.latency_s.p99_ci95"] > 0).all()


# ---- the command ---------------------------------------------------------------------------
def test_cli_sweep_writes_tables_and_plots(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["sweep", str(scenario_file), "--set", "nodes.api.servers=2,3", "-r", "2", "-w", "1"]
    result = runner.invoke(app, [*args, "--objective", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "best" in result.stdout and "servers=3" in result.stdout
    frame = pd.read_parquet(out / "sweep.parquet")
    assert list(frame["nodes.api.servers"]) == [2, 3]
    assert len(pd.read_csv(out / "sweep.csv")) == 2
    for png in ("p99-vs-nodes.api.servers.png", "p99-vs-cost.png"):
        assert (out / png).read_bytes().startswith(PNG_MAGIC)


def test_cli_sweep_json_and_objective_failure(scenario_file: Path) -> None:
    args = ["sweep", str(scenario_file), "--set", "nodes.api.servers=1,2", "-r", "2", "-w", "1", "--format", "json"]
    result = runner.invoke(app, [*args, "--objective", "min cost.total"])
    assert result.exit_code == 1  # neither point meets the SLO
    data = json.loads(result.stdout)
    assert data["best"] is None and len(data["points"]) == 2
    assert "no point meets every SLO" in result.stderr


def test_cli_sweep_bad_value_names_the_point(scenario_file: Path) -> None:
    result = runner.invoke(app, ["sweep", str(scenario_file), "--set", "nodes.api.servers=0,2", "-w", "1"])
    assert result.exit_code == 2
    assert "nodes.api.servers=0" in result.stderr and "greater than or equal to 1" in result.stderr
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["sweep", str(scenario_file), "--set", "nodes.api.servers=2", "--objective", "min x"])
    assert result.exit_code == 2 and "objective" in result.stderr


def test_cli_usage_errors_exit_2(scenario_file: Path) -> None:
    args = ["sweep", str(scenario_file), "--set", "nodes.api.servers=2", "--executor", "serial"]
    assert runner.invoke(app, [*args, "--scheduler", "tcp://127.0.0.1:8786"]).exit_code == 2
    assert runner.invoke(app, ["sweep", str(scenario_file), "--executor", "cloud"]).exit_code == 2


def test_bare_objective_means_the_default() -> None:
    assert bare_objective(["s.yaml", "--objective"]) == ["s.yaml", "--objective=min cost.per_hour"]
    assert bare_objective(["--objective", "-s", "a=1"])[0] == "--objective=min cost.per_hour"
    assert bare_objective(["--objective", "s.yaml"]) == ["--objective=min cost.per_hour", "s.yaml"]
    assert bare_objective(["--objective", "max throughput_per_s"]) == ["--objective", "max throughput_per_s"]


def test_cli_spells_the_default_objective_like_the_sweep() -> None:
    """The command states it without importing flowsim.sweep, so that its help starts at once."""
    from flowsim.cli.sweeps import DEFAULT_OBJECTIVE
    from flowsim.sweep import DEFAULT_OBJECTIVE as API_DEFAULT

    assert DEFAULT_OBJECTIVE == API_DEFAULT


@pytest.mark.slow
def test_autoscaled_replicas_are_billed_as_they_ran() -> None:
    path = Path(__file__).resolve().parent.parent / "scenarios" / "autoscaling-warmup.yaml"
    result = flowsim.simulate(flowsim.load_scenario(path, {"nodes.serving.price": {"per_hour": 2.0}}))
    served = result.nodes["serving"].kind_figures
    assert served["replicas_mean"] > result.analysis.nodes["serving"].servers  # it scaled up during the spike
    # billed as they ran, warming replicas included (a cloud bills an instance from its start)
    assert served["billed_units"] > served["replicas_mean"]
    assert result.cost is not None and result.cost.per_hour == pytest.approx(2.0 * served["billed_units"])


# ---- engines -------------------------------------------------------------------------------
def test_each_point_runs_on_the_engine_simulate_would_choose(scenario_file: Path) -> None:
    """A grid over `engine` itself: each point's result says which engine ran it, and the fluid
    point agrees with `simulate` on the same scenario (the same seeded fluid run)."""
    result = sweep(scenario_file, {"engine": ["per_message", "fluid"], "nodes.api.servers": [3]}, 1, workers=1)
    engines = [(p.result.engine, p.result.fluid_step_s is not None) for p in result.points]
    assert engines == [("per_message", False), ("fluid", True)]
    assert [row["engine"] for row in result.records()] == ["per_message", "fluid"]
    fluid_point = result.points[1]
    alone = flowsim.simulate(fluid_point.scenario)
    assert alone.engine == "fluid" and alone.fluid_step_s == fluid_point.result.fluid_step_s
    assert alone.totals.delivered == fluid_point.result.totals.delivered


def test_engine_given_to_sweep_and_compare_wins_over_the_scenario(scenario_file: Path) -> None:
    plan = plan_sweep(scenario_file, {"nodes.api.servers": [2, 3]}, 1)
    assert {p.result.engine for p in run_sweep(plan, workers=1, engine="fluid").points} == {"fluid"}
    a, b = plan.scenarios
    comparison = flowsim.compare(a, b, 2, workers=1, engine="fluid")
    assert {r.engine for r in comparison.results} == {"fluid"}


def test_without_pyarrow_the_csv_is_written_and_parquet_is_refused_saying_which_extra(
    scenario_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    result = serial_sweep(scenario_file)
    assert [p.name for p in result.write(tmp_path)] == ["sweep.csv"]
    with pytest.raises(flowsim.FlowsimError, match=r"pip install 'flowsim-arch\[parquet\]'"):
        result.write(tmp_path, ["parquet"])
