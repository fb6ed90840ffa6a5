"""Every shipped architecture validates and every shipped scenario runs; each lesson is asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

import flowsim

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURES = sorted((ROOT / "architectures").glob("*.yaml"))
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


@cache
def run(name: str) -> flowsim.RunResult:
    return flowsim.simulate(flowsim.load_scenario(ROOT / "scenarios" / f"{name}.yaml"))


@pytest.mark.parametrize("path", ARCHITECTURES, ids=lambda p: p.name)
def test_architecture_validates(path: Path) -> None:
    arch = flowsim.load_architecture(path)
    assert arch.nodes and arch.description


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_scenario_runs_and_conserves(path: Path) -> None:
    result = run(path.stem)
    assert flowsim.load_scenario(path).description
    for name, node in result.nodes.items():
        if node.kind in ("service", "delay"):
            balance = node.arrivals + node.inside_at_start - node.completed - node.dropped - node.dead_lettered
            assert balance == pytest.approx(node.inside_at_end), name


@pytest.mark.slow
def test_baseline_meets_its_slos_and_matches_theory() -> None:
    result = run("baseline")
    assert result.passed()
    api = result.nodes["api"]
    predicted = result.analysis.nodes["api"].prediction
    assert predicted is not None and api.sojourn_s is not None
    assert api.sojourn_s.mean == pytest.approx(predicted.sojourn_s, rel=0.1)


@pytest.mark.slow
def test_peak_overloads_and_drops() -> None:
    result = run("peak-3x")
    assert not result.passed()
    assert result.analysis.bottleneck == "api" and any("overloaded" in w for w in result.warnings)
    drop_share = result.totals.dropped / result.totals.arrivals
    predicted = result.analysis.nodes["api"].prediction
    assert predicted is not None and drop_share == pytest.approx(predicted.drop_probability, abs=0.03)


@pytest.mark.slow
def test_outage_blocks_upstream_and_drops_at_the_gateway() -> None:
    baseline, outage = run("checkout-baseline"), run("checkout-outage")
    assert baseline.totals.dropped == 0 and outage.totals.dropped > 1000
    assert outage.nodes["orders"].blocked_time_s > 0 and outage.nodes["payments"].downtime_s == 300
    assert not outage.passed()


@pytest.mark.slow
def test_retry_storm_outlives_the_brownout_and_backoff_tames_it() -> None:
    storm, tamed = run("retry-storm"), run("retry-storm-tamed")
    assert storm.nodes["payments"].retries > 5 * tamed.nodes["payments"].retries
    assert storm.totals.dead_lettered > 5 * tamed.totals.dead_lettered
    series = storm.series
    late = series[(series.node == "payments") & (series.time_s > 1500)]
    assert late.waiting.mean() > 50  # still congested ten minutes after the brownout ended
    series = tamed.series
    late = series[(series.node == "payments") & (series.time_s > 1500)]
    assert late.waiting.mean() < 5


@pytest.mark.generated
def test_node_reference_is_generated_from_the_registry() -> None:
    from flowsim.reports.kinds_doc import kinds_markdown

    committed = (ROOT / "docs" / "nodes.md").read_text()
    assert committed == kinds_markdown(), "run: flowsim kinds --markdown > docs/nodes.md"


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_every_message_is_accounted_for(path: Path) -> None:
    """The kernel's identity for every node of every kind, and the totals built from it."""
    result = run(path.stem)
    for name, n in result.nodes.items():
        came = n.arrivals + n.created + n.inside_at_start
        went = n.completed + n.dropped + n.dead_lettered + n.lost + n.inside_at_end
        assert came == pytest.approx(went), f"{name} ({n.kind})"
    t = result.totals
    assert t.unaccounted == pytest.approx(0.0, abs=1e-6 * max(t.arrivals, 1.0))
    assert t.lost == sum(n.lost for n in result.nodes.values())


@pytest.mark.slow
def test_the_readme_python_example_runs_under_spawn(tmp_path: Path) -> None:
    """The README's example starts worker processes; under the spawn start method (macOS,
    Windows, Python 3.14's forkserver alike) each worker imports the script, which only the
    `__main__` guard makes safe.  Run it as written, with spawn forced, from the repository root."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = next(b for b in readme.split("```python\n")[1:] if "flowsim.simulate(" in b).split("```")[0]
    script = tmp_path / "example.py"
    force_spawn = 'import multiprocessing\nif __name__ == "__main__":\n    multiprocessing.set_start_method("spawn")\n'
    script.write_text(force_spawn + example, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(flowsim.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    p99 = float(done.stdout.split()[0])
    assert 0 < p99 < 60  # baseline with 3 api servers: seconds, not minutes
