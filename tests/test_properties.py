"""Property tests of the engine: conservation, sanity of figures, determinism, load scaling.

Random architectures are drawn by hypothesis (sources, services with random servers, capacity,
drop/block, errors, retry policies with timeouts, dead-letter sinks, delay hops, random routing
weights, fan-out, feedback edges, outages) and run briefly; the identities checked hold exactly on
every sample path, whatever the parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import flowsim
from flowsim.build import run_replication
from flowsim.engine.model import ReplicationOutput
from flowsim.results import RunResult
from flowsim.units import TINY

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- random architectures --------------------------------------------------------------------
def _text(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False)


@st.composite
def retry_policies(draw: st.DrawFn) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "max_attempts": draw(st.integers(1, 4)),
        "backoff": draw(st.sampled_from(["fixed", "exponential"])),
        "base": draw(st.sampled_from([0.0, 0.05, 0.3, 1.0])),
        "jitter": draw(st.sampled_from(["none", "full", "equal"])),
    }
    if draw(st.booleans()):
        policy["timeout"] = draw(st.floats(0.1, 3.0))
    if draw(st.booleans()):
        policy["cap"] = draw(st.floats(max(0.1, policy["base"]), 2.0))  # a cap below base is refused
    return policy


@st.composite
def random_scenarios(draw: st.DrawFn, fanout: bool = True, faults: bool = True) -> flowsim.Scenario:
    """A random valid scenario: every node reachable, every node with a path to a sink."""
    sources = [f"src{i}" for i in range(draw(st.integers(1, 2)))]
    services = [f"s{i}" for i in range(draw(st.integers(1, 5)))]
    middle = list(services)
    if draw(st.booleans()):
        middle.insert(draw(st.integers(0, len(services))), "hop")
    nodes: dict[str, Any] = {}
    policies: dict[str, Any] = {}
    for name in sources:
        nodes[name] = {
            "kind": "source",
            "rate": draw(st.floats(0.2, 3.0)),
            "batch": draw(st.sampled_from([1, 1, 1, 2, 3])),
        }
    dead_letter_used = False
    for name in services:
        servers = draw(st.integers(1, 3))
        node: dict[str, Any] = {
            "kind": "service",
            "servers": servers,
            "service_time": {"dist": "exponential", "mean": draw(st.floats(0.05, 1.5))},
        }
        if draw(st.booleans()):
            node["capacity"] = draw(st.integers(servers, servers + 4))
            node["on_full"] = draw(st.sampled_from(["drop", "block"]))
        node["error_rate"] = draw(st.sampled_from([0.0, 0.0, 0.1, 0.3, 0.7]))
        if draw(st.booleans()):
            policy = draw(retry_policies())
            if draw(st.booleans()):  # a named policy of the scenario
                policies[f"p_{name}"] = policy
                node["retry"] = f"p_{name}"
            else:
                node["retry"] = policy
        if draw(st.booleans()):
            node["dead_letter"] = "dlq"
            dead_letter_used = True
        node["on_down"] = draw(st.sampled_from(["queue", "reject"]))
        node["interrupted"] = draw(st.sampled_from(["requeue", "fail"]))
        nodes[name] = node
    if "hop" in middle:
        nodes["hop"] = {"kind": "delay", "time": {"dist": "exponential", "mean": draw(st.floats(0.05, 2.0))}}
    nodes["done"] = {"kind": "sink"}
    if draw(st.booleans()):
        nodes["other"] = {"kind": "sink"}
    if dead_letter_used:
        nodes["dlq"] = {"kind": "sink"}
    sinks = [n for n in ("done", "other") if n in nodes]

    edges: dict[tuple[str, str], float] = {}

    def weight() -> float:
        return draw(st.floats(0.2, 3.0))

    # every middle node is fed by a source or an earlier node; every source feeds something
    for i, name in enumerate(middle):
        feeder = draw(st.sampled_from(sources + middle[:i])) if i else draw(st.sampled_from(sources))
        edges.setdefault((feeder, name), weight())
    for name in sources:
        if not any(f == name for f, _ in edges):
            edges[(name, draw(st.sampled_from(middle)))] = weight()
    # every middle node has a forward edge (towards later nodes or a sink), maybe a few more
    for i, name in enumerate(middle):
        later = middle[i + 1 :] + sinks
        targets = draw(st.lists(st.sampled_from(later), min_size=0, max_size=2, unique=True))
        if not any(f == name and t in later for f, t in edges):
            targets.append(draw(st.sampled_from(later)))
        for target in targets:
            edges.setdefault((name, target), weight())
    routing: dict[str, str] = {}
    for name in sources + middle:
        outs = [t for f, t in edges if f == name]
        if fanout and len(outs) > 1 and draw(st.integers(0, 3)) == 0:
            routing[name] = "fanout"
        elif len(outs) > 1 and draw(st.integers(0, 5)) == 0:
            routing[name] = "round_robin"
    # feedback edges (to itself or an earlier node) from randomly routed nodes; every such node
    # keeps its forward edges, so items always have an exit
    for i, name in enumerate(middle):
        if name not in routing and draw(st.integers(0, 2)) == 0:
            edges.setdefault((name, draw(st.sampled_from(middle[: i + 1]))), draw(st.floats(0.05, 1.0)))
    for name, mode in routing.items():
        nodes[name]["routing"] = mode
    for sink in sinks:
        if not any(t == sink for _, t in edges):
            del nodes[sink]  # an unreachable sink would be refused by the graph checks

    fault_list: list[dict[str, Any]] = []
    if faults and draw(st.booleans()):
        target = draw(st.sampled_from(services))
        if draw(st.booleans()):
            fault_list.append(
                {
                    "node": target,
                    "mtbf": {"dist": "exponential", "mean": draw(st.floats(2.0, 30.0))},
                    "mttr": {"dist": "exponential", "mean": draw(st.floats(0.2, 5.0))},
                }
            )
        else:
            at = draw(st.floats(0.0, 20.0).filter(lambda x: x == 0 or x >= TINY))  # the range every number has
            fault_list.append({"node": target, "at": at, "for": draw(st.floats(0.5, 10.0))})

    duration = draw(st.floats(20.0, 80.0))
    doc: dict[str, Any] = {
        "name": "random",
        "architecture": {
            "name": "random",
            "nodes": nodes,
            # a weight is read only under random routing; elsewhere the loader refuses it as meaningless
            "edges": [
                {"from": f, "to": t, "weight": w} if f not in routing else {"from": f, "to": t}
                for (f, t), w in edges.items()
            ],
        },
        "duration": duration,
        "warmup": draw(st.sampled_from([0.0, 0.0, duration / 4])),
        "seed": draw(st.integers(0, 2**32)),
        "retry_policies": policies,
        "faults": fault_list,
        "limits": {"max_events": 200_000},
    }
    try:
        s = flowsim.load_scenario(_text(doc))
    except flowsim.SpecError as err:  # the loader refuses a cycle with no finite traffic solution
        assume("no finite solution" not in str(err))
        raise
    try:  # fan-out copies around a cycle can multiply without bound: no finite traffic solution
        flowsim.analyze_architecture(s.arch)
    except (ValueError, flowsim.FlowsimError):
        assume(False)
    assume(flowsim.estimate_events(s) < 100_000)
    return s


def run_one(s: flowsim.Scenario) -> tuple[RunResult, ReplicationOutput]:
    """One replication, raw and aggregated (what `simulate(s, replications=1)` returns)."""
    out = run_replication(s, 0)
    return flowsim.aggregate(s, [out], flowsim.analyze_architecture(s.arch, s.load.multiplier)), out


def has_fanout(s: flowsim.Scenario) -> bool:
    return any(c.routing == "fanout" for c in s.arch.nodes.values())


def dead_letter_sinks(s: flowsim.Scenario) -> set[str]:
    return {c.node_references()["dead_letter"] for c in s.arch.nodes.values() if c.node_references()}


# ---- conservation ----------------------------------------------------------------------------
@FAST
@given(random_scenarios())
def test_every_node_conserves_messages(s: flowsim.Scenario) -> None:
    result, _ = run_one(s)
    for name, n in result.nodes.items():
        assert n.arrivals + n.inside_at_start == n.completed + n.dropped + n.dead_lettered + n.inside_at_end, name
        assert min(n.arrivals, n.completed, n.dropped, n.dead_lettered, n.inside_at_start, n.inside_at_end) >= 0
        if n.kind == "sink":
            assert n.inside_at_end == 0
            # both count messages (an item of batch n counts n); latency samples are one per item
            assert result.end_to_end[name].count == n.arrivals
            latency = result.end_to_end[name].latency_s
            assert (latency.count if latency else 0) <= n.arrivals


@FAST
@given(random_scenarios(fanout=False))
def test_network_conserves_messages_without_fanout(s: flowsim.Scenario) -> None:
    # created == delivered + dropped + dead-lettered + inside at the end (+ inside at the window's
    # start, 0 when warmup = 0); dead letters are counted once, where they ran out of attempts.
    result, _ = run_one(s)
    nodes = result.nodes
    dlq = dead_letter_sinks(s)
    created = sum(n.arrivals for n in nodes.values() if n.kind == "source")
    delivered = sum(n.arrivals for name, n in nodes.items() if n.kind == "sink" and name not in dlq)
    dropped = sum(n.dropped for n in nodes.values())
    dead = sum(n.dead_lettered for n in nodes.values())
    inside_end = sum(n.inside_at_end for n in nodes.values())
    inside_start = sum(n.inside_at_start for n in nodes.values())
    if s.warmup == 0:
        assert inside_start == 0
    assert created + inside_start == delivered + dropped + dead + inside_end
    # a dead-letter sink receives exactly the dead letters of the services that name it
    senders = [name for name, c in s.arch.nodes.items() if c.node_references()]
    assert sum(nodes[d].arrivals for d in dlq) == sum(nodes[n].dead_lettered for n in senders)
    # the totals block says the same
    assert result.totals.arrivals == created
    assert result.totals.delivered == delivered  # dead-letter sinks excluded, as documented
    assert result.totals.dropped == dropped
    assert result.totals.dead_lettered == dead
    assert result.totals.inside_at_end == inside_end


def test_totals_count_delivered_messages_like_created_messages() -> None:
    # A source with `batch: 5` creates items of 5 messages; `totals.arrivals` counts messages
    # (node arrivals), so `totals.delivered` ("messages that reached a sink") must count messages
    # too, or the totals do not balance: arrivals == delivered + dropped + dead_lettered + inside.
    doc = {
        "name": "batches",
        "architecture": {
            "name": "batches",
            "nodes": {"src": {"kind": "source", "rate": 1, "batch": 5}, "done": {"kind": "sink"}},
            "edges": ["src -> done"],
        },
        "duration": 100,
    }
    result = flowsim.simulate(flowsim.load_scenario(_text(doc)), seed=3)
    t = result.totals
    assert result.nodes["done"].arrivals == t.arrivals  # messages, a multiple of 5
    assert t.arrivals == t.delivered + t.dropped + t.dead_lettered + t.inside_at_end


def test_a_named_retry_policy_means_what_the_same_policy_inline_means() -> None:
    # `retry: std` (a policy of the scenario's retry_policies) and the same policy written inline
    # must give the same simulation (they do) and the same analytic view: attempts per item
    # (1 - p^m)/(1 - p) = 1.875 for p = 0.5, m = 4, hence attempt rate, utilization, predictions and
    # the event estimate behind SimulationTooLarge.
    def run(retry: Any) -> RunResult:
        doc = {
            "name": "retry",
            "architecture": {
                "name": "retry",
                "nodes": {
                    "src": {"kind": "source", "rate": 1},
                    "q": {"kind": "service", "service_time": 0.2, "error_rate": 0.5, "retry": retry},
                    "done": {"kind": "sink"},
                },
                "edges": ["src -> q", "q -> done"],
            },
            "duration": 500,
            "retry_policies": {"std": {"max_attempts": 4, "base": 0.1}},
        }
        return flowsim.simulate(flowsim.load_scenario(_text(doc)), seed=1)

    named, inline = run("std"), run({"max_attempts": 4, "base": 0.1})
    assert named.nodes == inline.nodes and named.end_to_end == inline.end_to_end
    assert inline.analysis.nodes["q"].attempt_rate_per_s == pytest.approx(1.875)
    assert named.analysis.nodes["q"].attempt_rate_per_s == pytest.approx(1.875)
    assert named.analysis == inline.analysis


# ---- sanity of the figures --------------------------------------------------------------------
def _ordered(p: Any) -> bool:
    return bool(0 <= p.p50 <= p.p95 <= p.p99 <= p.max + 1e-12 and 0 <= p.mean <= p.max + 1e-12)


@FAST
@given(random_scenarios())
def test_figures_are_sane(s: flowsim.Scenario) -> None:
    result, out = run_one(s)
    faulted = {f.node for f in s.faults}
    for name, n in result.nodes.items():
        if n.utilization is not None:
            assert 0.0 <= n.utilization <= 1.0 + 1e-9, name
            assert n.mean_queue_length is not None and n.mean_in_node is not None
            assert 0.0 <= n.mean_queue_length <= n.mean_in_node + 1e-9, name
            assert 0.0 <= n.downtime_s <= result.window_s + 1e-9, name
        assert n.blocked_time_s >= 0.0, name
        assert n.timeouts <= n.failed_attempts, name
        for p in (n.wait_s, n.sojourn_s):
            if p is not None:
                assert _ordered(p), (name, p)
        if n.wait_s is not None and n.sojourn_s is not None:
            config = s.arch.nodes[name]
            retry = s.retry_policies[config.retry] if isinstance(config.retry, str) else config.policy()
            clean = config.error_rate == 0 and retry.timeout is None and name not in faulted
            if clean:
                # each item waits once; a completed item's sojourn >= its wait; at most `servers`
                # items have started (a wait is recorded) but not left (no sojourn yet)
                waits, sojourns = np.sort(out.waits[name]), out.sojourns[name]
                started_not_left = waits[max(0, len(waits) - config.servers) :]
                assert waits.sum() <= sojourns.sum() + started_not_left.sum() + 1e-6, name
                if n.inside_at_end == 0 and s.warmup == 0:
                    assert n.wait_s.mean <= n.sojourn_s.mean + 1e-9, name
    for name, e in result.end_to_end.items():
        if e.latency_s is not None:
            assert _ordered(e.latency_s), name
        assert e.throughput_per_s == pytest.approx(e.count / result.window_s)


# ---- determinism and common random numbers ---------------------------------------------------
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_scenarios())
def test_same_seed_same_result_any_execution_order(s: flowsim.Scenario) -> None:
    batch = flowsim.simulate(s, replications=3)
    again = flowsim.simulate(s, replications=3)
    assert batch.model_dump_json() == again.model_dump_json()
    # replications computed alone, in another order, aggregate to the very same result
    s3 = s.model_copy(update={"replications": 3})
    alone = {r: run_replication(s3, r) for r in (2, 0, 1)}
    view = flowsim.analyze_scenario(s3)  # the view simulate takes (the scenario's faults included)
    assert flowsim.aggregate(s3, [alone[r] for r in range(3)], view).model_dump_json() == batch.model_dump_json()


@pytest.fixture(scope="module")
def rich_scenario() -> flowsim.Scenario:
    """Retries, timeouts, a dead-letter sink, fan-out, feedback, blocking and an outage."""
    doc = {
        "name": "rich",
        "architecture": {
            "name": "rich",
            "nodes": {
                "src": {"kind": "source", "rate": 4},
                "api": {"kind": "service", "servers": 2, "service_time": {"dist": "exponential", "mean": 0.3},
                        "error_rate": 0.2, "retry": "std", "dead_letter": "dlq", "routing": "fanout"},
                "hop": {"kind": "delay", "time": {"dist": "lognormal", "mean": 0.2, "stdev": 0.3}},
                "db": {"kind": "service", "servers": 1, "service_time": {"dist": "gamma", "shape": 2, "mean": 0.2},
                       "capacity": 3, "on_full": "block"},
                "audit": {"kind": "service", "servers": 1, "service_time": 0.15, "capacity": 4},
                "done": {"kind": "sink"},
                "archive": {"kind": "sink"},
                "dlq": {"kind": "sink"},
            },
            "edges": [
                "src -> api", "api -> hop", "api -> audit", "hop -> db",
                {"from": "db", "to": "done", "weight": 0.9}, {"from": "db", "to": "api", "weight": 0.1},
                "audit -> archive",
            ],
        },
        "duration": 300,
        "warmup": 30,
        "seed": 11,
        "retry_policies": {"std": {"max_attempts": 3, "base": 0.1, "timeout": 2.0}},
        "faults": [{"node": "db", "mtbf": {"dist": "exponential", "mean": 60},
                    "mttr": {"dist": "exponential", "mean": 5}}],
    }  # fmt: skip
    return flowsim.load_scenario(_text(doc))


def test_workers_and_single_replications_reproduce_the_batch(rich_scenario: flowsim.Scenario) -> None:
    s = rich_scenario
    serial = flowsim.simulate(s, replications=4, workers=1)
    parallel = flowsim.simulate(s, replications=4, workers=2)
    assert serial.model_dump_json() == parallel.model_dump_json()
    pd_testing = pytest.importorskip("pandas.testing")
    pd_testing.assert_frame_equal(serial.series, parallel.series)
    for sink in serial.latencies:
        np.testing.assert_array_equal(serial.latencies[sink], parallel.latencies[sink])
    # replication 3 run alone equals the 4th replication of the batch (seed streams are per
    # replication, not per process or per order of execution)
    s4 = s.model_copy(update={"replications": 4})
    alone = run_replication(s4, 3)
    rows = serial.series[serial.series["replication"] == 3]
    for node, table in alone.series.items():
        mine = rows[rows["node"] == node]
        np.testing.assert_array_equal(mine[["inside", "waiting", "busy", "completed", "dropped"]].to_numpy(), table)
    for sink, latencies in alone.latencies.items():
        np.testing.assert_array_equal(serial.latencies[sink][-len(latencies) :], latencies)
    single = flowsim.aggregate(s4.model_copy(update={"replications": 1}), [alone],
                               flowsim.analyze_architecture(s.arch))  # fmt: skip
    assert single.nodes["api"].arrivals == alone.figures["api"]["arrivals"]
    # replication 0 alone is what a one-replication run reports
    one = flowsim.simulate(s, replications=1)
    first = run_replication(s, 0)
    for node, figures in first.figures.items():
        for key, value in figures.items():
            assert getattr(one.nodes[node], key, one.nodes[node].kind_figures.get(key)) == value, (node, key)
    # the model actually exercised what it claims to
    assert serial.nodes["api"].retries > 0 and serial.nodes["api"].dead_lettered > 0
    assert serial.nodes["db"].downtime_s > 0 and serial.nodes["audit"].dropped > 0


def test_another_seed_gives_other_figures(rich_scenario: flowsim.Scenario) -> None:
    a = flowsim.simulate(rich_scenario, seed=1, replications=2)
    b = flowsim.simulate(rich_scenario, seed=2, replications=2)
    assert a.model_dump(exclude={"seed"}) != b.model_dump(exclude={"seed"})
    assert a.nodes["api"].sojourn_s != b.nodes["api"].sojourn_s
    assert a.end_to_end["done"].latency_s != b.end_to_end["done"].latency_s


def test_streams_belong_to_names_not_to_the_design() -> None:
    # common random numbers: a source's arrivals do not depend on what lies downstream
    def run(downstream: dict[str, Any], edges: list[str]) -> RunResult:
        doc = {
            "name": "crn",
            "architecture": {"name": "crn", "nodes": {"src": {"kind": "source", "rate": 3}, **downstream},
                             "edges": edges},
            "duration": 200,
        }  # fmt: skip
        return flowsim.simulate(flowsim.load_scenario(_text(doc)), seed=5)

    plain = run({"done": {"kind": "sink"}}, ["src -> done"])
    queued = run(
        {"q": {"kind": "service", "servers": 2, "service_time": 0.5}, "done": {"kind": "sink"}},
        ["src -> q", "q -> done"],
    )
    assert plain.nodes["src"].arrivals == queued.nodes["src"].arrivals
    assert plain.nodes["done"].arrivals == queued.nodes["q"].arrivals


# ---- load scaling ----------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(m=st.floats(0.25, 4.0), rate=st.floats(1.0, 5.0), seed=st.integers(0, 2**32))
def test_load_multiplier_scales_source_throughput(m: float, rate: float, seed: int) -> None:
    def source_arrivals(multiplier: float, duration: float) -> RunResult:
        text = _text(
            {
                "name": "load",
                "architecture": {
                    "name": "load",
                    "nodes": {"src": {"kind": "source", "rate": rate}, "done": {"kind": "sink"}},
                    "edges": ["src -> done"],
                },
                "duration": duration,
                "seed": seed,
            }
        )
        return flowsim.simulate(flowsim.load_scenario(text, overrides={"load.multiplier": multiplier}))

    duration = 200.0
    scaled = source_arrivals(m, duration)
    assert scaled.load_multiplier == m
    expected = rate * m * duration
    count = scaled.nodes["src"].arrivals
    # Poisson count: within 5 standard deviations of rate * m * duration
    assert abs(count - expected) <= 5 * np.sqrt(expected) + 1
    assert scaled.nodes["src"].throughput_per_s == pytest.approx(count / duration)
    assert scaled.analysis.nodes["src"].arrival_rate_per_s == pytest.approx(rate * m)
    # exactly: the multiplier divides every interarrival time by m (same random numbers), so the
    # arrivals in [0, T] at load m are the arrivals in [0, m T] at load 1 (+-1 for rounding at T)
    base = source_arrivals(1.0, m * duration)
    assert abs(count - base.nodes["src"].arrivals) <= 1


def _order_by_rounds(deps: dict[str, list[str]]) -> list[str]:
    """The reference order: each round takes every task whose upstreams are all done, in written order."""
    done: list[str] = []
    left = dict(deps)
    while left:
        ready = [n for n, upstream in left.items() if all(d in done for d in upstream)]
        if not ready:
            raise ValueError("cycle")
        done += ready
        for name in ready:
            del left[name]
    return done


@st.composite
def _dags(draw: Any) -> dict[str, list[str]]:
    """A DAG of up to 25 tasks written in a shuffled order (an edge only from a lower to a higher rank)."""
    ranks = draw(st.permutations(range(draw(st.integers(1, 25)))))
    upstream = {rank: st.lists(st.sampled_from([f"t{r}" for r in range(rank)]), max_size=4) for rank in ranks if rank}
    return {f"t{rank}": draw(upstream[rank]) if rank else [] for rank in ranks}


@FAST
@given(_dags())
def test_the_airflow_task_order_is_the_round_by_round_order_in_linear_time(deps: dict[str, list[str]]) -> None:
    from flowsim.nodes._airflow_parts import TaskSpec, topological_order

    tasks = {name: TaskSpec(depends_on=upstream) for name, upstream in deps.items()}
    order = topological_order(tasks)
    assert order == _order_by_rounds(deps)
    seen = {name: index for index, name in enumerate(order)}
    assert all(seen[d] < seen[name] for name, upstream in deps.items() for d in upstream)


def test_an_airflow_cycle_or_an_unknown_upstream_is_refused_with_the_tasks_left() -> None:
    from flowsim.nodes._airflow_parts import TaskSpec, topological_order

    cycle = {"a": TaskSpec(), "b": TaskSpec(depends_on=["a", "c"]), "c": TaskSpec(depends_on=["b"])}
    with pytest.raises(ValueError, match=r"form a cycle: b, c$"):
        topological_order(cycle)
    with pytest.raises(ValueError, match=r"form a cycle: x$"):
        topological_order({"x": TaskSpec(depends_on=["nowhere"])})
    chain = {f"t{i}": TaskSpec(depends_on=[f"t{i - 1}"] if i else []) for i in range(5000)}
    assert topological_order(chain)[-1] == "t4999"  # 5,000 rounds of one task each
