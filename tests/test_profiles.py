"""Time-varying load: each profile shape's value with its arithmetic, located errors, trace files,
and what the engine and the analytic view do with a rate that varies.

The statistics (the rate recovered from simulated arrivals, M_t/M/c against theory) are in
tests/test_nhpp.py; the shipped scenarios' lessons in tests/test_lessons_load.py.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import flowsim
from flowsim.build import network
from flowsim.engine.model import Model
from flowsim.errors import SpecError
from flowsim.nodes.source import ShapedSourceNode, SourceConfig, SourceNode
from flowsim.traffic.shapes import RateLaw

H = 3600.0


def source(**fields: Any) -> SourceConfig:
    return SourceConfig.model_validate({"kind": "source", **fields})


def law(profile: list[dict[str, Any]], rate: float = 1.0) -> RateLaw:
    return source(rate=rate, profile=profile).rate_law()


def at(rate_law: RateLaw, *times: float) -> list[float]:
    return [float(v) for v in rate_law.values(np.array(times))]


# ---- each shape's value, with the arithmetic --------------------------------------------------
def test_diurnal_cosine_between_low_and_one() -> None:
    # f(t) = low + (1 - low)(1 + cos(2 pi (t - 14h) / 24h)) / 2 with low = 0.3:
    # 14:00 -> 1; 02:00 (half a day away) -> 0.3; 08:00 and 20:00 (a quarter day) -> 0.3 + 0.7/2 = 0.65
    f = law([{"diurnal": {"low": 0.3, "peak_at": "14h"}}])
    assert at(f, 14 * H, 2 * H, 8 * H, 20 * H, 38 * H) == pytest.approx([1.0, 0.3, 0.65, 0.65, 1.0])


def test_weekly_period() -> None:
    # period 7d, peak Wednesday noon (2d12h): 3.5 days later (Sunday midnight) the trough 0.5
    f = law([{"diurnal": {"low": 0.5, "peak_at": "60h", "period": "7d"}}])
    assert at(f, 60 * H, 60 * H + 3.5 * 24 * H, 60 * H + 7 * 24 * H) == pytest.approx([1.0, 0.5, 1.0])


def test_hourly_table_is_piecewise_constant_and_repeats() -> None:
    hourly = [0.1 * (h + 1) for h in range(24)]  # hour h -> (h + 1) / 10
    f = law([{"diurnal": {"hourly": hourly}}])
    # 13:30 -> hour 13 -> 1.4; 13:59:59 still 1.4; 14:00 -> 1.5; next day 01:12 -> hour 1 -> 0.2
    assert at(f, 13.5 * H, 14 * H - 1, 14 * H, 25.2 * H) == pytest.approx([1.4, 1.4, 1.5, 0.2])


def test_steps_hold_until_the_next_and_start_at_one() -> None:
    f = law([{"steps": [{"at": "1h", "factor": 2}, {"at": "6h", "factor": 0.5}]}])
    # before the first step 1; [1h, 6h) 2; from 6h on 0.5, for ever
    assert at(f, 0, 1 * H, 6 * H - 1, 6 * H, 100 * H) == pytest.approx([1, 2, 2, 0.5, 0.5])


def test_ramp_is_linear_between_at_and_until() -> None:
    f = law([{"ramp": {"from": 1, "to": 3, "at": "1h", "until": "2h"}}])
    # 1 before 1h; halfway (1h30) 1 + (3 - 1)/2 = 2; 3 from 2h on
    assert at(f, 0, 1.5 * H, 1.75 * H, 3 * H) == pytest.approx([1, 2, 2.5, 3])


def test_spike_for_its_duration() -> None:
    f = law([{"spike": {"at": "20h", "for": "15m", "factor": 3}}])
    assert at(f, 20 * H - 1, 20 * H, 20.25 * H - 1, 20.25 * H) == pytest.approx([1, 3, 3, 1])


def test_factors_multiply() -> None:
    # the brief's example at 20:05: 100,000/s x diurnal(20:05) x spike 3 x step 2, where
    # diurnal(20:05) = 0.3 + 0.7 (1 + cos(2 pi 6.0833 / 24)) / 2 = 0.3 + 0.35 (1 + cos(1.5926)) = 0.6424
    profile = [
        {"diurnal": {"low": 0.3, "peak_at": "14h"}},
        {"spike": {"at": "20h", "for": "15m", "factor": 3}},
        {"steps": [{"at": "0s", "factor": 1}, {"at": "6h", "factor": 2}]},
    ]
    f = law(profile, rate=100_000)
    cosine = 0.3 + 0.35 * (1 + math.cos(2 * math.pi * (20 + 5 / 60 - 14) / 24))
    assert f.at(20 * H + 300) == pytest.approx(100_000 * cosine * 3 * 2)
    assert cosine == pytest.approx(0.6424, abs=1e-4)


def test_mean_peak_and_window_of_a_source() -> None:
    # a cosine between 0.3 and 1 averages (0.3 + 1) / 2 = 0.65 over whole days; its peak is 1 at 14:00
    s = source(rate="100/s", profile=[{"diurnal": {"low": 0.3, "peak_at": "14h"}}])
    assert s.rate_window() == (0.0, 24 * H)
    assert s.mean_rate() == pytest.approx(65.0, rel=1e-4)
    assert s.peak_rate() == pytest.approx((100.0, 14 * H))
    assert s.external_rate() == pytest.approx(100.0)  # the analytic view's basis: the peak
    assert s.emits_at(np.array([2 * H]))[0] == pytest.approx(30.0)
    # with a spike of 3 at 20:00: 3 x 0.65 x 100 = 195/s is the peak; the window is still one day
    day = [{"diurnal": {"low": 0.3, "peak_at": "14h"}}, {"spike": {"at": "20h", "for": "15m", "factor": 3}}]
    spiky = source(rate="100/s", batch=10, profile=day)
    assert spiky.peak_rate() == pytest.approx((195.0, 20 * H))
    assert spiky.flow_law().emits_per_s == pytest.approx(1950.0)  # x batch


def test_the_mean_over_a_run_counts_the_profile_inside_it() -> None:
    """The run-size estimate's rate: a 6-minute 3x spike in a 14-minute run (consumer-autoscaling) more
    than doubles the work; averaged over the source's window, whole days, it hardly shows."""
    spike = [{"spike": {"at": "2m", "for": "6m", "factor": 3}}]
    s = source(rate="20/s", profile=spike)
    assert s.rate_window() == (0.0, 24 * H)
    assert s.mean_rate() == pytest.approx(20 * (1 + 2 * 360 / 86_400), rel=1e-6)  # 20.17/s
    assert s.mean_rate_over(840) == pytest.approx(20 * (840 + 2 * 360) / 840, rel=1e-6)  # 37.14/s
    # stopped at 5 min: arrivals on [0, 300] with 180 s of the spike, 20 x (300 + 2 x 180) over the 840 s run
    assert source(rate="20/s", stop="5m", profile=spike).mean_rate_over(840) == pytest.approx(20 * 660 / 840)
    assert source(rate="20/s").mean_rate_over(840) == 20.0  # a constant rate: as before
    from flowsim.analysis.view import analyze

    view = analyze(service_arch(spike), horizon=840)  # what analyze_scenario passes: the run's duration
    assert view.nodes["api"].mean_arrival_rate_per_s == pytest.approx(100 * 1560 / 840, rel=1e-6)


# ---- configuration errors ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rate": 1, "profile": [{"diurnal": {"low": 0.3, "peak_at": "14h"}, "spike": {}}]}, "exactly one shape"),
        ({"rate": 1, "profile": [{"daily": {}}]}, "exactly one shape"),
        ({"rate": 1, "profile": [{"diurnal": {"low": 0.3}}]}, "both 'low'"),
        ({"rate": 1, "profile": [{"diurnal": {"low": 0.3, "peak_at": "1h", "hourly": [1] * 24}}]}, "either"),
        ({"rate": 1, "profile": [{"diurnal": {"hourly": [1] * 23}}]}, "one factor per hour"),
        ({"rate": 1, "profile": [{"diurnal": {"low": 0.3, "peak_at": "25h"}}]}, "within the period"),
        ({"rate": 1, "profile": [{"steps": [{"at": "2h", "factor": 1}, {"at": "1h", "factor": 2}]}]}, "increase"),
        ({"rate": 1, "profile": [{"ramp": {"from": 1, "to": 2, "at": "2h", "until": "1h"}}]}, "'until'"),
        ({"rate": 1, "profile": [{"spike": {"at": "1h", "for": "1m", "factor": -1}}]}, "greater than or equal"),
        ({"rate": 1, "profile": [{"steps": [{"at": 0, "factor": 0}]}]}, "never emit"),
        ({"interarrival": "1s", "profile": [{"spike": {"at": 0, "for": 1, "factor": 2}}]}, "multiplies a rate"),
        (
            {"rate": 1, "mmpp": {"states": [{"rate": 1, "mean_sojourn": 1}, {"rate": 2, "mean_sojourn": 1}]}},
            "rate and mmpp",
        ),
        (
            {
                "mmpp": {
                    "states": [{"rate": 1, "mean_sojourn": 1}, {"rate": 2, "mean_sojourn": 1}],
                    "transitions": [[0.5, 0.5], [1, 0]],
                }
            },
            "diagonal",
        ),
        (
            {
                "mmpp": {
                    "states": [{"rate": 1, "mean_sojourn": 1}] * 3,
                    "transitions": [[0, 1, 0], [1, 0, 0], [0.5, 0.5, 0]],
                }
            },
            "reachable",
        ),
        ({"rate": 1, "batch": {"dist": "geometric", "mean": 0.5}}, "greater than or equal to 1"),
    ],
)
def test_profile_errors_are_clear(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        source(**fields)


# ---- trace files ------------------------------------------------------------------------------
ARCH = """\
name: replay
nodes:
  clicks:
    kind: source
    trace: {trace}
  done: {{kind: sink}}
edges: [clicks -> done]
"""


def write(tmp_path: Path, csv: str | None, trace: str = "clicks.csv") -> Path:
    (tmp_path / "arch").mkdir(exist_ok=True)
    if csv is not None:
        (tmp_path / "arch" / "clicks.csv").write_text(csv)
    path = tmp_path / "arch" / "replay.yaml"
    path.write_text(ARCH.format(trace=trace))
    return path


def problem_of(path: Path) -> Any:
    with pytest.raises(SpecError) as err:
        flowsim.load_architecture(path)
    (problem,) = err.value.problems
    return problem


@pytest.mark.parametrize(
    ("csv", "says"),
    [
        (None, "trace file 'clicks.csv' not found"),
        ("time_s,rate_per_s\n0,1\n60,x\n", "clicks.csv, line 3: cannot read 'x' as the rate"),
        ("time_s,rate_per_s\n0,1\n60\n", "clicks.csv, line 3: expected 2 values"),
        ("# a comment\ntime_s,rate_per_s\n0,1\n60,2\n60,3\n", "clicks.csv, line 5: time 60 is not after"),
        ("time_s,rate_per_s\n0,1\n\n60,-2\n", "clicks.csv, line 4: the rate -2 is negative"),
        ("0,1\n60,2\n", "clicks.csv, line 1: cannot read the header"),
        ("time_s,rate_per_fortnight\n0,1\n", "unknown time unit 'fortnight'"),
        ("time_s,count\n0,10\n", "at least two rows"),
        ("time_s,rate\n", "no data rows"),
    ],
)
def test_trace_errors_name_the_yaml_field_and_the_csv_line(tmp_path: Path, csv: str | None, says: str) -> None:
    problem = problem_of(write(tmp_path, csv))
    assert says in problem.message
    assert problem.field == "nodes.clicks.trace" and (problem.line, problem.column) == (5, 12)
    assert problem.source.endswith("replay.yaml")


def test_trace_forms_units_and_the_time_before_the_first_row(tmp_path: Path) -> None:
    rates = "# comment\ntime_min,rate_per_min\n1,60\n2,120\n"  # 1/s from 60 s, 2/s from 120 s
    trace = flowsim.load_architecture(write(tmp_path, rates)).nodes["clicks"].rate_law()
    assert at(trace, 0, 59, 60, 119, 120, 10_000) == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]  # 0 before, last holds
    counts = "time_s,count\n0,30\n60,120\n"  # 30 in the first minute, 120 in the next (as long)
    trace = flowsim.load_architecture(write(tmp_path, counts)).nodes["clicks"].rate_law()
    # 30/60 s, 120/60 s, and nothing after 120 s: no row counted arrivals there
    assert at(trace, 0, 60, 119, 120, 500) == [0.5, 2.0, 2.0, 0.0, 0.0]


def test_a_count_trace_replays_its_counts_and_no_more(tmp_path: Path) -> None:
    write(tmp_path, "time_s,count\n0,30\n60,120\n")
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("name: s\narchitecture: arch/replay.yaml\nduration: 600s\nseed: 3\n")
    arrivals = flowsim.simulate(flowsim.load_scenario(scenario)).nodes["clicks"].arrivals
    # Poisson with mean 30 + 120 = 150 (sd 12.2); holding the last rate to the end would give
    # 30 + 120 + 2/s x 480 s = 1,110
    assert abs(arrivals - 150) < 4 * 150**0.5


def test_trace_paths_are_relative_to_the_file_naming_them(tmp_path: Path) -> None:
    write(tmp_path, "time_s,rate_per_s\n0,1\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "other.csv").write_text("time_s,rate_per_s\n0,5\n")
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("name: s\narchitecture: arch/replay.yaml\nduration: 10s\n")
    assert flowsim.load_scenario(scenario).arch.nodes["clicks"].peak_rate()[0] == 1.0  # arch/clicks.csv
    # an override in the scenario file is relative to the scenario file
    scenario.write_text(scenario.read_text() + "overrides: {nodes.clicks.trace: data/other.csv}\n")
    loaded = flowsim.load_scenario(scenario)
    assert loaded.arch.nodes["clicks"].peak_rate()[0] == 5.0
    assert loaded.overrides == {"nodes.clicks.trace": "data/other.csv"}  # as written


def test_yaml_text_reads_its_paths_from_base_dir() -> None:
    # text has no file of its own: give the folder it stands for (the app runs edited scenario text)
    path = Path(__file__).resolve().parent.parent / "scenarios" / "kappa-clicks-trace.yaml"
    text = path.read_text(encoding="utf-8")
    assert flowsim.load_scenario(text, base_dir=path.parent) == flowsim.load_scenario(path)


# ---- the engine ---------------------------------------------------------------------------------
def scenario(src: dict[str, Any], duration: float = 2000, **extra: Any) -> flowsim.Scenario:
    nodes = {"src": {"kind": "source", **src}, "done": {"kind": "sink"}}
    doc = {"name": "t", "architecture": {"name": "t", "nodes": nodes, "edges": ["src -> done"]},
           "duration": duration, "seed": 3, **extra}  # fmt: skip
    return flowsim.load_scenario(yaml.safe_dump(doc))


def arrivals(s: flowsim.Scenario, node: str = "src") -> np.ndarray:
    """The times at which `node` emitted, from the kernel's exact event trace."""
    model = Model(network(s), 0, trace=True)
    model.run()
    return np.array([t for t, n, event, _ in model.trace if n == node and event == "emit"])


SPIKE = [{"spike": {"at": "500s", "for": "500s", "factor": 4}}]


def test_a_constant_rate_keeps_its_fast_path_and_draws() -> None:
    plain = scenario({"rate": 2})
    assert plain.arch.nodes["src"].runtime_class() is SourceNode
    constant_batch = scenario({"rate": 2, "batch": {"dist": "constant", "value": 1}})
    np.testing.assert_array_equal(arrivals(plain), arrivals(constant_batch))
    # drawn batch sizes keep the same arrival stream: common random numbers with the fixed batch
    drawn = scenario({"rate": 2, "batch": {"dist": "geometric", "mean": 5}})
    assert drawn.arch.nodes["src"].runtime_class() is ShapedSourceNode
    np.testing.assert_array_equal(arrivals(plain), arrivals(drawn))


def test_profiled_arrivals_are_deterministic_and_common_to_designs() -> None:
    a = scenario({"rate": 2, "profile": SPIKE})
    times = arrivals(a)
    np.testing.assert_array_equal(times, arrivals(a))
    other = flowsim.load_scenario(yaml.safe_dump({
        "name": "t", "duration": 2000, "seed": 3,
        "architecture": {"name": "t2", "edges": ["src -> q", "q -> done"], "nodes": {
            "src": {"kind": "source", "rate": 2, "profile": SPIKE},
            "q": {"kind": "service", "servers": 1, "service_time": {"dist": "exponential", "mean": 0.1}},
            "done": {"kind": "sink"}}}}))  # fmt: skip
    np.testing.assert_array_equal(times, arrivals(other))  # a different design downstream, same arrivals


def test_start_stop_limit_and_multiplier_apply_to_profiles() -> None:
    times = arrivals(scenario({"rate": 2, "profile": SPIKE, "start": "300s", "stop": "1500s"}))
    assert times.min() >= 300 and times.max() <= 1500
    assert arrivals(scenario({"rate": 2, "profile": SPIKE, "limit": 50})).size == 50
    # x2 on a rate that integrates to 2 x 1500 + 8 x 500 = 7000 over 2000 s: about 14,000
    doubled = flowsim.simulate(scenario({"rate": 2, "profile": SPIKE}, load={"multiplier": 2}))
    assert doubled.nodes["src"].arrivals == pytest.approx(14_000, rel=0.05)


def test_offered_rate_in_the_series_and_reading_it_changes_nothing() -> None:
    src = {"rate": 2, "batch": 3, "profile": SPIKE}
    coarse = flowsim.simulate(scenario(src, sample_interval="100s", load={"multiplier": 1.5}))
    fine = flowsim.simulate(scenario(src, sample_interval="1s", load={"multiplier": 1.5}))
    assert coarse.nodes["src"].arrivals == fine.nodes["src"].arrivals  # sampling draws nothing
    series = coarse.series[coarse.series.node == "src"].set_index("time_s")
    # 2/s x 1.5 x batch 3 = 9 messages/s, x4 in the spike [500 s, 1000 s)
    assert series.offered_per_s[400] == pytest.approx(9.0) and series.offered_per_s[600] == pytest.approx(36.0)
    plain = flowsim.simulate(scenario({"rate": 2, "batch": 3}, sample_interval="500s"))
    assert set(plain.series[plain.series.node == "src"].offered_per_s) == {6.0}


def test_a_blocked_profiled_source_pauses_and_loses_nothing() -> None:
    nodes = {
        "src": {"kind": "source", "rate": 5, "profile": SPIKE},
        "q": {"kind": "service", "servers": 1, "capacity": 2, "on_full": "block",
              "service_time": {"dist": "exponential", "mean": 0.2}},
        "done": {"kind": "sink"},
    }  # fmt: skip
    doc = {"name": "t", "duration": 2000, "seed": 1,
           "architecture": {"name": "t", "nodes": nodes, "edges": ["src -> q", "q -> done"]}}  # fmt: skip
    result = flowsim.simulate(flowsim.load_scenario(yaml.safe_dump(doc)))
    src = result.nodes["src"]
    assert src.blocked_time_s > 100 and result.totals.dropped == 0 and result.totals.unaccounted == 0
    assert src.arrivals < 5 * 1500 + 20 * 500  # paused while blocked: fewer than offered


def test_the_fluid_engine_follows_the_profile_through_rate_at() -> None:
    # the day's integral: 2/s x (0.65 x 86,400 s + a spike of 3x for 15 min adding 2 x 0.65 x 900 s) = 114,660
    day = [{"diurnal": {"low": 0.3, "peak_at": "14h"}}, {"spike": {"at": "20h", "for": "15m", "factor": 3}}]
    s = scenario({"rate": 2, "profile": day}, duration=24 * H)
    expected = s.arch.nodes["src"].rate_law().integral(0, 24 * H)
    assert expected == pytest.approx(2 * 0.65 * (86_400 + 2 * 900), rel=1e-3)
    fluid = flowsim.simulate(s, engine="fluid")
    assert fluid.engine == "fluid" and fluid.nodes["src"].arrivals == pytest.approx(expected, rel=0.01)


def test_the_fluid_engine_takes_a_drawn_batch_at_its_mean() -> None:
    s = scenario({"rate": 2, "batch": {"dist": "geometric", "mean": 4}}, duration=1000)
    assert flowsim.simulate(s, engine="fluid").nodes["src"].arrivals == pytest.approx(2 * 4 * 1000, rel=0.01)


def test_mmpp_path_switches_and_batches_vary() -> None:
    mmpp = {"states": [{"rate": "1/s", "mean_sojourn": "100s"}, {"rate": "20/s", "mean_sojourn": "20s"}]}
    s = scenario({"mmpp": mmpp, "batch": {"dist": "uniform", "low": 1, "high": 9}}, duration=10_000)
    config = s.arch.nodes["src"]
    # time shares 100/120 and 20/120: mean 1 x 5/6 + 20 x 1/6 = 4.1667/s; peak 20/s
    assert config.mean_rate() == pytest.approx(25 / 6) and config.peak_rate()[0] == 20
    assert config.messages_per_item() == 5
    result = flowsim.simulate(s)
    assert result.nodes["src"].arrivals == pytest.approx(10_000 * 25 / 6 * 5, rel=0.15)
    offered = set(result.series[result.series.node == "src"].offered_per_s.round(6))
    assert offered == {5.0, 100.0}  # the state's rate x mean batch, read from the drawn path


def test_mmpp_switches_per_second_count_each_state_only_while_in_it() -> None:
    from flowsim.sizing import timer_events

    mmpp = {"states": [{"rate": "1/s", "mean_sojourn": "100s"}, {"rate": "20/s", "mean_sojourn": "20s"}]}
    s = scenario({"mmpp": mmpp}, duration=12_000)
    # two switches per 120 s cycle: 1/60 per second, 200 in 12,000 s (not 12,000/100 + 12,000/20 = 720)
    assert s.arch.nodes["src"].mmpp.switch_rate() == pytest.approx(1 / 60)
    found = timer_events(s)
    assert found["nodes.src.mmpp.states[0].mean_sojourn"] == pytest.approx(12_000 * (5 / 6) / 100)  # 100
    assert found["nodes.src.mmpp.states[1].mean_sojourn"] == pytest.approx(12_000 * (1 / 6) / 20)  # 100


def test_the_grid_cuts_every_segment_as_linspace_would() -> None:
    from flowsim.traffic.shapes import Cosine, Piecewise

    law = RateLaw(3.0, (Cosine(0.2, 500.0, 3600.0), Piecewise(np.array([0.0, 70.0, 2000.0]), np.array([1, 4, 2]))))
    mids, widths = law.fine(13.0, 9000.0, step=60.0)
    edges = law.edges(13.0, 9000.0)
    pieces = np.maximum(np.ceil(np.diff(edges) / 60.0), 1).astype(int)
    spans = zip(edges[:-1], edges[1:], pieces, strict=True)
    cuts = np.concatenate([np.linspace(lo, hi, n + 1)[:-1] for lo, hi, n in spans])
    cuts = np.append(cuts, 9000.0)
    np.testing.assert_allclose(mids, (cuts[:-1] + cuts[1:]) / 2, rtol=0, atol=1e-9)
    np.testing.assert_allclose(widths, np.diff(cuts), rtol=0, atol=1e-9)
    assert widths.max() <= 60.0 + 1e-9 and widths.sum() == pytest.approx(9000.0 - 13.0)


# ---- the analytic view --------------------------------------------------------------------------
def service_arch(profile: list[dict[str, Any]], servers: int = 90, second: dict[str, Any] | None = None) -> Any:
    nodes: dict[str, Any] = {
        "events": {"kind": "source", "rate": "100/s", "profile": profile},
        "api": {"kind": "service", "servers": servers, "service_time": {"dist": "exponential", "mean": "1s"}},
        "done": {"kind": "sink"},
    }
    edges = ["events -> api", "api -> done"]
    if second is not None:
        nodes["other"], edges = second, [*edges, "other -> api"]
    return flowsim.load_architecture(yaml.safe_dump({"name": "a", "nodes": nodes, "edges": edges}))


def test_the_view_plans_for_the_peak_and_says_when_a_node_saturates() -> None:
    view = flowsim.analyze_architecture(service_arch([{"diurnal": {"low": 0.3, "peak_at": "14h"}}]))
    events, api = view.nodes["events"], view.nodes["api"]
    assert view.rate_basis == "peak" and events.arrival_rate_per_s == pytest.approx(100)
    assert (events.mean_rate_per_s, events.peak_rate_per_s) == pytest.approx((65, 100), rel=1e-4)
    assert events.peak_at_s == 14 * H and events.rate_window_s == [0, 24 * H]
    assert api.mean_arrival_rate_per_s == pytest.approx(65, rel=1e-4) and api.utilization == pytest.approx(100 / 90)
    # rho(t) = 100 f(t) / 90 reaches 1 when f(t) = 0.9: (1 + cos x) / 2 = 0.6 / 0.7, x = acos(0.7143) = 0.7752,
    # i.e. 0.7752 / (2 pi) x 24 h = 2.961 h before 14:00: 11:02:21
    first = 14 * H - math.acos(2 * 0.6 / 0.7 - 1) / (2 * math.pi) * 24 * H
    assert api.saturates_at_s == pytest.approx(first, abs=1) and api.peak_at_s == 14 * H
    (warning,) = view.warnings
    assert warning.startswith("'api' saturates at 11:02:21 (rho = 1.11 at the 14:00 peak) at its servers")


def test_a_spike_saturates_at_its_start_and_peaks_that_offset_do_not_add_up() -> None:
    spike = [{"spike": {"at": "20h", "for": "15m", "factor": 3}}]
    (warning,) = flowsim.analyze_architecture(service_arch(spike, servers=200)).warnings
    assert warning.startswith("'api' saturates at 20:00 (rho = 1.50 at the 20:00 peak)")
    # two sources peaking 12 hours apart, on 150 servers: with both peaks at once 200/150 = 1.33, but
    # their sum is 100 (0.65 + 0.35 cos x) + 100 (0.65 - 0.35 cos x) = 130/s at every hour: 130/150 = 0.87
    night = {"kind": "source", "rate": "100/s", "profile": [{"diurnal": {"low": 0.3, "peak_at": "2h"}}]}
    view = flowsim.analyze_architecture(service_arch([{"diurnal": {"low": 0.3, "peak_at": "14h"}}], 150, night))
    (note,) = view.warnings
    assert "reaches rho = 1.33 only if every source peaked at once" in note and "peaks at 0.87" in note
    assert view.nodes["api"].saturates_at_s is None
