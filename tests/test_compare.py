"""Comparing two designs with common random numbers: exact zeros for a design against itself,
a significant difference of the right sign for 1 against 3 servers, and the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import flowsim
from flowsim.cli import app
from flowsim.compare import compare, paired_difference
from flowsim.sweep import replication_figures

DESIGN = """
name: {name}
architecture:
  name: api-{servers}
  nodes:
    arrivals: {{kind: source, rate: 0.8/s}}
    api: {{kind: service, servers: {servers}, service_time: {{dist: exponential, mean: 1s}}, capacity: 40}}
    done: {{kind: sink}}
  edges: [arrivals -> api, api -> done]
duration: 1500s
warmup: 300s
seed: {seed}
"""
THROUGHPUT = "end_to_end.done.throughput_per_s"
runner = CliRunner()


def write_design(folder: Path, name: str, servers: int, seed: int = 5) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(DESIGN.format(name=name, servers=servers, seed=seed), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def designs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("designs")
    return write_design(folder, "one", 1), write_design(folder, "three", 3, seed=99)


def test_a_design_against_itself_differs_by_exactly_zero(designs: tuple[Path, Path]) -> None:
    comparison = compare(designs[0], designs[0], replications=4, workers=1)
    assert comparison.differences
    for d in comparison.differences:
        assert d.diff == 0.0 and d.ci95 == 0.0, d
        assert not d.significant
    assert comparison.a != comparison.b  # labelled apart even with one name
    assert comparison.warnings == []


def test_three_servers_cut_latency_significantly(designs: tuple[Path, Path]) -> None:
    comparison = compare(designs[0], designs[1], replications=5, workers=1)
    assert comparison.seed == 5  # A's seed for both: the same arrivals
    one, three = comparison.results
    assert one.nodes["arrivals"].arrivals == three.nodes["arrivals"].arrivals  # common random numbers
    for metric in ("end_to_end.done.latency_s.mean", "end_to_end.done.latency_s.p99", "nodes.api.utilization"):
        d = comparison.difference(metric)
        assert d is not None and d.significant and d.diff < 0 and d.b < d.a, d
    assert comparison.difference("cost.per_hour") is not None
    assert set(comparison.table.columns) >= {"metric", "a", "b", "diff", "ci95", "significant"}


def test_common_random_numbers_narrow_the_interval(designs: tuple[Path, Path]) -> None:
    """Same arrivals in both designs: the throughput difference is far surer than with independent seeds."""
    a, b = (flowsim.load_scenario(p) for p in designs)
    paired = compare(a, b, replications=5, workers=1).difference(THROUGHPUT)
    apart = flowsim.simulate(a, replications=5), flowsim.simulate(b, replications=5)  # seeds 5 and 99
    independent = paired_difference(THROUGHPUT, replication_figures(apart[0], a), replication_figures(apart[1], b))
    assert paired is not None and paired.ci95 is not None and independent.ci95 is not None
    assert paired.ci95 < independent.ci95 / 3


def test_paired_difference_arithmetic() -> None:
    rows_a = [{"x": 1.0}, {"x": 2.0}, {"x": 3.0}]
    rows_b = [{"x": 2.0}, {"x": 3.5}, {"x": 4.5}]
    d = paired_difference("x", rows_a, rows_b)
    assert d.diff == pytest.approx(4 / 3) and d.a == 2.0 and d.b == pytest.approx(10 / 3)
    assert d.ci95 is not None and d.ci95 == pytest.approx(4.302653 * (1 / 12) ** 0.5 / 3**0.5, rel=1e-6)
    assert d.significant
    single = paired_difference("x", rows_a[:1], rows_b[:1])
    assert single.ci95 is None and not single.significant


def test_warns_when_the_load_differs(designs: tuple[Path, Path], tmp_path: Path) -> None:
    faster = flowsim.load_scenario(designs[1], {"nodes.arrivals.rate": "1.2/s", "load.multiplier": 1.5})
    comparison = compare(flowsim.load_scenario(designs[0]), faster, replications=2, workers=1)
    text = " ".join(comparison.warnings)
    assert "load multiplier" in text and "arrivals" in text


def test_cli_compare_table_and_json(designs: tuple[Path, Path]) -> None:
    args = ["compare", str(designs[0]), str(designs[1]), "-r", "3", "-w", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "B - A" in result.stdout and "latency" in result.stdout
    result = runner.invoke(app, [*args, "--format", "json"])
    data = json.loads(result.stdout)
    assert data["replications"] == 3 and any(d["significant"] for d in data["differences"])


def test_cli_compare_bad_input_exits_2(designs: tuple[Path, Path], tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", str(designs[0]), str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    result = runner.invoke(app, ["compare", str(designs[0]), str(designs[1]), "--set", "nodes.api.servers=0"])
    assert result.exit_code == 2 and "servers" in result.stderr


def test_fluid_counts_differ_significantly_only_by_half_a_message() -> None:
    root = Path(__file__).resolve().parent.parent
    a = flowsim.load_scenario(root / "scenarios" / "baseline.yaml")
    b = flowsim.load_scenario(root / "scenarios" / "baseline.yaml", overrides={"nodes.api.servers": 3})
    found = {d.metric: d for d in compare(a, b, replications=2, engine="fluid").differences}
    dropped = found["totals.dropped"]
    # M/M/2/20 -> M/M/3/20 at a = 0.9: an expected 0.000712 drops -> 5e-7; both are 'no drop'
    assert dropped.diff == pytest.approx(-0.000712, rel=0.02) and not dropped.significant
    assert not found["end_to_end.done.throughput_per_s"].significant  # 0.000712 / 9,000 s
    utilization = found["nodes.api.utilization"]  # 0.9 / 2 -> 0.9 / 3: a real difference
    assert utilization.diff == pytest.approx(-0.15, abs=0.005) and utilization.significant
