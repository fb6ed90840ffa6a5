"""Consumers as members of a group: exact traces of crashes, detection, eviction, rebalances,
commits and autoscaling on tiny deterministic topics, checked against Kafka's documented rules.

The models: one message a second (`interarrival: 1s`), `round_robin` over 2 partitions (odd
seconds on p0, even on p1), batch_size 1 and no linger, writes of 1 ms (1,000/s), 0.1 s of
consumer processing per message; so a message born at t is polled at t + 0.001 and sunk at
t + 0.101.  Membership: heartbeats every 1 s, session_timeout 10 s, rebalance_time 3 s.
"""

from __future__ import annotations

import math
import random

import pytest

import flowsim
from flowsim.errors import FlowsimError
from flowsim.nodes._kafka_assign import round_robin, sticky
from helpers import Trace, assert_fault_located, run_traced, scenario_yaml

MEMBERSHIP = "rebalance_time: 3s, session_timeout: 10s, heartbeat_interval: 1s"


def tiny(
    faults: str, membership: str = "", *, partitions: int = 2, consumers: int = 2, limit: int = 60,
    processing: str = "0.1s", source: str = "interarrival: 1s", duration: str = "80s",
) -> str:  # fmt: skip
    nodes = f"""
    src: {{kind: source, {source}, limit: {limit}}}
    topic: {{kind: kafka_topic, partitions: {partitions}, partition_write_rate: 1000/s, partitioner: round_robin,
             batch_size: 1, linger: 0s, consumer_defaults: {{consumers: {consumers}, processing_time: {processing},
             membership: {{{MEMBERSHIP}, {membership}}}}}}}
    done: {{kind: sink}}
    """
    return scenario_yaml(nodes, "[src -> topic, topic -> done]", duration, "faults:\n" + faults)


def run(text: str) -> tuple[Trace, dict[str, float]]:
    model, events = run_traced(text)
    figures = model.nodes["topic"].figures(model.network.window)
    return [e for e in events if e[1] != "src" and not e[2].startswith(("append", "written"))], figures


def at(events: Trace, prefix: str) -> list[float]:
    return [t for t, _node, event, _key in events if event.startswith(prefix)]


def sunk(events: Trace) -> dict[int, list[float]]:
    """Sink times by message (key = its birth second)."""
    out: dict[int, list[float]] = {}
    for t, node, _event, key in events:
        if node == "done":
            out.setdefault(key, []).append(t)
    return out


def accounted(text: str) -> flowsim.RunResult:
    result = flowsim.simulate(flowsim.load_scenario(text))
    assert result.totals.unaccounted == 0
    return result


def test_a_crash_is_detected_a_session_timeout_after_the_last_heartbeat_and_eager_pauses_everyone() -> None:
    text = tiny("  - {node: topic, group: done, consumer: 1, at: 20.5s, for: 30s}\n", "auto_commit_interval: 5s")
    events, figures = run(text)
    assert at(events, "crash") == [20.5]
    # heartbeats at 0, 1, .., 20; the last one before the crash is at 20: expiry at 20 + 10 = 30
    assert at(events, "rebalance done: session of done.1 expired") == [30.0]
    assert at(events, "assigned done 0:0,1") == [30.0 + 3.0]  # one round of rebalance_time
    # p1 (even seconds) is not read from the crash to the round's end: its lag grows
    assert not [t for t, _n, e, _k in events if 20.5 < t < 33.0 and "p1@" in e]
    # the poll at 33 takes p0 from 15 (31 s) and p1 from the committed offset 9 (20 s again, 22 s, ..)
    assert sunk(events)[31] == [pytest.approx(33.1)] and sunk(events)[22] == [pytest.approx(33.3)]
    # idle consumer 1 auto-committed at 5, 10, 15, 20 (every auto_commit_interval): offset 9 (up to
    # the message of 18 s); the message of 20 s (offset 9) was handed on at 20.101, not committed:
    # exactly 1 record processed since the last commit, delivered again by consumer 0
    assert figures["redelivered.done"] == 1 and sunk(events)[20] == [20.101, pytest.approx(33.2)]
    assert figures["created"] == 1  # the duplicate is counted as the topic's own copy
    # the restart at 50.5 joins: eager stops consumer 0 too, until 53.5; the message of 51 s waits
    assert at(events, "rebalance done: done.1 joined") == [50.5]
    assert sunk(events)[51] == [pytest.approx(53.5 + 0.1)]
    assert figures["rebalances.done"] == 2 and figures["rebalance_time_s.done"] == pytest.approx(3.0 + 3.0)
    assert figures["consumer_crashes.done"] == 1
    # partition-seconds not consumed: p1 held by the dead session 20.5-30, both in the rounds 30-33
    # and 50.5-53.5
    assert figures["paused_partition_s.done"] == pytest.approx(9.5 + 2 * 3.0 + 2 * 3.0)
    # consumers over time: 2 until 20.5, 1 until 50.5, 2 until 80: mean (20.5 + 30 + 2 * 29.5) / 80
    assert figures["consumers_mean.done"] == pytest.approx((2 * 20.5 + 30 + 2 * 29.5) / 80)
    assert (figures["consumers_min.done"], figures["consumers_max.done"]) == (1, 2)
    result = accounted(text)  # 60 arrivals + 1 copy == 61 delivered
    assert result.totals.delivered == 61


def test_cooperative_pauses_only_the_partitions_that_move() -> None:
    fault = "  - {node: topic, group: done, consumer: 1, at: 20.5s, for: 10s, leave: true}\n"
    coop, coop_figures = run(tiny(fault, "protocol: cooperative"))
    eager, eager_figures = run(tiny(fault, "protocol: eager"))
    # a clean leave at 20.5 rebalances at once (no session timeout) and commits: nothing redelivered
    assert at(coop, "rebalance done: done.1 left") == [20.5] and coop_figures["redelivered.done"] == 0
    # cooperative: consumer 0 keeps p0 throughout (21 s sunk at 21.101); p1 waits for the round's end
    assert sunk(coop)[21] == [21.101] and sunk(coop)[22] == [pytest.approx(23.5 + 0.1)]
    # eager: consumer 0 gave up p0 too: the message of 21 s waits for 23.5
    assert sunk(eager)[21] == [pytest.approx(23.5 + 0.1)]
    # the rejoin at 30.5: cooperative round 1 (30.5-33.5) revokes p1 from consumer 0, round 2
    # (33.5-36.5) gives it to consumer 1; p0 never stops (31, 33, 35 sunk 0.101 s after birth)
    assert at(coop, "rebalance done: assign 1 revoked partition(s)") == [33.5]
    assert [sunk(coop)[k] for k in (31, 33, 35)] == [[31.101], [33.101], [35.101]]
    assert sunk(coop)[34] == [pytest.approx(36.5 + 0.1)]  # written 34.001 after p1 was revoked at 33.5
    # eager: the join stops everyone from 30.5 to 33.5
    assert sunk(eager)[31] == [pytest.approx(33.5 + 0.1)]
    # rounds: cooperative 1 (leave) + 2 (join: revoke, assign) = 3 of 3 s; eager 1 + 1 = 2
    assert (coop_figures["rebalances.done"], coop_figures["rebalance_time_s.done"]) == (3, pytest.approx(9.0))
    assert (eager_figures["rebalances.done"], eager_figures["rebalance_time_s.done"]) == (2, pytest.approx(6.0))
    # what the consumers feel: cooperative pauses p1 alone, 3 s after the leave and 3 s in round 2;
    # eager pauses both partitions for both rounds
    assert coop_figures["paused_partition_s.done"] == pytest.approx(3.0 + 3.0)
    assert eager_figures["paused_partition_s.done"] == pytest.approx(2 * 3.0 + 2 * 3.0)


@pytest.mark.parametrize(("commit", "redelivered"), [("per_batch", 3), ("auto", 4)])
def test_records_handed_on_since_the_last_commit_are_delivered_again(commit: str, redelivered: int) -> None:
    # five messages 10 ms apart on one partition; 1 s of processing each. Consumer 0 polls offset 0
    # at 0.011 (hands it on at 1.011), then offsets 1-4 at 1.011 and hands on 1, 2, 3 at 2.011,
    # 3.011, 4.011; it crashes at 4.5. per_batch committed offset 1 after the first poll: 3
    # records (1-3) processed since. auto (5 s interval) had not committed yet: 4 records (0-3).
    text = tiny(
        "  - {node: topic, group: done, consumer: 0, at: 4.5s, for: 100s}\n", f"commit: {commit}",
        partitions=1, limit=5, processing="1s", source="interarrival: 0.01s", duration="30s",
    )  # fmt: skip
    events, figures = run(text)
    # last heartbeat at 4: expiry at 14, the idle consumer 1 gets p0 at 17 from the committed offset
    assert at(events, "rebalance done: session of done.0 expired") == [14.0]
    assert at(events, "redeliver") == [17.0]
    assert figures["redelivered.done"] == redelivered
    # consumer 1 reads from the committed offset to the end: redelivered + 1 (offset 4) records, 1 s each
    last = max(t for times in sunk(events).values() for t in times)
    assert last == pytest.approx(17.0 + (redelivered + 1) * 1.0)
    result = accounted(text)
    assert result.totals.delivered == 5 + redelivered  # at least once: every record, some twice


def test_a_poll_that_outlasts_max_poll_interval_gets_the_member_evicted() -> None:
    # consumer 0 works 100 times slower from 10.5: its poll at 11.001 (the message of 11 s) takes
    # 0.1 x 100 = 10 s, to 21.001. max_poll_interval 5 s: evicted at 11.001 + 5 = 16.001
    text = tiny(
        "  - {node: topic, group: done, consumer: 0, at: 10.5s, for: 8s, slowdown: 100}\n",
        "commit: per_batch, max_poll_interval: 5s",
    )
    events, figures = run(text)
    assert at(events, "rebalance done: done.0 evicted") == [pytest.approx(16.001)]
    # the round ends at 19.001: consumer 1 takes both and reads p0 from its committed offset 5 (11 s)
    assert at(events, "assigned done 1:0,1") == [pytest.approx(19.001)]
    # consumer 0 still hands on its record at 21.001 (its commit fails: it is no longer a member),
    # a duplicate of consumer 1's hand-over at 19.101; then it rejoins: a second round, 21.001-24.001
    assert sunk(events)[11] == [pytest.approx(19.101), pytest.approx(21.001)]
    assert at(events, "rebalance done: done.0 joined") == [pytest.approx(21.001)]
    assert at(events, "assigned done 0:0 1:1") == [pytest.approx(24.001)]
    assert figures["evictions.done"] == 1 and figures["redelivered.done"] == 1
    assert figures["rebalances.done"] == 2 and figures["rebalance_time_s.done"] == pytest.approx(6.0)
    assert accounted(text).totals.delivered == 61


def test_the_autoscaler_follows_ceil_lag_over_target_within_min_and_max() -> None:
    # 100 messages/s on 4 partitions; one consumer processes 1 / 30 ms = 33.3/s. Every 10 s the
    # autoscaler wants ceil(lag / 100) consumers within [1, 4]; scale-in waits 30 s after a step
    # (and follows each ask at once: no stabilization window)
    text = scenario_yaml(
        """
        src: {kind: source, interarrival: 0.01s, stop: 100s}
        topic: {kind: kafka_topic, partitions: 4, partition_write_rate: 1000/s, partitioner: round_robin,
                batch_size: 1, linger: 0s, consumer_defaults: {consumers: 1, processing_time: 30ms,
                membership: {rebalance_time: 2s, autoscale: {target_lag: 100, min_consumers: 1, max_consumers: 4,
                             interval: 10s, cooldown: 30s, scale_down_window: 0s}}}}
        done: {kind: sink}
        """,
        "[src -> topic, topic -> done]",
        "200s",
    )
    events, figures = run(text)
    steps = [(t, e) for t, _n, e, _k in events if e.startswith("scale")]
    # at 10 s: 999 written (the message of 10.000 lands at 10.001).  KEDA reads the lag from the
    # committed offsets: the consumer auto-commits at its first poll 5 s after joining, at 7.331 s,
    # when it had handed on 1 + 2 + 6 + 18 + 54 + 163 = 244 records (its polls, each taking what
    # had landed); lag 999 - 244 = 755 (its read position is 667 behind), ceil(755 / 100) = 8,
    # capped at max 4
    assert steps[0] == (10.0, "scale done 1 -> 4 (lag 755)")
    # with 4 (133/s) the backlog is gone by the reading at 40 = 10 + the 30 s cool-down, but what
    # was handed on since each consumer's last auto-commit (up to 5 s x 100/s) still counts, as
    # KEDA reads it: 299 at 50 s wants 3; 3 fall behind and 408 at 60 s wants 4 again; once the
    # source stops at 100 s nothing is left to commit and the group scales in to 1 (lag 0)
    assert [(t, e.split(" (")[0]) for t, e in steps] == [
        (10.0, "scale done 1 -> 4"), (50.0, "scale done 4 -> 3"), (60.0, "scale done 3 -> 4"),
        (90.0, "scale done 4 -> 2"), (100.0, "scale done 2 -> 4"), (130.0, "scale done 4 -> 1"),
    ]  # fmt: skip
    for t, event in steps:
        assert t % 10.0 == pytest.approx(0.0, abs=1e-9)  # only at evaluations
        _have, want = (int(x) for x in event.split(" (")[0].split()[2::2])
        lag = int(event.split("lag ")[1].rstrip(")"))
        assert want == min(max(math.ceil(lag / 100), 1), 4)  # KEDA: ceil(lag / lagThreshold)
    downs = [t for t, e in steps if int(e.split()[2]) > int(e.split()[4])]
    assert downs and downs[0] >= 10.0 + 30.0  # no scale-in within the cool-down of the step at 10 s
    # every step is one rebalance of 2 s (no other membership change here)
    assert figures["scale_steps.done"] == len(steps) == figures["rebalances.done"]
    assert figures["rebalance_time_s.done"] == pytest.approx(2.0 * len(steps))
    assert figures["consumers_max.done"] == 4 and figures["consumers_min.done"] == 1
    accounted(text)


def test_the_assignors_are_balanced_and_sticky() -> None:
    assert round_robin([0, 1], 4) == {0: [0, 2], 1: [1, 3]}  # the static assignment flowsim used
    # a member leaves: the survivors keep theirs and share the orphans
    assert sticky({0: [0, 2], 2: [1, 3]}, 6) == {0: [0, 2, 4], 2: [1, 3, 5]}
    # a member joins: each of the two gives up one partition (the highest), nothing else moves
    assert sticky({0: [0, 1, 2], 1: [3, 4, 5], 2: []}, 6) == {0: [0, 1], 1: [3, 4], 2: [2, 5]}


@pytest.mark.parametrize(
    ("fault", "where", "message"),
    [
        ("{node: topic, group: dne, at: 1s, for: 1s}", "faults[0].group", "'dne' is not a consumer group"),
        ("{node: topic, group: done, consumer: 2, at: 1s, for: 1s}", "faults[0].consumer", "consumers 2..2"),
        ("{node: topic, group: done, consumers: 3, at: 1s, for: 1s}", "faults[0].consumers", "consumers 0..2"),
        ("{node: topic, consumer: 1, at: 1s, for: 1s}", "faults[0]", "and 'leave' need 'group'"),
        ("{node: api, group: done, at: 1s, for: 1s}", "faults[0].group", "a service has no consumer groups"),
    ],
)
def test_bad_consumer_fault_targets_are_located(fault: str, where: str, message: str) -> None:
    assert_fault_located("partitions: 2, consumer_defaults: {consumers: 2}", fault, where, message)


def test_the_fluid_engine_refuses_membership_and_consumer_faults() -> None:
    text = tiny("  - {node: topic, group: done, consumer: 1, at: 20.5s, for: 30s}\n") + "engine: fluid\n"
    with pytest.raises(FlowsimError, match=r"membership .* follows each member.*\n?.*faults\[0\] crashes consumers"):
        flowsim.simulate(flowsim.load_scenario(text))


def test_a_restart_before_the_crash_is_detected_waits_for_the_old_session_to_expire() -> None:
    # consumer 1 crashes at 20.5 and is back at 23.5, before its old session expires (20 + 10 = 30):
    # its join starts a round (to 26.5) that cannot end while the dead session is open; the expiry
    # at 30 restarts it, to 33. Eager: both partitions stop from the join at 23.5 to 33
    events, figures = run(tiny("  - {node: topic, group: done, consumer: 1, at: 20.5s, for: 3s}\n"))
    assert at(events, "rebalance done: done.1 joined") == [23.5]
    assert at(events, "rebalance done waits for 1 session(s) to expire") == [26.5]
    assert at(events, "rebalance done: session of done.1 expired") == [30.0]
    assert at(events, "assigned done 0:0 1:1") == [33.0]
    assert sunk(events)[25] == [pytest.approx(33.1)]  # p0 written at 25.001, read after the round
    assert figures["rebalances.done"] == 2 and figures["rebalance_time_s.done"] == pytest.approx(33.0 - 23.5)
    # p1 held by the dead session 20.5-23.5, then both partitions 23.5-33
    assert figures["paused_partition_s.done"] == pytest.approx(3.0 + 2 * 9.5)


def test_a_group_that_starts_later_rebalances_but_reads_nothing_before_its_start() -> None:
    # the group starts at 30 s from the earliest offset; consumer 1 crashes at 5 s (expiry at
    # 5 + 10 = 15, a round to 18): nothing is fetched before 30, then the whole retained log is read
    text = tiny(
        "  - {node: topic, group: done, consumer: 1, at: 5s, for: 100s}\n",
        duration="60s",
        limit=20,
    ).replace("processing_time: 0.1s,", "processing_time: 0.1s, start: earliest, start_at: 30s,")
    events, figures = run(text)
    assert at(events, "assigned done 0:0,1") == [18.0]
    assert min(at(events, "poll")) == 30.0
    assert figures["consumed.done"] == 20 and figures["redelivered.done"] == 0
    accounted(text)


def test_the_analytic_view_counts_an_autoscaled_group_at_its_most_consumers() -> None:
    from flowsim.nodes.kafka_topic import KafkaTopicConfig

    config = KafkaTopicConfig.model_validate(
        {"kind": "kafka_topic", "partitions": 12, "consumer_defaults": {"consumers": 3, "processing_time": "2.5ms",
         "membership": {"autoscale": {"target_lag": 5000, "max_consumers": 12}}}}
    )  # fmt: skip
    group = config.flow_law(["store"]).stages[1]
    assert group.units == 12 and group.rate == pytest.approx(400.0)  # 12 x 400/s = 4,800/s, not the 3 it starts with


def random_group(rng: random.Random, trial: int) -> str:
    """A random topic group with membership, consumer faults, retention and backpressure."""
    consumers = rng.randint(1, 5)
    scale = ""
    if rng.random() < 0.4:
        scale = (f", autoscale: {{target_lag: {rng.choice([5, 20, 100])}, max_consumers: {rng.randint(1, 6)}, "
                 f"interval: {rng.choice([2, 5])}s, cooldown: {rng.choice([0, 10])}s, "
                 f"scale_down_window: {rng.choice([0, 15])}s}}")  # fmt: skip
    faults = []
    for _ in range(rng.randint(0, 4)):
        first = rng.randrange(consumers)
        count = rng.randint(1, consumers - first)
        how = rng.choice(["", ", leave: true", ", slowdown: 20"])
        faults.append(f"  - {{node: topic, group: done, consumer: {first}, consumers: {count}, "
                      f"at: {rng.uniform(1, 50):.2f}s, for: {rng.uniform(0.5, 30):.2f}s{how}}}")  # fmt: skip
    if rng.random() < 0.3:
        faults.append(f"  - {{node: topic, at: {rng.uniform(1, 50):.2f}s, for: {rng.uniform(0.5, 10):.2f}s}}")
    processing = rng.choice(["0.1s", "{dist: exponential, mean: 0.2s}", "0s", "{dist: exponential, mean: 1s}"])
    nodes = f"""
    src: {{kind: source, rate: {rng.choice([5, 20, 50])}/s, batch: {rng.choice([1, 3])}}}
    topic: {{kind: kafka_topic, partitions: {rng.choice([1, 2, 4, 6])}, batch_size: {rng.choice([1, 5])},
             retention: 20s, retention_check_interval: 5s, consumer_defaults: {{consumers: {consumers},
             poll_interval: {rng.choice([0, 0.5])}s, start: {rng.choice(["latest", "earliest"])},
             start_at: {rng.choice([0, 20])}s, max_poll_records: {rng.choice([1, 5, 500])},
             processing_time: {processing}, membership: {{protocol: {rng.choice(["eager", "cooperative"])},
                          commit: {rng.choice(["auto", "per_batch"])},
                          rebalance_time: {rng.choice([0, 0.5, 3])}s, session_timeout: 6s, heartbeat_interval: 1s,
                          max_poll_interval: {rng.choice([1, 5, 300])}s, auto_commit_interval: 2s{scale}}}}}}}
    done: {{kind: service, service_time: {{dist: exponential, mean: 0.05s}}, capacity: 2}}
    out: {{kind: sink}}
    """
    extra = "faults:\n" + "\n".join(faults) + "\n" if faults else ""
    extra += f"seed: {trial}\nwarmup: {rng.choice([0, 10])}s\n"
    return scenario_yaml(nodes, "[src -> topic, topic -> done, done -> out]", "80s", extra)


@pytest.mark.slow
def test_random_groups_account_for_every_record_and_repeat_exactly() -> None:
    # crashes, leaves, slow polls (evictions), outages, autoscaling and retention at once: the
    # counting identity holds, no backlog goes negative, and the same seed gives the same figures
    rng = random.Random(7)
    for trial in range(12):
        text = random_group(rng, trial)
        first, again = accounted(text), accounted(text)
        figures = first.nodes["topic"].kind_figures
        negative = {k: v for k, v in figures.items() if k.startswith(("backlog", "lag", "consumed")) and v < 0}
        assert not negative, text
        assert figures == again.nodes["topic"].kind_figures, text


def test_an_evicted_member_holding_records_retention_deletes_counts_each_once() -> None:
    # the job downstream takes 20/s of 150/s: the one consumer is blocked on every poll past its
    # 1 s max_poll_interval, evicted and rejoins, while 20 s retention deletes records it holds
    text = scenario_yaml(
        """
        src: {kind: source, rate: 50/s, batch: 3}
        topic: {kind: kafka_topic, partitions: 2, batch_size: 5, retention: 20s, retention_check_interval: 5s,
                consumer_defaults: {consumers: 1, processing_time: 0.1s,
                                    membership: {protocol: cooperative, rebalance_time: 2s, max_poll_interval: 1s}}}
        done: {kind: service, service_time: {dist: exponential, mean: 0.05s}, capacity: 2}
        out: {kind: sink}
        """,
        "[src -> topic, topic -> done, done -> out]",
        "80s",
        "seed: 58\nfaults:\n  - {node: topic, at: 44.57s, for: 7.37s}\n",
    )
    f = accounted(text).nodes["topic"].kind_figures
    assert f["evictions.done"] >= 3 and f["lost_to_retention.done"] > 0 and f["backlog_at_end.done"] >= 0
    # per group: written + redelivered + backlog at start == consumed + lost + backlog at end
    written = f["produced"] + f["redelivered.done"] + f["backlog_at_start.done"]
    assert written == f["consumed.done"] + f["lost_to_retention.done"] + f["backlog_at_end.done"]


@pytest.mark.parametrize(
    ("membership", "message"),
    [
        ("{heartbeat_interval: 50s}", "membership: heartbeat_interval (50s) must be below session_timeout (45s)"),
        ("{autoscale: {target_lag: 10, min_consumers: 5, max_consumers: 2}}", "max_consumers (2) is below min"),
        ("{protocol: sticky}", "membership.protocol: invalid value 'sticky' (expected 'eager' or 'cooperative')"),
        ("{autoscale: {target_lag: 0, max_consumers: 2}}", "membership.autoscale.target_lag"),
    ],
)
def test_bad_membership_settings_are_located(membership: str, message: str) -> None:
    text = scenario_yaml(
        f"""
        src: {{kind: source, interarrival: 1s, limit: 6}}
        topic: {{kind: kafka_topic, partitions: 2, consumer_defaults: {{consumers: 2, membership: {membership}}}}}
        done: {{kind: sink}}
        """,
        "[src -> topic, topic -> done]",
        "10s",
    )
    with pytest.raises(FlowsimError, match=r"<input>:6:\d+: architecture\.nodes\.topic\.consumer_defaults\.") as caught:
        flowsim.load_scenario(text)
    assert message in str(caught.value)


def test_a_consumer_crash_is_not_a_topic_outage_for_the_drain_estimate() -> None:
    from flowsim.api import outages

    crash, outage = "{node: topic, group: done, consumer: 1, at: 20.5s, for: 30s}", "{node: topic, at: 5s, for: 2s}"
    text = tiny(f"  - {crash}\n  - {outage}\n")
    assert outages(flowsim.load_scenario(text)) == {"topic": 2.0}  # the 2 s outage, not the 30 s crash


@pytest.mark.parametrize(("tolerance", "first"), [(0.1, 20.0), (0.0, 10.0)])
def test_the_autoscaler_leaves_a_lag_near_its_target_alone(tolerance: float, first: float) -> None:
    # the setup above with target_lag 700: at 10 s the group's committed lag is 755 (see above),
    # 755 / (700 x 1) = 1.079, within the HPA's 10% tolerance: no step (ceil(755 / 700) = 2
    # without it); at 20 s it is over 1,400 behind, a ratio above 2: out
    text = scenario_yaml(
        f"""
        src: {{kind: source, interarrival: 0.01s, stop: 30s}}
        topic: {{kind: kafka_topic, partitions: 4, partition_write_rate: 1000/s, partitioner: round_robin,
                batch_size: 1, linger: 0s, consumer_defaults: {{consumers: 1, processing_time: 30ms,
                membership: {{rebalance_time: 2s, autoscale: {{target_lag: 700, min_consumers: 1,
                             max_consumers: 4, interval: 10s, cooldown: 30s, tolerance: {tolerance}}}}}}}}}
        done: {{kind: sink}}
        """,
        "[src -> topic, topic -> done]",
        "25s",
    )
    events, _figures = run(text)
    steps = [(t, e.split(" (")[0]) for t, _n, e, _k in events if e.startswith("scale")]
    assert steps[0][0] == first
    if first == 10.0:
        assert steps[0] == (10.0, "scale done 1 -> 2")


def test_the_trace_says_commit_only_where_offsets_are_committed() -> None:
    # one consumer, one message a second, 0.1 s each.  Auto commit (5 s): every poll ends 'handed'
    # and the offsets are committed at the first poll 5 s after the last commit (Kafka's
    # auto.commit.interval.ms, checked in poll()); per_batch commits at the end of each poll.
    auto, _ = run(tiny("  []\n", "auto_commit_interval: 5s", partitions=1, consumers=1, limit=20, duration="30s"))
    assert at(auto, "commit ") == [] and len(at(auto, "handed")) == 20
    # polls at 5, 10, 15, 20 (a message each) are the first 5 s after the last commit; after the
    # last message (20 s) the idle consumer still commits what it handed on, 5 s later
    assert at(auto, "auto commit") == [5.0, 10.0, 15.0, 20.0, 25.0]
    batch, _ = run(tiny("  []\n", "commit: per_batch", partitions=1, consumers=1, limit=20, duration="30s"))
    assert at(batch, "auto commit") == [] and len(at(batch, "commit ")) == 20
