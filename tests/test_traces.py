"""Exact event traces on tiny deterministic models: faults, retries with backoff, timeouts, blocking.

Every model uses constant times (and error_rate ~1 where a failure must happen), so each trace
below is worked out by hand in the comments and must match to the event.
"""

from __future__ import annotations

import flowsim
from helpers import Trace, run_traced, scenario_yaml

NEVER_SUCCEEDS = 0.999999999


def trace(nodes: str, edges: str, duration: str = "30s", extra: str = "") -> Trace:
    return run_traced(scenario_yaml(nodes, edges, duration, extra))[1]


def test_exponential_backoff_then_dead_letter() -> None:
    # arrive 1, fail 1.5, wait 1 -> retry at 2.5, fail 3.0, wait 2 -> retry at 5.0, fail 5.5: out of attempts
    events = trace(
        f"""
        src: {{kind: source, interarrival: 1s, limit: 1}}
        api: {{kind: service, service_time: 0.5s, error_rate: {NEVER_SUCCEEDS}, dead_letter: dlq,
               retry: {{max_attempts: 3, backoff: exponential, base: 1s, jitter: none}}}}
        done: {{kind: sink}}
        dlq: {{kind: sink}}
        """,
        "[src -> api, api -> done]",
    )
    assert events == [
        (1.0, "src", "emit", 1),
        (1.0, "api", "arrive", 1),
        (1.0, "api", "start", 1),
        (1.5, "api", "error", 1),
        (1.5, "api", "backoff 1", 1),
        (2.5, "api", "retry 2", 1),
        (2.5, "api", "start", 1),
        (3.0, "api", "error", 1),
        (3.0, "api", "backoff 2", 1),
        (5.0, "api", "retry 3", 1),
        (5.0, "api", "start", 1),
        (5.5, "api", "error", 1),
        (5.5, "api", "dead_letter", 1),
        (5.5, "dlq", "sink", 1),
    ]


def test_backoff_is_capped_and_fixed_backoff_is_constant() -> None:
    capped = trace(
        f"""
        src: {{kind: source, interarrival: 1s, limit: 1}}
        api: {{kind: service, service_time: 0s, error_rate: {NEVER_SUCCEEDS},
               retry: {{max_attempts: 5, base: 1s, multiplier: 10, cap: 15s, jitter: none}}}}
        done: {{kind: sink}}
        """,
        "[src -> api, api -> done]",
        duration="100s",
    )
    assert [e[2] for e in capped if e[2].startswith("backoff")] == [
        "backoff 1",
        "backoff 10",
        "backoff 15",
        "backoff 15",
    ]
    fixed = trace(
        f"""
        src: {{kind: source, interarrival: 1s, limit: 1}}
        api: {{kind: service, service_time: 0s, error_rate: {NEVER_SUCCEEDS},
               retry: {{max_attempts: 3, backoff: fixed, base: 2s, jitter: none}}}}
        done: {{kind: sink}}
        """,
        "[src -> api, api -> done]",
    )
    assert [e[0] for e in fixed if e[2].startswith("retry")] == [3.0, 5.0]


def test_jitter_stays_within_its_band() -> None:
    events = trace(
        f"""
        src: {{kind: source, interarrival: 1s, limit: 20}}
        api: {{kind: service, service_time: 0s, error_rate: {NEVER_SUCCEEDS},
               retry: {{max_attempts: 2, backoff: fixed, base: 4s, jitter: equal}}}}
        done: {{kind: sink}}
        """,
        "[src -> api, api -> done]",
        duration="60s",
    )
    delays = [float(e[2].split()[1]) for e in events if e[2].startswith("backoff")]
    assert len(delays) == 20 and all(2.0 <= d <= 4.0 for d in delays) and len(set(delays)) == 20


def test_timeout_abandons_attempt_but_server_finishes_the_work() -> None:
    # arrive 1, start 1 (3s of work), timeout at 2 -> backoff 0.5 -> retry at 2.5 waits: the server
    # still works on the abandoned attempt until 4; the retry times out at 3.5 while waiting and,
    # out of attempts, is dead-lettered. The server frees at 4 with nothing to do.
    events = trace(
        """
        src: {kind: source, interarrival: 1s, limit: 1}
        api: {kind: service, service_time: 3s,
              retry: {max_attempts: 2, backoff: fixed, base: 0.5s, jitter: none, timeout: 1s}}
        done: {kind: sink}
        """,
        "[src -> api, api -> done]",
    )
    assert events == [
        (1.0, "src", "emit", 1),
        (1.0, "api", "arrive", 1),
        (1.0, "api", "start", 1),
        (2.0, "api", "timeout", 1),
        (2.0, "api", "backoff 0.5", 1),
        (2.5, "api", "retry 2", 1),
        (3.5, "api", "timeout", 1),
        (3.5, "api", "dead_letter", 1),
    ]


def test_outage_requeues_work_in_service() -> None:
    # start at 1 (2s of work); down at 2 interrupts it; up at 5 restarts it from scratch: leaves at 7
    events = trace(
        """
        src: {kind: source, interarrival: 1s, limit: 1}
        api: {kind: service, service_time: 2s}
        done: {kind: sink}
        """,
        "[src -> api, api -> done]",
        extra="faults: [{node: api, at: 2s, for: 3s}]\n",
    )
    assert events == [
        (1.0, "src", "emit", 1),
        (1.0, "api", "arrive", 1),
        (1.0, "api", "start", 1),
        (2.0, "api", "down", -1),
        (5.0, "api", "up", -1),
        (5.0, "api", "start", 1),
        (7.0, "done", "sink", 1),
        (7.0, "api", "leave", 1),
    ]


def test_outage_fails_work_in_service_and_rejects_arrivals() -> None:
    # down from 1.5 to 4. interrupted: fail -> item 1 is dead-lettered at 1.5 (no retry policy);
    # items 2 and 3 arrive while it is down and on_down: reject -> each dead-lettered at once.
    events = trace(
        """
        src: {kind: source, interarrival: 1s, limit: 3, start: 0s}
        api: {kind: service, service_time: 2s, interrupted: fail, on_down: reject}
        done: {kind: sink}
        """,
        "[src -> api, api -> done]",
        extra="faults: [{node: api, at: 1.5s, for: 2.5s}]\n",
    )
    assert events == [
        (1.0, "src", "emit", 1),
        (1.0, "api", "arrive", 1),
        (1.0, "api", "start", 1),
        (1.5, "api", "down", -1),
        (1.5, "api", "dead_letter", 1),
        (2.0, "src", "emit", 2),
        (2.0, "api", "arrive", 2),
        (2.0, "api", "dead_letter", 2),
        (3.0, "src", "emit", 3),
        (3.0, "api", "arrive", 3),
        (3.0, "api", "dead_letter", 3),
        (4.0, "api", "up", -1),
    ]


def test_repeating_outage() -> None:
    events = trace(
        """
        src: {kind: source, interarrival: 100s}
        api: {kind: service, service_time: 1s}
        done: {kind: sink}
        """,
        "[src -> api, api -> done]",
        duration="35s",
        extra="faults: [{node: api, at: 5s, for: 2s, every: 10s}]\n",
    )
    assert [(t, e) for t, _, e, _ in events] == [
        (5.0, "down"), (7.0, "up"), (15.0, "down"), (17.0, "up"), (25.0, "down"), (27.0, "up"),
    ]  # fmt: skip


def test_blocking_holds_the_upstream_server() -> None:
    # a: 1s per item; b: 3s per item, room for 1, blocks. Item 2 finishes a at 3 but b is full:
    # a holds it (and its server) until b frees at 5. Item 3 waits in a's queue until 5.
    events = trace(
        """
        src: {kind: source, interarrival: 1s, limit: 3}
        a: {kind: service, service_time: 1s}
        b: {kind: service, service_time: 3s, capacity: 1, on_full: block}
        done: {kind: sink}
        """,
        "[src -> a, a -> b, b -> done]",
    )
    flow = [(t, node, event, key) for t, node, event, key in events if node != "src"]
    assert flow == [
        (1.0, "a", "arrive", 1), (1.0, "a", "start", 1),
        (2.0, "b", "arrive", 1), (2.0, "b", "start", 1), (2.0, "a", "leave", 1),
        (2.0, "a", "arrive", 2), (2.0, "a", "start", 2),
        (3.0, "b", "refuse", 2),
        (3.0, "a", "arrive", 3),
        (5.0, "done", "sink", 1), (5.0, "b", "leave", 1),
        (5.0, "b", "arrive", 2), (5.0, "b", "start", 2), (5.0, "a", "leave", 2), (5.0, "a", "start", 3),
        (6.0, "b", "refuse", 3),
        (8.0, "done", "sink", 2), (8.0, "b", "leave", 2),
        (8.0, "b", "arrive", 3), (8.0, "b", "start", 3), (8.0, "a", "leave", 3),
        (11.0, "done", "sink", 3), (11.0, "b", "leave", 3),
    ]  # fmt: skip


def test_blocked_source_pauses_instead_of_losing_work() -> None:
    result = flowsim.simulate(
        flowsim.load_scenario(
            """
            name: blocked-source
            architecture:
              name: tiny
              nodes:
                src: {kind: source, interarrival: 1s}
                slow: {kind: service, service_time: 4s, capacity: 2, on_full: block}
                done: {kind: sink}
              edges: [src -> slow, slow -> done]
            duration: 103s
            """
        )
    )
    slow = result.nodes["slow"]
    assert slow.dropped == 0
    assert result.nodes["src"].blocked_time_s > 50
    assert result.end_to_end["done"].count == 25  # one every 4s: at 5, 9, ..., 101


def test_drop_when_full() -> None:
    # b holds one item at a time for 3s; items 2 and 3 arrive while it is full and are dropped
    events = trace(
        """
        src: {kind: source, interarrival: 1s, limit: 4}
        b: {kind: service, service_time: 3s, capacity: 1}
        done: {kind: sink}
        """,
        "[src -> b, b -> done]",
    )
    assert [(t, e, k) for t, n, e, k in events if n == "b"] == [
        (1.0, "arrive", 1), (1.0, "start", 1), (2.0, "drop", 2), (3.0, "drop", 3),
        (4.0, "leave", 1), (4.0, "arrive", 4), (4.0, "start", 4), (7.0, "leave", 4),
    ]  # fmt: skip


def test_fanout_copies_to_every_branch() -> None:
    events = trace(
        """
        src: {kind: source, interarrival: 1s, limit: 2, routing: fanout}
        left: {kind: sink}
        right: {kind: sink}
        """,
        "[src -> left, src -> right]",
    )
    assert [(t, n, k) for t, n, e, k in events if e == "sink"] == [
        (1.0, "left", 1), (1.0, "right", 1), (2.0, "left", 2), (2.0, "right", 2),
    ]  # fmt: skip
