"""Exact traces of the `warehouse` kind: loads and queries share its slots, FIFO or query first."""

from __future__ import annotations

import pytest

import flowsim
from flowsim.engine.model import Model
from flowsim.nodes.warehouse import parse_bandwidth
from helpers import Trace, run_traced, scenario_yaml, traced_events

# three 1 MB messages land in the DAG in [0, 60s); its run ends at 65s and sends one load item.
# The load takes both slots for 3 x 1MB / 1MB/s + 7s = 10s. Dashboard queries take 2s each.
NODES = """
src: {kind: source, interarrival: 10s, limit: 3}
etl: {kind: airflow_dag, schedule: every 1m, tasks: {load: {duration: 5s}}}
dash: {kind: source, interarrival: 1s, start: 64s, limit: 2}
wh: {kind: warehouse, slots: 2, load_slots: 2, message_size: 1MB, load_throughput: 1MB/s,
     load_overhead: 7s, query_time: 2s, loads_to: tables WAREHOUSE}
served: {kind: sink}
tables: {kind: sink}
"""
EDGES = "[src -> etl, etl -> wh, dash -> wh, wh -> served, wh -> tables]"


def run(extra: str = "", old: str = "", new: str = "") -> Model:
    """Run the model above, with `extra` added to the warehouse and `old` replaced by `new`."""
    nodes = NODES.replace(" WAREHOUSE", extra).replace(old or "\0", new)
    return run_traced(scenario_yaml(nodes, EDGES, "100s", name="t"))[0]


def wh_events(m: Model) -> Trace:
    return traced_events(m, {"wh", "served", "tables"}, digits=6)


def test_a_query_waits_behind_a_load_that_holds_the_slots() -> None:
    # 65: query 1 starts (1 slot); the load arrives and waits for both slots;
    # 66: query 2 arrives behind the load (FIFO) although a slot is free;
    # 67: query 1 done -> the load starts; 77: load done -> query 2 starts; 79 done.
    m = run()
    assert wh_events(m) == [
        (65.0, "wh", "arrive query", 1),
        (65.0, "wh", "start query", 1),
        (65.0, "wh", "arrive load", 1),
        (66.0, "wh", "arrive query", 2),
        (67.0, "served", "sink", 1),
        (67.0, "wh", "done query", 1),
        (67.0, "wh", "start load", 1),
        (77.0, "tables", "sink", 1),
        (77.0, "wh", "done load", 1),
        (77.0, "wh", "start query", 2),
        (79.0, "served", "sink", 2),
        (79.0, "wh", "done query", 2),
    ]
    f = m.nodes["wh"].figures(m.network.window)
    assert f["query_wait_mean_s"] == pytest.approx(5.5)  # waits 0 and 11
    assert (f["load_duration_mean_s"], f["load_wait_mean_s"], f["loads_completed"]) == (10.0, 2.0, 1.0)
    assert (f["arrivals"], f["completed"], f["load_messages"]) == (5, 5, 3)
    assert m.nodes["served"].completed == 2 and m.nodes["tables"].completed == 3


def test_query_priority_lets_queries_overtake_the_waiting_load() -> None:
    # 66: query 2 starts on the free slot; the load waits until both queries are done at 68
    m = run(", query_priority: true")
    starts = [(t, e) for t, n, e, _ in wh_events(m) if e.startswith("start")]
    assert starts == [(65.0, "start query"), (66.0, "start query"), (68.0, "start load")]


def test_items_of_many_messages_are_loads() -> None:
    nodes = """
    bulk: {kind: source, interarrival: 10s, batch: 1000, limit: 1}
    wh: {kind: warehouse, message_size: 1KB, load_throughput: 100KB/s, load_overhead: 0s}
    out: {kind: sink}
    """
    m, _ = run_traced(scenario_yaml(nodes, "[bulk -> wh, wh -> out]", "60s", name="t"))
    assert m.ctx.trace is not None
    assert [(t, e) for t, n, e, _ in m.ctx.trace if n == "wh"] == [
        (10.0, "arrive load"),
        (10.0, "start load"),
        (20.0, "done load"),
    ]


def test_bandwidth_units() -> None:
    assert parse_bandwidth("200MB/s") == 200e6
    assert parse_bandwidth("6GB/min") == pytest.approx(1e8)
    with pytest.raises(ValueError, match=r"write size/time, e\.g\. 200MB/s"):
        parse_bandwidth("fast")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("load_slots: 2", "load_slots: 3", r"load_slots \(3\) is above slots \(2\)"),
        ("loads_to: tables", "loads_to: nowhere", "loads_to: 'nowhere' is not an out-edge of this warehouse"),
        ("1MB/s", "5 parsecs", "cannot read '5 parsecs' as a throughput"),
    ],
)
def test_bad_warehouses_are_refused(old: str, new: str, message: str) -> None:
    with pytest.raises(flowsim.SpecError, match=message):
        run(old=old, new=new)


def test_loads_to_must_name_an_out_edge() -> None:
    from pathlib import Path

    import flowsim

    path = Path(__file__).resolve().parent.parent / "scenarios" / "warehouse-contention.yaml"
    with pytest.raises(flowsim.SpecError, match=r"loads_to: 'tabels' is not an out-edge.*did you mean 'tables'"):
        flowsim.load_scenario(path, {"nodes.warehouse.loads_to": "tabels"})


def test_a_sample_with_no_query_has_no_p95_wait() -> None:
    # a query every 100 s, samples every 10 s: 9 of the 100 samples follow a query (at 100 .. 900 s,
    # none waits: 0 s); the other 91 had no query to take a percentile of, a gap, not 0 s
    text = scenario_yaml(
        "src: {kind: source, interarrival: 100s}\nwh: {kind: warehouse}\ndone: {kind: sink}",
        "[src -> wh, wh -> done]",
        "1000s",
        "sample_interval: 10s\n",
    )
    series = flowsim.simulate(flowsim.load_scenario(text)).series
    p95 = series[series.node == "wh"].query_wait_p95_s
    assert len(p95) == 100 and int(p95.isna().sum()) == 91 and p95.dropna().tolist() == [0.0] * 9
