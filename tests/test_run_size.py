"""The run-size estimate counts a topic's consumer timers once per consumer and per group.

A consumer that finds nothing polls again after `poll_interval` (each consumer with a partition,
in every group), and a group's autoscaler reads the lag every `autoscale.interval` (each group):
the estimate must count them so, or a topic with several groups of consumers polling every few
milliseconds would be sized a fraction of what it runs.  The measured count is the clock's events
scheduled in the run.
"""

from __future__ import annotations

import pytest

import flowsim
from flowsim.api import estimate_events, event_sources
from flowsim.build import build_model
from helpers import scenario_yaml


def test_the_estimate_counts_each_consumers_polls_and_each_groups_autoscaler() -> None:
    # one message a second; groups a and b use the defaults (6 consumers, 4 partitions: 4 poll),
    # group c autoscales (every 50 ms) between 1 and 4 consumers; all poll every 10 ms when idle
    text = scenario_yaml(
        """
        src: {kind: source, interarrival: 1s}
        topic: {kind: kafka_topic, partitions: 4, consumer_defaults: {consumers: 6, poll_interval: 10ms},
                consumer_groups: {c: {consumers: 1, poll_interval: 10ms,
                  membership: {autoscale: {interval: 50ms, min_consumers: 1, max_consumers: 4, target_lag: 1000}}}}}
        a: {kind: sink}
        b: {kind: sink}
        c: {kind: sink}
        """,
        "[src -> topic, topic -> a, topic -> b, topic -> c]",
        "60s",
    )
    scenario = flowsim.load_scenario(text)
    sources = event_sources(scenario)
    # 2 groups x 4 polling consumers x 60 s / 10 ms
    assert sources["nodes.topic.consumer_defaults.poll_interval"] == pytest.approx(2 * 4 * 60 / 0.01)
    # c at its most: 4 consumers x 60 s / 10 ms (its lag stays near 0: it runs 1)
    assert sources["nodes.topic.consumer_groups.c.poll_interval"] == pytest.approx(4 * 60 / 0.01)
    assert sources["nodes.topic.consumer_groups.c.membership.autoscale.interval"] == pytest.approx(60 / 0.05)
    model = build_model(scenario)
    model.run()
    measured = next(model.ctx.env._eid)  # events the clock scheduled: ids are handed out in turn
    # measured ~ 48,000 (a, b) + 6,000 (c's one consumer) + 1,200 (its autoscaler) + samples and
    # traffic; the estimate counts c at 4 consumers (24,000): high by a third at most
    assert measured <= estimate_events(scenario) <= 1.5 * measured
