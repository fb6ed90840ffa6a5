"""A `stream_processor` fed by a `kafka_topic` restores its checkpoint by re-reading the log.

Flink's KafkaSource keeps the offsets it read in the checkpointed state and, after a failure,
starts reading from the offsets stored; Spark replays from the offsets in its checkpoint
location; Kafka Streams from the committed offsets.  So the crashed job's records since its last
checkpoint go back into the topic's lag and are fetched again (lost if retention deleted them).

The tiny model: six events one second apart, each written at once (1 us) to a one-partition
topic and handed to a one-task job (0.5 s an event) that checkpoints every 4 s; the job crashes
from 6.2 s to 7.2 s.  The checkpoint at 4 s has offsets 0-2 (events 1-3) processed, so it stores
offset 3; events 4 and 5 (offsets 3, 4) were processed since, event 6 (offset 5) is in its task.
"""

from __future__ import annotations

import pytest

import flowsim
from helpers import Trace, node_figures, run_traced, scenario_yaml

TINY = """
src: {{kind: source, interarrival: 1s, limit: 6}}
topic: {{kind: kafka_topic, partitions: 1, batch_size: 1, linger: 0s, partition_write_rate: 1000000/s,
  retention: {retention}, retention_check_interval: 1s}}
job: {{kind: stream_processor, parallelism: 1, per_event_cost: 0.5s, checkpoint_interval: 4s, guarantee: {guarantee}}}
done: {{kind: sink}}
"""


def tiny(guarantee: str, retention: str = "7d") -> tuple[Trace, dict[str, dict[str, float]]]:
    text = scenario_yaml(
        TINY.format(guarantee=guarantee, retention=retention),
        "[src -> topic, topic -> job, job -> done]",
        "14s",
        "faults: [{node: job, at: 6.2s, for: 1s}]\n",
    )
    model, events = run_traced(text, nodes={"topic", "job"})
    return events, {name: node_figures(model, name) for name in ("topic", "job", "done")}


def balanced(figures: dict[str, float]) -> bool:
    """The kernel's identity: arrivals + created + inside at start == completed + dropped + lost + inside at end."""
    came = figures["arrivals"] + figures["created"] + figures["inside_at_start"]
    return came == figures["completed"] + figures["dropped"] + figures["lost"] + figures["inside_at_end"]


def test_an_at_least_once_job_re_reads_from_its_checkpoint_offsets_and_emits_duplicates() -> None:
    events, figures = tiny("at_least_once")
    after = [(t, node, e, k) for t, node, e, k in events if t >= 6.2]
    assert after == [
        (6.2, "job", "crash", -1),
        (6.2, "topic", "rewind job p0@3+3", -1),  # back to the checkpoint's offset 3: offsets 3-5 again
        (6.2, "job", "rewind 1 taken back", -1),  # event 6, in its task, goes back to the log
        (7.2, "job", "restart", -1),
        (7.2, "topic", "poll job.0 p0@3+3", 4),  # fetched again from the log, not from the job's memory
        (7.2, "job", "arrive", 4),
        (7.2, "job", "start", 4),
        (7.2, "job", "arrive", 5),
        (7.2, "job", "arrive", 6),
        (7.2, "topic", "commit job.0", 4),
        (7.7, "job", "emit again", 4),  # emitted at 4.5 before the crash: a duplicate
        (7.7, "job", "start", 5),
        (8.0, "job", "checkpoint 1", -1),
        (8.2, "job", "emit again", 5),  # emitted at 5.5: a duplicate
        (8.2, "job", "start", 6),
        (8.7, "job", "emit", 6),  # never emitted before: once
        (12.0, "job", "checkpoint 2", -1),
    ]
    topic, job, done = figures["topic"], figures["job"], figures["done"]
    assert topic["reread.job"] == 3  # handed on since the checkpoint: offsets 3, 4, 5
    assert topic["lag_max_messages.job"] == 3  # the lag jumps back by them at the crash
    assert topic["lag_max_seconds.job"] == pytest.approx(3.2)  # event 4 (born 4.0) unread at 7.2
    assert topic["created"] == 2  # the copies of events 4 and 5, read a second time
    assert topic["consumed.job"] == 6 + 3 - 1  # 6 handed on, 3 again, event 6 taken back once
    assert job["arrivals"] == 6 + 3 - 1 and job["duplicates"] == 2 and job["reprocessed"] == 2
    assert done["arrivals"] == 6 + 2  # every event, 4 and 5 twice
    assert all(balanced(f) for f in figures.values())


def test_an_exactly_once_job_throws_its_held_output_away_and_re_reads_it() -> None:
    events, figures = tiny("exactly_once")
    emits = [(t, k) for t, node, e, k in events if e == "emit"]
    # 1-3 commit at the checkpoint at 4; 4 and 5 were held at the crash: thrown away with 6, read
    # again at 7.2, processed 7.2-7.7 (4), 7.7-8.2 (5), 8.2-8.7 (6); 4 commits at 8, 5 and 6 at 12
    assert emits == [(4.0, 1), (4.0, 2), (4.0, 3), (8.0, 4), (12.0, 5), (12.0, 6)]
    assert (6.2, "job", "rewind 3 taken back", -1) in events
    topic, job, done = figures["topic"], figures["job"], figures["done"]
    assert topic["reread.job"] == 3 and topic["created"] == 0  # all three taken back, none copied
    assert job["duplicates"] == 0 and job["reprocessed"] == 2  # 4 and 5 had been processed
    assert done["arrivals"] == 6  # each event once
    assert all(balanced(f) for f in figures.values())


def test_records_retention_deletes_before_they_are_read_again_are_lost() -> None:
    # retention 1.5 s, checked every second: the check at 6 deletes what was written before 4.5
    # (offset 3, event 4); the check at 7, while the job is down, what was written before 5.5
    # (offset 4, event 5). The restored job can read neither again: 2 lost, counted, event 6 only
    # is re-read and delivered.
    events, figures = tiny("exactly_once", retention="1.5s")
    assert (6.2, "topic", "rewind job p0@4+2", -1) in events  # re-reads from offset 4, not 3
    assert (6.2, "topic", "rewind job p0: 1 deleted by retention, lost", -1) in events
    assert (7.0, "topic", "retention p0 lost 1 for job", -1) in events
    topic, done = figures["topic"], figures["done"]
    assert topic["lost_to_retention.job"] == 2 and topic["lost"] == 2
    assert done["arrivals"] == 6 - 2  # events 1, 2, 3 and 6
    assert all(balanced(f) for f in figures.values())


def test_a_micro_batch_job_restores_the_offsets_of_its_last_finished_batch() -> None:
    # Spark commits each batch's offsets as it ends. Triggers every 2 s, 0.5 s an event: the batch
    # of 2 and 3 (4-5 s) ends with event 4 (offset 3) queued, so the job's offsets are 3 there,
    # though checkpoint_interval (100 s) never came. The crash at 6.2 s stops the batch of 4 and 5
    # (6-7 s) with 6 queued: all three are taken back and re-read, and the first batch after the
    # restart at 7.2 s runs them at once (1.5 s: emitted at 8.7 s), none emitted twice.
    text = scenario_yaml(
        TINY.format(guarantee="at_least_once", retention="7d").replace(
            "checkpoint_interval: 4s", "checkpoint_interval: 100s, mode: micro_batch, batch_interval: 2s"
        ),
        "[src -> topic, topic -> job, job -> done]",
        "14s",
        "faults: [{node: job, at: 6.2s, for: 1s}]\n",
    )
    model, events = run_traced(text, nodes={"topic", "job"})
    assert [(t, node, e) for t, node, e, _ in events if t >= 6.2 and not e.startswith("commit")] == [
        (6.2, "job", "crash"),
        (6.2, "topic", "rewind job p0@3+3"),
        (6.2, "job", "rewind 3 taken back"),
        (7.2, "job", "restart"),
        (7.2, "topic", "poll job.0 p0@3+3"),
        (7.2, "job", "arrive"),
        (7.2, "job", "arrive"),
        (7.2, "job", "arrive"),
        (7.2, "job", "batch 3"),
        (8.7, "job", "emit"),
        (8.7, "job", "emit"),
        (8.7, "job", "emit"),
    ]
    job = node_figures(model, "job")
    assert job["duplicates"] == 0 and job["completed"] == 6 and node_figures(model, "topic")["reread.job"] == 3


LAG = """
src: {{kind: source, interarrival: 10ms, limit: 2500}}
topic: {{kind: kafka_topic, partitions: 1, batch_size: 1, linger: 0s, partition_write_rate: 1000000/s}}
job: {{kind: stream_processor, parallelism: 1, per_event_cost: 0.1ms, checkpoint_interval: 4s, guarantee: {guarantee}}}
done: {{kind: sink}}
"""


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_the_lag_jumps_back_by_what_the_job_consumed_since_its_checkpoint(guarantee: str) -> None:
    # 100 events/s; the checkpoint at 8 s covers events 1-799 (offsets 0-798); the crash at
    # 10.005 s for 10 s. Handed on since the checkpoint: events 800-1000 = 201, all processed.
    text = scenario_yaml(
        LAG.format(guarantee=guarantee), "[src -> topic, topic -> job, job -> done]", "30s",
        "faults: [{node: job, at: 10.005s, for: 10s}]\n",
    )  # fmt: skip
    scenario = flowsim.load_scenario(text)
    result = flowsim.simulate(scenario)
    topic, job = result.nodes["topic"].kind_figures, result.nodes["job"].kind_figures
    assert topic["reread.job"] == 201
    # at the restart: the 201 again + 10 s x 100/s written during the crash (events 1001-2000)
    assert topic["lag_max_messages.job"] == 201 + 1000
    # the oldest unread is event 800, born at 8.0 s: 20.005 - 8.0 = 12.005 s old at the restart
    assert topic["lag_max_seconds.job"] == pytest.approx(12.005, abs=1e-6)
    delivered = result.end_to_end["done"].count
    if guarantee == "at_least_once":  # the 201 had gone downstream: they go again
        assert job["duplicates"] == 201 and delivered == 2500 + 201
    else:  # they were held for the checkpoint at 12 s: thrown away, re-read, committed once
        assert job["duplicates"] == 0 and job["reprocessed"] == 201 and delivered == 2500
    assert result.totals.unaccounted == 0 and result.totals.lost == 0


RANDOM = """
src: {{kind: source, interarrival: {{dist: exponential, mean: 4ms}}}}
side: {{kind: source, interarrival: {{dist: exponential, mean: 50ms}}}}
topic: {{kind: kafka_topic, partitions: 3, batch_size: 10, linger: 5ms, retention: 3s,
  retention_check_interval: 1s, consumer_defaults: {{consumers: 2, max_poll_records: 20,
  processing_time: {{dist: exponential, mean: 1ms}}{membership}}}}}
job: {{kind: stream_processor, parallelism: 3, per_event_cost: {{dist: exponential, mean: {cost}}},
  checkpoint_interval: 2s, capacity: 50, {job}}}
done: {{kind: sink}}
"""


MEMBERS = ", membership: {rebalance_time: 1s, session_timeout: 6s, protocol: %s}"
CONSUMER_CRASHES = (
    ", {node: topic, group: job, mtbf: {dist: exponential, mean: 5s}, mttr: {dist: exponential, mean: 2s}}"
)


@pytest.mark.parametrize(
    ("job", "membership", "cost", "more"),
    [
        ("guarantee: at_least_once", "", "2ms", ""),
        ("guarantee: exactly_once, task_routing: by_key", MEMBERS % "eager", "2ms", CONSUMER_CRASHES),
        ("guarantee: at_least_once", MEMBERS % "cooperative", "2ms", CONSUMER_CRASHES),
        ("guarantee: at_least_once, mode: micro_batch, batch_interval: 0.5s", "", "2ms", ""),
        ("guarantee: at_least_once", "", "11ms", ""),  # 3 / 11 ms = 273/s for ~270/s: often full, consumers blocked
    ],
)
def test_every_message_is_counted_through_random_crashes_outages_and_retention(
    job: str, membership: str, cost: str, more: str
) -> None:
    """Random job crashes, a topic outage, 3 s retention and a small job buffer (with some of the
    group's consumers crashing too: rebalances and redeliveries meet the rewinds); a second source
    feeds the job directly (its items keep the in-memory rollback).  Per node and in the totals:
    arrivals + created + inside at start == completed + dropped + lost + inside at end."""
    text = scenario_yaml(
        RANDOM.format(job=job, membership=membership, cost=cost),
        "[src -> topic, topic -> job, side -> job, job -> done]",
        "40s",
        "warmup: 3s\nfaults: [{node: job, mtbf: {dist: exponential, mean: 6s}, "
        f"mttr: {{dist: exponential, mean: 1.5s}}}}, {{node: topic, at: 20s, for: 2s}}{more}]\n",
    )
    result = flowsim.simulate(flowsim.load_scenario(text))
    for name, n in result.nodes.items():
        came = n.arrivals + n.created + n.inside_at_start
        assert came == n.completed + n.dropped + n.dead_lettered + n.lost + n.inside_at_end, name
        assert n.created >= 0 and n.arrivals >= 0, name
    assert result.nodes["job"].kind_figures["restarts"] >= 3  # the crashes did happen
    assert result.nodes["topic"].kind_figures["reread.job"] > 0
    if more:  # the consumers crashed as well, and their partitions moved
        assert result.nodes["topic"].kind_figures["consumer_crashes.job"] >= 3
        assert result.nodes["topic"].kind_figures["rebalances.job"] >= 3
    assert result.totals.unaccounted == 0


def test_offset_ranges_merge_and_give_back_what_they_held() -> None:
    from flowsim.nodes._stream_replay import OffsetRanges

    ranges = OffsetRanges()
    for start, end in [(10, 20), (30, 40), (20, 25), (50, 60)]:  # [20, 25) touches [10, 20): merged
        ranges.add(start, end)
    assert list(zip(ranges.starts, ranges.ends, strict=True)) == [(10, 25), (30, 40), (50, 60)]
    assert ranges.total() == 15 + 10 + 10
    assert ranges.take(22, 35) == (25 - 22) + (35 - 30)  # the end of the first, the start of the second
    assert list(zip(ranges.starts, ranges.ends, strict=True)) == [(10, 22), (35, 40), (50, 60)]
    assert ranges.take(12, 15) == 3  # from the middle: [10, 12) and [15, 22) stay
    assert list(zip(ranges.starts, ranges.ends, strict=True)) == [(10, 12), (15, 22), (35, 40), (50, 60)]
    assert ranges.take(0, 100) == 2 + 7 + 5 + 10 and ranges.total() == 0
    assert ranges.take(0, 100) == 0


def test_a_job_behind_a_job_rolls_back_from_memory() -> None:
    # topic -> first -> second: the records first passes on still carry first's log positions,
    # which mean nothing to second (it reads no log): its crash rolls back in memory, as a job fed
    # by a source does (1 event/s, checkpoints every 4 s, crash 6.2-7.2 s: events 4 and 5 again)
    text = scenario_yaml(
        """
        src: {kind: source, interarrival: 1s, limit: 6}
        topic: {kind: kafka_topic, partitions: 1, batch_size: 1, linger: 0s, partition_write_rate: 1000000/s}
        first: {kind: stream_processor, parallelism: 1, per_event_cost: 0s, checkpoint_interval: 4s}
        second: {kind: stream_processor, parallelism: 1, per_event_cost: 0.5s, checkpoint_interval: 4s}
        done: {kind: sink}
        """,
        "[src -> topic, topic -> first, first -> second, second -> done]",
        "14s",
        "faults: [{node: second, at: 6.2s, for: 1s}]\n",
    )
    model, events = run_traced(text, nodes={"topic", "second"})
    assert not any(e.startswith("rewind") for _, _, e, _ in events)  # the topic never went back
    second = node_figures(model, "second")
    assert second["duplicates"] == 2 and second["reprocessed"] == 2  # events 4 and 5, from memory
    assert node_figures(model, "topic")["reread.first"] == 0
    assert node_figures(model, "done")["arrivals"] == 6 + 2
