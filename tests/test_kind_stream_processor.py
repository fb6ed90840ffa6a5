"""`stream_processor`: exact traces of checkpoints and crash restarts, figures and bad input.

One task at 0.5 s per event, one event a second, checkpoints every 4 s, a crash from 6.2 to 7.2:
events 4 and 5 were processed after the checkpoint at 4 and are rolled back; event 6 was in its
task and restarts.
"""

from __future__ import annotations

import pytest

import flowsim
from flowsim.build import build_model
from flowsim.distributions import Exponential
from flowsim.nodes.stream_processor import StreamProcessorConfig
from helpers import Trace, run_traced, scenario_yaml

NODES = """
src: {{kind: source, interarrival: 1s, limit: 6}}
job: {{kind: stream_processor, {job}}}
done: {{kind: sink}}
"""


def run(job: str, duration: str = "14s", faults: str = "[{node: job, at: 6.2s, for: 1s}]") -> tuple[Trace, dict]:
    text = scenario_yaml(NODES.format(job=job), "[src -> job, job -> done]", duration, f"faults: {faults}\n")
    model, events = run_traced(text, nodes={"job"})
    return events, model.nodes["job"].figures(model.network.window)


JOB = "parallelism: 1, per_event_cost: 0.5s, checkpoint_interval: 4s"


def test_at_least_once_crash_restarts_from_the_checkpoint_and_emits_duplicates() -> None:
    events, figures = run(JOB + ", guarantee: at_least_once")
    after = [(t, e, k) for t, _, e, k in events if t >= 6.0]
    assert after == [
        (6.0, "arrive", 6),
        (6.0, "start", 6),
        (6.2, "crash", -1),
        (7.2, "restart", -1),
        (7.2, "start", 4),  # rolled back: emitted at 4.5, before the crash
        (7.7, "emit again", 4),
        (7.7, "start", 5),
        (8.0, "checkpoint 1", -1),
        (8.2, "emit again", 5),
        (8.2, "start", 6),  # interrupted at the crash: processed from scratch, once
        (8.7, "emit", 6),
        (12.0, "checkpoint 2", -1),
    ]
    assert figures["duplicates"] == 2 and figures["reprocessed"] == 2 and figures["restarts"] == 1
    assert figures["completed"] == 8 and figures["checkpoints"] == 3 and figures["downtime_s"] == 1.0
    # at-least-once: arrivals + inside at start + reprocessed == completed + inside at end
    assert figures["arrivals"] + figures["inside_at_start"] + figures["reprocessed"] == (
        figures["completed"] + figures["inside_at_end"]
    )


def test_exactly_once_holds_output_until_a_checkpoint_and_never_duplicates() -> None:
    events, figures = run(JOB + ", guarantee: exactly_once")
    emits = [(t, k) for t, _, e, k in events if e == "emit"]
    # 1-3 wait for the checkpoint at 4; 4 and 5 were held at the crash, are re-processed and commit
    # at 8 (4) and 12 (5, 6)
    assert emits == [(4.0, 1), (4.0, 2), (4.0, 3), (8.0, 4), (12.0, 5), (12.0, 6)]
    assert figures["duplicates"] == 0 and figures["reprocessed"] == 2 and figures["completed"] == 6
    # held from 1.5, 2.5, 3.5 to 4; 7.7 to 8; 8.2 and 8.7 to 12
    assert figures["output_latency_added_max_s"] == pytest.approx(3.8)
    assert figures["output_latency_added_mean_s"] == pytest.approx((2.5 + 1.5 + 0.5 + 0.3 + 3.8 + 3.3) / 6)


def test_micro_batches_run_every_interval_over_all_tasks() -> None:
    # triggers at 2, 4, 6: the queued events (1 at 2; 2, 3 at 4; 4, 5 at 6) are split over 2 tasks
    events, figures = run(
        "parallelism: 2, per_event_cost: 1s, mode: micro_batch, batch_interval: 2s, checkpoint_interval: 100s",
        duration="7.5s",
        faults="[]",
    )
    assert [(t, e) for t, _, e, _ in events if e.startswith("batch") or e == "emit"] == [
        (2.0, "batch 1"),
        (2.5, "emit"),
        (4.0, "batch 2"),
        (5.0, "emit"),
        (5.0, "emit"),
        (6.0, "batch 2"),
        (7.0, "emit"),
        (7.0, "emit"),
    ]
    assert figures["utilization"] == pytest.approx((0.5 * 2 + 1 * 2 + 1 * 2) / (2 * 7.5))


def test_an_at_least_once_micro_batch_crash_reruns_only_the_batch_it_stopped() -> None:
    # triggers every 2 s, one task at 0.5 s an event: batch {1} ends 2.5, {2, 3} ends 5.0, {4, 5}
    # starts 6.0 and is stopped by the crash at 6.2.  Spark's commit log marks each finished batch,
    # so the restart at 7.2 runs {4, 5, 6} (1.5 s) and nothing emitted before the crash comes back:
    # the rollback to the 100 s checkpoint re-emitted 1, 2 and 3 (3 duplicates)
    events, figures = run(
        "parallelism: 1, per_event_cost: 0.5s, mode: micro_batch, batch_interval: 2s, checkpoint_interval: 100s"
    )
    assert [(t, k) for t, _, e, k in events if e == "emit"] == [
        (2.5, 1),
        (5.0, 2),
        (5.0, 3),
        (8.7, 4),
        (8.7, 5),
        (8.7, 6),
    ]
    assert figures["duplicates"] == 0 and figures["reprocessed"] == 0 and figures["completed"] == 6


def test_a_full_job_blocks_its_sender() -> None:
    events, figures = run("parallelism: 1, per_event_cost: 3s, capacity: 2", duration="8s", faults="[]")
    # 1 runs 1-4, 2 waits; 3 is refused at 3 and handed over when 1 leaves at 4; 2 runs 4-7, so
    # 4 is refused at 5 and handed over at 7
    assert [(t, e, k) for t, _, e, k in events if e in ("refuse", "arrive")] == [
        (1.0, "arrive", 1),
        (2.0, "arrive", 2),
        (3.0, "refuse", 3),
        (4.0, "arrive", 3),
        (5.0, "refuse", 4),
        (7.0, "arrive", 4),
    ]
    assert figures["dropped"] == 0


def test_micro_batch_needs_a_cost() -> None:
    with pytest.raises(ValueError, match="micro_batch needs a per_event_cost above 0"):
        StreamProcessorConfig(kind="stream_processor", mode="micro_batch", per_event_cost=0)  # type: ignore[arg-type]


@pytest.mark.slow
def test_a_crashed_job_stops_consuming_so_its_kafka_lag_grows_at_the_input_rate() -> None:
    # 1,000 messages/s written one by one to the job's topic; the job (10,000/s, room for 20,000)
    # keeps up until it crashes at 10 s for 10 s. Down, it takes nothing: its input stays in Kafka,
    # so the group's lag grows by 1,000/s to 10 s x 1,000/s = 10,000 messages (the oldest unread
    # then 10 s old); a job that kept taking input while down would leave the lag near 0.
    text = scenario_yaml(
        """
        src: {kind: source, interarrival: 1ms}
        topic: {kind: kafka_topic, partitions: 1, partition_write_rate: 1000000/s, batch_size: 1, linger: 0s}
        job: {kind: stream_processor, parallelism: 1, per_event_cost: 0.1ms, capacity: 20000}
        done: {kind: sink}
        """,
        "[src -> topic, topic -> job, job -> done]",
        "30s",
        "faults: [{node: job, at: 10s, for: 10s}]\n",
    )
    model = build_model(flowsim.load_scenario(text))
    model.run()
    topic, job = (model.nodes[n].figures(model.network.window) for n in ("topic", "job"))
    assert 9_990 <= topic["lag_max_messages.job"] <= 10_002
    assert topic["lag_max_seconds.job"] == pytest.approx(10.0, abs=0.01)
    # after the restart the job drains the 10,000 at 10,000 - 1,000 = 9,000/s net: about 1.1 s
    assert topic["backlog_at_end.job"] <= 2 and job["completed"] >= 29_990


def test_a_slowdown_stretches_the_work_started_during_it() -> None:
    # events at 1..6, 0.5 s each on one task; slowed x2 from 2.7 to 4.7: event 3 (started at 3)
    # and event 4 (started at 4, when 3 leaves) take 1 s; events 1, 2, 5, 6 take 0.5 s
    events, _ = run(JOB, duration="8s", faults="[{node: job, at: 2.7s, for: 2s, slowdown: 2}]")
    assert [t for t, _, e, _ in events if e == "emit"] == [1.5, 2.5, 4.0, 5.0, 5.5, 6.5]


def test_micro_batch_exactly_once_commits_each_batch_as_it_ends() -> None:
    # Spark commits a micro-batch's output when the batch ends, not at the checkpoint interval: the
    # emits are those of the at-least-once test above (2.5; 5.0 twice; 7.0 twice), nothing held
    events, figures = run(
        "parallelism: 2, per_event_cost: 1s, mode: micro_batch, batch_interval: 2s, checkpoint_interval: 100s, "
        "guarantee: exactly_once",
        duration="7.5s",
        faults="[]",
    )
    assert [t for t, _, e, _ in events if e == "emit"] == [2.5, 5.0, 5.0, 7.0, 7.0]
    assert figures["output_latency_added_max_s"] == 0 and figures["duplicates"] == 0


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_micro_batch_reading_a_topic_emits_each_batch_as_it_ends(guarantee: str) -> None:
    # 100/s into a one-partition topic, written at once; a trigger every 1 s takes the ~100 records
    # read since the last one, 100 x 5 ms = 0.5 s of work: they leave at k + 0.5 s. An exactly-once
    # job read from a topic delivered nothing (the batch's end forgot the held output it covered).
    # In 60 s: 5,999 written (0.01 .. 59.99 s), the batch at 59 s the last to end, so ~100 inside.
    text = scenario_yaml(
        f"""
        src: {{kind: source, interarrival: 10ms}}
        topic: {{kind: kafka_topic, partitions: 1, batch_size: 1, linger: 0s}}
        job: {{kind: stream_processor, parallelism: 1, per_event_cost: 5ms, mode: micro_batch, batch_interval: 1s,
              guarantee: {guarantee}}}
        done: {{kind: sink}}
        """,
        "[src -> topic, topic -> job, job -> done]",
        "60s",
    )
    result = flowsim.simulate(flowsim.load_scenario(text))
    job = result.nodes["job"]
    assert job.arrivals == 5_999 and 5_895 <= job.completed <= 5_900 and job.inside_at_end == 5_999 - job.completed
    assert result.totals.delivered == job.completed and result.totals.unaccounted == 0
    latency = result.end_to_end["done"].latency_s
    assert latency is not None and latency.mean == pytest.approx(0.5 + 0.5, abs=0.02)  # half a trigger + the work


def test_keyed_tasks_wait_for_their_own_task_while_others_are_free() -> None:
    # events 1..6 at 1 s apart, 1.5 s each on 2 tasks. Keys 1..6 hash (splitmix64 mod 2) to tasks
    # 1, 0, 1, 0, 0, 0: task 0 runs 2 (2-3.5), 4 (4-5.5), 5 (5.5-7), 6 (7-8.5) while task 1 is
    # idle from 4.5; a shared queue gives 5 and 6 to the first free task (5-6.5, 6-7.5)
    job = "parallelism: 2, per_event_cost: 1.5s, checkpoint_interval: 100s"
    keyed, _ = run(job + ", task_routing: by_key", duration="10s", faults="[]")
    assert [t for t, _, e, _ in keyed if e == "emit"] == [2.5, 3.5, 4.5, 5.5, 7.0, 8.5]
    shared, _ = run(job, duration="10s", faults="[]")
    assert [t for t, _, e, _ in shared if e == "emit"] == [2.5, 3.5, 4.5, 5.5, 6.5, 7.5]


def test_keyed_tasks_queue_as_one_server_each_in_theory() -> None:
    # 2 tasks at 1 ms, 1,000 events/s: shared M/M/2 at rho 0.5 waits C(2, 1) / (2,000 - 1,000)
    # = 1/3 ms; keyed, each task is an M/M/1 at 500/s: 0.5 / (1,000 - 500) = 1 ms
    shared = StreamProcessorConfig(kind="stream_processor", parallelism=2, per_event_cost=Exponential(mean=0.001))
    keyed = shared.model_copy(update={"task_routing": "by_key"})
    assert shared.flow_law().delay.mean_s(1000) == pytest.approx(0.001 + 0.001 / 3)
    assert keyed.flow_law().delay.mean_s(1000) == pytest.approx(0.001 + 0.001)


def test_a_trigger_interval_on_a_per_event_job_is_refused() -> None:
    # batch_interval is read only in micro_batch mode: on a per_event job it would do nothing
    with pytest.raises(ValueError, match="batch_interval only applies with mode: micro_batch"):
        StreamProcessorConfig.model_validate(
            {"kind": "stream_processor", "mode": "per_event", "batch_interval": "5s", "per_event_cost": "1ms"}
        )


def test_exactly_once_output_committed_after_the_run_is_warned() -> None:
    # Flink's exactly-once sink publishes a checkpoint's output when it completes: with checkpoints
    # every hour in a 60 s run nothing is delivered, which is right, and said before the run
    text = scenario_yaml(
        """
        src: {kind: source, interarrival: 0.1s}
        job: {kind: stream_processor, per_event_cost: 1ms, guarantee: exactly_once, checkpoint_interval: 1h}
        done: {kind: sink}
        """,
        "[src -> job, job -> done]",
        "60s",
    )
    scenario = flowsim.load_scenario(text)
    (warning,) = [w for w in flowsim.analyze_scenario(scenario).warnings if "'job'" in w]
    assert warning.startswith("'job' delivers nothing in this run: its exactly-once output commits at checkpoints")
    assert flowsim.simulate(scenario).end_to_end["done"].count == 0
    # checkpoints inside the run: no warning
    shorter = flowsim.load_scenario(text.replace("checkpoint_interval: 1h", "checkpoint_interval: 10s"))
    assert not [w for w in flowsim.analyze_scenario(shorter).warnings if "'job'" in w]


def test_a_micro_batch_interval_longer_than_the_run_is_warned() -> None:
    text = scenario_yaml(
        """
        src: {kind: source, interarrival: 0.1s}
        job: {kind: stream_processor, per_event_cost: 1ms, mode: micro_batch, batch_interval: 2m}
        done: {kind: sink}
        """,
        "[src -> job, job -> done]",
        "60s",
    )
    (warning,) = [w for w in flowsim.analyze_scenario(flowsim.load_scenario(text)).warnings if "'job'" in w]
    assert "its first micro-batch triggers every 2min, and the run ends at 60s" in warning


def test_a_micro_batch_from_a_topic_runs_a_task_per_partition_so_the_busiest_sets_the_pace() -> None:
    # 100/s round robin over 2 partitions, read at once (batch_size 1, 0 s processing); a Spark
    # job of 4 cores, 10 ms an event, a 1 s trigger.  The batch of 1..2 s holds 100 events, 50 per
    # partition: Spark plans one task per partition, so 2 tasks of 50 x 10 ms = 0.5 s on 4 cores
    # and the batch takes 0.5 s (an even split over the 4 cores would say 100 x 10 ms / 4 = 0.25 s)
    text = scenario_yaml(
        """
        src: {kind: source, interarrival: 0.01s, limit: 200}
        topic: {kind: kafka_topic, partitions: 2, partitioner: round_robin, batch_size: 1, linger: 0s,
                partition_write_rate: 100000/s, consumer_defaults: {processing_time: 0s}}
        job: {kind: stream_processor, mode: micro_batch, batch_interval: 1s, parallelism: 4, per_event_cost: 10ms}
        done: {kind: sink}
        """,
        "[src -> topic, topic -> job, job -> done]",
        "3s",
    )
    _, events = run_traced(text, nodes=["job", "done"])
    batches = [t for t, node, e, _ in events if node == "job" and e.startswith("batch")]
    assert batches[:2] == [pytest.approx(1.0), pytest.approx(2.0)]
    second = [t for t, node, e, _ in events if node == "done" and 2.0 < t < 3.0]
    assert len(second) == 100 and min(second) == max(second) == pytest.approx(2.5)
