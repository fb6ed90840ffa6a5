"""flowsim's shipped `scenarios/kafka-baseline.yaml` against a lean hand-written SimPy model of it.

The scenario (architecture `architectures/kappa.yaml`): clients emit 200 items/s of 10 events
(Poisson) into a 12-partition topic; the producer picks a partition at random per item, batches
up to 200 events per partition and sends a batch when full or 20 ms after it opened; a partition
appends one batch at a time at 10,000 events/s.  One consumer group of 4 consumers (3 partitions
each, long poll, up to 500 records per poll, no processing time) hands each poll's records on
to the live job, a stream processor of 4 tasks at 1.5 ms per event, FIFO, which emits to a
sink; the records of one client item travel together (they share a creation time), so an item
is the unit handed on.  6 minutes, the first one warm-up; both models report what reached the
sink in the last 5 minutes: events, items, mean end-to-end latency (each item from its own
creation), mean time in the job.

The hand-written model is the fastest reasonable SimPy model of that: a generator process for
the producer, one writer process per partition (it also waits out the linger), one process per
consumer, a `simpy.Store` feeding 4 task processes.  What it leaves out, all without effect on
this scenario's figures (flowsim models them; at this load they never come into play):
- the replay consumer group (`replay_job`, starting at 12 min, after the run's end) and its job;
- the producer buffer limit and its backpressure (500,000 events; never near full) and the job's
  capacity (10,000 events; the Store is unbounded);
- a batch that fills before its linger expires is still sent at linger expiry (200 events per
  partition in 20 ms never happens at 2,000 events/s over 12 partitions);
- retention (7 days), checkpoints (at-least-once with no crash changes nothing), outages;
- every figure besides the few compared: lag, utilizations, time series, per-node counters.
See bench/timing.py for what is timed.

Usage: PYTHONPATH=src python bench/kafka.py [--repeat 5]
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

import simpy
from timing import ROOT, Figures, Prepared, Side, compare, parser

SCENARIO = ROOT / "scenarios" / "kafka-baseline.yaml"
RATE, EVENTS_PER_ITEM = 200.0, 10  # items/s from the clients, events per item
PARTITIONS, WRITE_RATE = 12, 10_000.0  # events/s one partition appends (10 MB/s of 500 B is 20,000: not the limit)
BATCH_SIZE, LINGER = 200, 0.020
CONSUMERS, MAX_POLL = 4, 500
TASKS, COST = 4, 0.0015  # the live job: tasks, seconds per event
DURATION, WARMUP = 360.0, 60.0


class Partition:
    """Producer accumulator (batches [events, born, deadline, items' births]) and the written, not
    yet fetched, log (one [events, born] entry per item)."""

    __slots__ = ("accumulator", "consumer", "log", "wake")

    def __init__(self) -> None:
        self.accumulator: deque[list[float]] = deque()
        self.log: deque[list[float]] = deque()  # [events, born] per written item, oldest first
        self.wake: simpy.Event | None = None  # the writer waits here for a first batch
        self.consumer: Consumer | None = None


class Consumer:
    __slots__ = ("partitions", "turn", "wake")

    def __init__(self, partitions: list[Partition]) -> None:
        self.partitions = partitions
        self.turn = 0  # which partition the next poll starts with
        self.wake: simpy.Event | None = None  # long poll: a write to one of its partitions


def hand_written(seed: int = 1) -> Figures:
    rng = random.Random(seed)
    env = simpy.Environment()
    parts = [Partition() for _ in range(PARTITIONS)]
    consumers = [Consumer(parts[i::CONSUMERS]) for i in range(CONSUMERS)]
    for consumer in consumers:
        for part in consumer.partitions:
            part.consumer = consumer
    job_input = simpy.Store(env)
    latencies: list[float] = []
    in_job: list[float] = []
    events = [0]

    def producer() -> Any:
        while True:
            yield env.timeout(rng.expovariate(RATE))
            now = env.now
            part = parts[rng.randrange(PARTITIONS)]
            accumulator = part.accumulator
            if accumulator and accumulator[-1][0] + EVENTS_PER_ITEM <= BATCH_SIZE:
                accumulator[-1][0] += EVENTS_PER_ITEM
                accumulator[-1][3].append(now)
            else:
                accumulator.append([EVENTS_PER_ITEM, now, now + LINGER, [now]])
                if part.wake is not None:
                    part.wake.succeed()
                    part.wake = None

    def writer(part: Partition) -> Any:
        accumulator = part.accumulator
        while True:
            if not accumulator:
                part.wake = env.event()
                yield part.wake
            batch = accumulator[0]
            if batch[0] < BATCH_SIZE and len(accumulator) == 1 and batch[2] > env.now:
                yield env.timeout(batch[2] - env.now)  # linger
            accumulator.popleft()
            yield env.timeout(batch[0] / WRITE_RATE)
            part.log.extend([EVENTS_PER_ITEM, born] for born in batch[3])
            consumer = part.consumer
            if consumer is not None and consumer.wake is not None:
                consumer.wake.succeed()
                consumer.wake = None

    def consume(consumer: Consumer) -> Any:
        partitions = consumer.partitions
        while True:
            room, taken, pieces = MAX_POLL, 0, []
            for step in range(len(partitions)):
                log = partitions[(consumer.turn + step) % len(partitions)].log
                while log and room:
                    entry = log[0]
                    k = min(int(entry[0]), room)
                    pieces.append((k, entry[1]))
                    if k == entry[0]:
                        log.popleft()
                    else:
                        entry[0] -= k
                    taken += k
                    room -= k
                if not room:
                    break
            consumer.turn = (consumer.turn + 1) % len(partitions)
            if not taken:
                consumer.wake = env.event()
                yield consumer.wake
                continue
            for k, born in pieces:  # record by record (an item's records together), in offset order
                yield job_input.put((k, born, env.now))

    def task() -> Any:
        while True:
            n, born, arrived = yield job_input.get()
            yield env.timeout(n * COST)
            now = env.now
            if now >= WARMUP:
                events[0] += n
                latencies.append(now - born)
                in_job.append(now - arrived)

    env.process(producer())
    for part in parts:
        env.process(writer(part))
    for consumer in consumers:
        env.process(consume(consumer))
    for _ in range(TASKS):
        env.process(task())
    env.run(until=DURATION)
    return _figures(events[0], len(latencies), sum(latencies) / len(latencies), sum(in_job) / len(in_job))


def _figures(events: float, items: int, latency: float, in_job: float) -> Figures:
    return {
        "events at the sink": events,
        "items at the sink": items,
        "mean latency (s)": latency,
        "mean in job (s)": in_job,
    }


def with_flowsim() -> Figures:
    """What a user runs: load the scenario, simulate, read the results."""
    import flowsim

    result = flowsim.simulate(flowsim.load_scenario(SCENARIO))
    sink, job = result.end_to_end["serving"], result.nodes["enrich"].sojourn_s
    assert sink.latency_s is not None and job is not None
    return _figures(result.nodes["serving"].completed, int(sink.latency_s.count), sink.latency_s.mean, job.mean)


def flowsim_in_process() -> Prepared:
    """Setup (loading the scenario) outside the timing; the timed part builds and runs one replication."""
    import flowsim
    from flowsim.build import run_replication

    scenario = flowsim.load_scenario(SCENARIO)
    assert scenario.duration == DURATION and scenario.warmup == WARMUP

    def run() -> Figures:
        out = run_replication(scenario)
        latencies = out.latencies["serving"]
        events = out.figures["serving"]["completed"]
        return _figures(events, len(latencies), latencies.mean(), out.sojourns["enrich"].mean())

    return run


def hand_in_process() -> Prepared:
    return hand_written


def sides() -> tuple[Side, Side]:
    hand = Side("SimPy", "kafka", "hand_written", "hand_in_process", {})
    flow = Side("flowsim", "kafka", "with_flowsim", "flowsim_in_process", {})
    return hand, flow


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    compare("scenarios/kafka-baseline.yaml (6 min at 2,000 events/s)", *sides(), repeat=args.repeat,
            skip_process=args.skip_process)  # fmt: skip


if __name__ == "__main__":
    main()
