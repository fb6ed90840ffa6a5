"""`service`: c servers in front of a FIFO queue, with capacity, backpressure, faults and retries.

The general G/G/c/K building block: an API, a database, a consumer pool.  Modelling choices:
- `capacity` counts every message in the node: waiting, in service, blocked after service
  (waiting for room downstream, holding its server) and backing off before a retry.
- A failed attempt (`error_rate`, a timeout, or an arrival while down with `on_down: reject`)
  goes to the retry policy; an item out of attempts is dead-lettered, never lost uncounted.
- A timeout abandons the attempt for the caller, but the server finishes the work it started
  (wasted work: that is what turns timeouts into retry storms).
- When the node goes down, work in service is put back at the head of the queue and restarts
  from scratch when it is up again (`interrupted: requeue`), or fails (`interrupted: fail`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from flowsim.distributions import Distribution
from flowsim.engine.context import SimContext
from flowsim.engine.flow import Delay, FlowLaw, Stage, per_second
from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.engine.pool import ServerPool
from flowsim.engine.sampling import block_sampler
from flowsim.nodes.base import NodeConfig, QueueModel
from flowsim.nodes.registry import register
from flowsim.policies import NO_RETRY, RetryPolicy
from flowsim.units import Count, Number, format_duration


@register
class ServiceConfig(NodeConfig):
    """Models: a pool of identical workers behind one FIFO queue (an API, a database, a consumer
    pool). `capacity` counts every message in the node: waiting, in service, blocked after service
    and backing off. `on_full: block` holds the sender and its server (blocking after service);
    an item of more messages than `capacity` never fits and is dropped (a warning says so).
    Failed attempts (`error_rate`, a retry-policy `timeout`, arrivals while down with
    `on_down: reject`) follow the retry policy; items out of attempts are dead-lettered. A timed-out
    attempt keeps its server busy until the work is done. Faults: outages and brownouts.

    Leaves out: priorities, processor sharing, per-message costs within a batch item.
    """

    summary = "a pool of servers behind a FIFO queue: capacity, drop or block, errors, retries, outages"
    keeps_items = True
    can_fail = True
    reference_kinds: ClassVar[dict[str, tuple[str, ...]]] = {"dead_letter": ("sink",)}

    kind: Literal["service"]
    billed_unit = "server"
    servers: Count = Field(1, ge=1, description="parallel servers (workers, consumers, threads)")
    service_time: Distribution = Field(description="time one attempt occupies a server")
    capacity: Count | None = Field(None, ge=1, description="most messages in the node; none = unbounded")
    on_full: Literal["drop", "block"] = Field(
        "drop",
        description="when the node holds `capacity` messages: drop (refuse and count) or block (hold the "
        "sender: backpressure)",
    )
    error_rate: Number = Field(0.0, ge=0, lt=1, description="probability that an attempt fails")
    retry: RetryPolicy | str | None = Field(
        None, description="retry policy, inline or the name of one in the scenario's retry_policies"
    )
    dead_letter: str | None = Field(None, description="node that receives items out of attempts")
    on_down: Literal["queue", "reject"] = Field(
        "queue", description="arrivals while down: wait in the queue, or fail the attempt"
    )
    interrupted: Literal["requeue", "fail"] = Field(
        "requeue", description="work in service when the node goes down: restart later, or fail"
    )

    @model_validator(mode="after")
    def _capacity_covers_servers(self) -> ServiceConfig:
        if self.capacity is not None and self.capacity < self.servers:
            raise ValueError(
                f"capacity ({self.capacity}) is below servers ({self.servers}); "
                "capacity counts messages in service too, so it must be at least the number of servers"
            )
        if self.capacity is None and "on_full" in self.model_fields_set:
            raise ValueError(
                f"on_full: {self.on_full} has no effect without 'capacity': an unbounded queue is never full; "
                "give the node a capacity (e.g. capacity: 100) or remove on_full"
            )
        return self

    def policy(self) -> RetryPolicy:
        return self.retry if isinstance(self.retry, RetryPolicy) else NO_RETRY

    def horizon_warnings(self, name: str, horizon: float) -> list[str]:
        """Every attempt outlasting its timeout delivers nothing: said before the run."""
        timeout, shortest = self.policy().timeout, self.service_time.lowest()
        if timeout is None or shortest < timeout:
            return []
        attempts = self.policy().max_attempts
        return [f"'{name}' delivers nothing: its shortest service ({format_duration(shortest)}) is at least the "
                f"retry timeout ({format_duration(timeout)}), so every attempt times out and each message ends "
                f"dead-lettered after {attempts} attempt{'s' * (attempts != 1)}; lengthen the timeout"]  # fmt: skip

    def horizon_notes(self, name: str, horizon: float) -> list[str]:
        """A retry policy or a dead-letter target that nothing in the node's own settings can set off
        (no errors, no timeout; only an outage with on_down: reject or interrupted: fail could)."""
        if self.error_rate > 0 or self.policy().timeout is not None:
            return []
        by_faults = " (only an outage with on_down: reject or interrupted: fail fails an attempt)"
        notes = []
        if "retry" in self.model_fields_set and self.policy().max_attempts > 1:
            notes.append(f"'{name}''s retry policy has nothing to retry: no error_rate and no timeout{by_faults}")
        if self.dead_letter is not None:
            notes.append(f"'{name}''s dead_letter '{self.dead_letter}' receives nothing unless attempts fail: no "
                         f"error_rate and no timeout{by_faults}")  # fmt: skip
        return notes

    def formula_leaves_out(self) -> str | None:
        timeout = self.policy().timeout
        if timeout is None:
            return None
        return (f"attempts still waiting at the {format_duration(timeout)} timeout leave the queue (abandonment), "
                "which the formula leaves out")  # fmt: skip

    def runtime_class(self) -> type[NodeRuntime]:
        return ServiceNode

    def queue_model(self) -> QueueModel:
        return QueueModel(self.servers, self.service_time, self.capacity)

    def attempts_per_item(self) -> float:
        p, m = self.error_rate, self.policy().max_attempts
        return (1 - p**m) / (1 - p) if p > 0 else 1.0

    def pass_fraction(self) -> float:
        return 1.0 - self.error_rate ** self.policy().max_attempts

    def events_per_item(self) -> float:
        attempts = self.attempts_per_item()
        timers = attempts if self.policy().timeout is not None else 0.0
        return attempts + timers + (attempts - 1)  # completions, timeout timers, backoff wake-ups

    def node_references(self) -> dict[str, str]:
        return {"dead_letter": self.dead_letter} if self.dead_letter else {}

    def cost_units(self) -> float:
        """Every server is billed."""
        return float(self.servers)

    def flow_law(self, outputs: Sequence[str] = ()) -> FlowLaw:
        """servers / (mean service x attempts per item) items a second; a retried item costs every try."""
        work = self.service_time.mean() * self.attempts_per_item()
        servers = Stage(
            "servers", self.servers, per_second(work), per="item", buffer=self.capacity,
            on_full=self.on_full if self.capacity is not None else "queue", scalable=True,
        )  # fmt: skip
        return FlowLaw(
            (servers,),
            Delay(self.servers, work, self.service_time.scv()),
            passes=self.pass_fraction(),
        )


class ServiceNode(ServerPool):
    """Runtime of `service`; see the module docstring for the modelling choices."""

    config: ServiceConfig

    def __init__(self, name: str, config: ServiceConfig, ctx: SimContext) -> None:
        super().__init__(name, config, ctx, servers=config.servers)
        self.capacity = config.capacity
        self.block = config.on_full == "block"
        self.error_rate = config.error_rate
        self.policy = config.policy()
        self.timeout = self.policy.timeout
        self.reject_when_down = config.on_down == "reject"
        self.requeue = config.interrupted == "requeue"
        self.service_time = config.service_time.sampler(ctx.rng(name, "service"))
        self.hold_sampler = self.service_time
        self._uniform_error = block_sampler(ctx.rng(name, "errors").random)
        self._uniform_retry = block_sampler(ctx.rng(name, "retry").random)
        self._zombies: set[object] = set()
        self._custom_served = bool(self.error_rate or self.timeout is not None)  # else nothing to check

    # ---- bookkeeping ---------------------------------------------------------------------
    def reset_counters(self) -> None:
        super().reset_counters()
        self.timeouts = 0

    # ---- data path -----------------------------------------------------------------------
    def try_put(self, item: Item) -> bool:
        n = item.n
        if self.capacity is not None and self.n_inside + n > self.capacity:
            # an item larger than the node never fits: dropped (counted), never held for good
            return self.refuse_or_drop(item, self.block and n <= self.capacity)
        self.arrivals += n
        now = item.t_in = self.env.now
        self.n_inside += n  # change_inside(n), inlined
        self._inside_acc -= n * now
        item.attempt = 1
        if self.tracing:
            self.log("arrive", item)
        if self._faults or self.timeout is not None:
            self._attempt(item)
        else:  # _attempt(item) without its checks: no timeout to arm, nothing to reject
            self.enqueue(item)
        return True

    def _attempt(self, item: Item) -> None:
        if self._faults and self.reject_when_down:
            self._failed(item)
            return
        if self.timeout is not None:
            timer = self.env.timeout(self.timeout, item)
            timer.callbacks.append(self._timed_out)
            item.timer = timer
        self.enqueue(item)

    def served(self, item: Item) -> bool:
        if self.timeout is not None:
            item.timer = None
        if self.error_rate and self._uniform_error() < self.error_rate:
            if self.tracing:
                self.log("error", item)
            self.free_servers(item)
            self._failed(item)
            return False
        return True

    def abandoned(self, job: object) -> None:
        if job in self._zombies:  # a timed-out attempt's work is over: free the server
            self._zombies.discard(job)
            self.change_busy(-1)
            self.dispatch()

    # ---- failures ------------------------------------------------------------------------
    def _failed(self, item: Item) -> None:
        self.failed_attempts += item.n
        if item.attempt < self.policy.max_attempts:
            self.retries += item.n
            delay = self.policy.delay(item.attempt, self._uniform_retry())
            if self.tracing:
                self.log(f"backoff {delay:g}", item)
            wake = self.env.timeout(delay, item)
            wake.callbacks.append(self._retry)
            return
        self.change_inside(-item.n)
        self.dead_lettered += item.n
        if self.tracing:
            self.log("dead_letter", item)
        self.space_freed()
        self.send_dead_letter(item)

    def _retry(self, wake: object) -> None:
        item: Item = wake._value  # type: ignore[attr-defined]
        item.attempt += 1
        if self.tracing:
            self.log(f"retry {item.attempt}", item)
        self._attempt(item)

    def _timed_out(self, timer: object) -> None:
        item: Item = timer._value  # type: ignore[attr-defined]
        if item.timer is not timer:
            return  # the attempt already ended
        item.timer = None
        self.timeouts += item.n
        if self.tracing:
            self.log("timeout", item)
        if item.job is None:  # still waiting
            self.queue.remove(item)
            self.change_waiting(-item.n)
        else:  # in service: the server goes on with the work, the caller gives up
            self._zombies.add(item.job)
            del self.serving[item]
            item.job = None
        self._failed(item)

    # ---- outages -------------------------------------------------------------------------
    def on_down(self) -> None:
        """Stop serving; interrupted work is requeued or failed (see `interrupted`)."""
        if self.tracing:
            self.log("down")
        self.change_busy(-len(self._zombies))
        self._zombies.clear()
        interrupted = self.interrupt()
        if self.requeue:
            self.queue.extendleft(reversed(interrupted))
            self.change_waiting(sum(item.n for item in interrupted))
        else:
            for item in interrupted:
                if self.timeout is not None:
                    item.timer = None
                self._failed(item)

    def on_up(self) -> None:
        if self.tracing:
            self.log("up")
        self.dispatch()

    # ---- results -------------------------------------------------------------------------
    def figures(self, window: float) -> dict[str, float]:
        return super().figures(window) | self.queue_figures(window) | {"timeouts": self.timeouts}
