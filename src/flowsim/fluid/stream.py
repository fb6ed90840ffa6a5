"""`stream_processor` with exactly-once output: what the tasks finish waits for the next
checkpoint, which commits it downstream all at once (as the kernel's transactional sink).

So the sink sees the job's output in steps of a checkpoint interval, and output finished after
the last checkpoint of the run is still held at its end (inside the node, not completed), as in
the kernel, where a checkpoint due at the very end of the run does not happen.  A checkpoint
while the job is down is skipped.
"""

from __future__ import annotations

import math
from typing import Any

from flowsim.fluid.base import TINY, Fifo, Record
from flowsim.fluid.nodes import QueueNode


class StreamJobNode(QueueNode):
    def __init__(self, *args: Any, horizon: float = math.inf, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = self.config
        self.exactly_once = config.guarantee == "exactly_once"
        self.interval = config.checkpoint_interval
        self.next_commit = self.interval
        self.horizon = horizon
        self.held = Fifo()  # finished, not committed: [time its wait in the node began, messages]

    def content(self) -> float:
        return super().content() + self.held.total

    def room(self, k: int, dt: float, allow: list[float]) -> float:
        if not self.exactly_once or self.buffer is None:
            return super().room(k, dt, allow)
        # held output is not in the job's buffer (the kernel's n_inside - n_held), so not in its room
        out = self.cap(k) * dt
        return max(0.0, self.buffer - self.fifo.total - self.retry_line.total + out)

    def advance(self, k: int, t: float, dt: float, inflow: float, allow: list[float], flows: list[float],
                rec: Record) -> None:  # fmt: skip
        if not self.exactly_once:
            super().advance(k, t, dt, inflow, allow, flows, rec)
            return
        accepted = self.admit(k, t, dt, inflow)
        served = min(self.fifo.total, self.cap(k) * dt)
        waited = self.fifo.take(served, t)
        if served > TINY:  # held from the end of its service, less its wait so far (the sampler adds the service)
            work = self.cost_s * self.in_size if self.per_message else self.work_s
            self.held.push(t + work - waited / served, served)
        now = t + dt
        up = self.timeline is None or self.timeline.down_s[k] < dt
        sent = 0.0
        if self.next_commit <= now and self.next_commit < self.horizon - 1e-9:
            while self.next_commit <= now:
                self.next_commit += self.interval
            if up:
                sent = min(self.held.total, self.out_limit(allow))
                held_wait = self.held.take(sent, now)
                self.hold_up(self.held.total + sent, sent, dt)
                self.c["completed"] += sent
                self.send(sent, flows)
                self.record_wait(rec, k, held_wait, sent)
        self.stationary(k, t, dt, accepted, rec)
        rec.hold[self.index, k] = max(0.0, rec.hold[self.index, k] - self.interval / 2)  # the commit is explicit
        self.account(dt, served)
