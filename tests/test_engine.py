"""The kernel on its own: hand-written runtimes wired into a `Network`, no YAML and no node kinds.

What every kind inherits is checked here against the contract in `flowsim.engine.node`: FIFO
wake-ups of blocked senders, nested outages, blocked time still running at the end, deadlock
detection, the window, and the duties check.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import pytest

from flowsim.engine.context import SimContext
from flowsim.engine.contract import Duties, missing_duties
from flowsim.engine.item import Item
from flowsim.engine.model import Model, Network
from flowsim.engine.node import NodeRuntime
from flowsim.engine.pool import ServerPool


class Emitter(NodeRuntime):
    """Emits one item of `n` messages at each time in `at` (a blocked one waits, then the next)."""

    def __init__(self, name: str, config: Any, ctx: SimContext) -> None:
        super().__init__(name, config, ctx)
        self.times: deque[float] = deque(config["at"])
        self.n = config.get("n", 1)
        self.held = 0

    def start(self) -> None:
        self._next()

    def _next(self) -> None:
        if self.times:
            self.env.timeout(max(self.times.popleft() - self.env.now, 0)).callbacks.append(self._emit)

    def _emit(self, _event: Any) -> None:
        item = Item(self.env.now, self.n, key=len(self.times))
        self.arrivals += item.n
        if self.tracing:
            self.log("emit", item)
        if self.forward(item, self._sent):
            self._sent(item, 0.0)
        else:
            self.held = item.n

    def _sent(self, item: Item, _t: float) -> None:
        self.held = 0
        self.completed += item.n
        self._next()

    def inside(self) -> int:
        return self.held


class Slot(NodeRuntime):
    """Holds at most `room` messages for `hold` seconds each, then hands them on; can fail."""

    def __init__(self, name: str, config: Any, ctx: SimContext) -> None:
        super().__init__(name, config, ctx)
        self.room, self.hold = config["room"], config["hold"]
        self.n_inside = 0
        self.outages: list[tuple[str, float]] = []

    def try_put(self, item: Item) -> bool:
        if self.n_inside + item.n > self.room:
            if self.tracing:
                self.log("refuse", item)
            return False
        self.arrivals += item.n
        self.n_inside += item.n
        if self.tracing:
            self.log("take", item)
        self.env.timeout(self.hold, item).callbacks.append(self._done)
        return True

    def _done(self, event: Any) -> None:
        item: Item = event.value
        if self.forward(item, lambda i, _t: self._left(i)):
            self._left(item)

    def _left(self, item: Item) -> None:
        self.n_inside -= item.n
        self.completed += item.n
        self.space_freed()

    def inside(self) -> int:
        return self.n_inside

    def on_down(self) -> None:
        self.outages.append(("down", self.env.now))

    def on_up(self) -> None:
        self.outages.append(("up", self.env.now))


class End(NodeRuntime):
    measures_latency = True

    def try_put(self, item: Item) -> bool:
        self.arrivals += item.n
        self.completed += item.n
        self.record_latency(item)
        return True


class Fault:
    """A scheduled outage as the kernel reads it (what a scenario's FaultSpec provides)."""

    def __init__(self, node: str, at: float, length: float) -> None:
        self.node, self.at, self.for_ = node, at, length
        self.every = self.mtbf = self.mttr = self.slowdown = None
        self.start = 0.0


def network(parts: dict[str, tuple[type[NodeRuntime], dict[str, Any]]], edges: list[tuple[str, str]],
            duration: float, faults: list[Fault] | None = None) -> Network:  # fmt: skip
    return Network(
        factories={name: (lambda n, ctx, cls=cls, cfg=cfg: cls(n, cfg, ctx)) for name, (cls, cfg) in parts.items()},
        edges=[(a, b, 1.0) for a, b in edges],
        routing={},
        references={},
        faults=faults or [],
        seed=1,
        duration=duration,
    )


def test_blocked_senders_are_woken_in_arrival_order_and_a_refused_one_keeps_its_place() -> None:
    # slot: room 2, hold 10.  a1 (1 msg) at 0, a2 (1) at 0 fill it.  b (2 msgs) refused at 1,
    # c (1 msg) refused at 2.  At 10 both leave: the first freed message wakes b, which needs 2:
    # refused again, it stays first; the second frees room for b (2 free now): b takes it; c is
    # refused (full) and waits, first in line; at 20 b leaves and c gets in.
    parts = {
        "a": (Emitter, {"at": [0, 0]}),
        "b": (Emitter, {"at": [1], "n": 2}),
        "c": (Emitter, {"at": [2]}),
        "slot": (Slot, {"room": 2, "hold": 10.0}),
        "end": (End, {}),
    }
    model = Model(network(parts, [("a", "slot"), ("b", "slot"), ("c", "slot"), ("slot", "end")], 40.0), trace=True)
    model.run()
    slot = [(t, event) for t, node, event, _ in model.trace if node == "slot"]
    assert slot == [
        (0.0, "take"), (0.0, "take"), (1.0, "refuse"), (2.0, "refuse"),
        (10.0, "refuse"),  # b woken by the first freed message: still does not fit
        (10.0, "take"),  # b, woken by the second
        (10.0, "refuse"),  # c, woken by the same room, now full: it waits first in line
        (20.0, "take"),  # c
    ]  # fmt: skip
    assert model.nodes["b"].figures(40.0)["blocked_time_s"] == pytest.approx(9.0)
    assert model.nodes["c"].figures(40.0)["blocked_time_s"] == pytest.approx(18.0)


def test_nested_outages_reach_the_kind_once_and_downtime_includes_one_still_running() -> None:
    parts = {"a": (Emitter, {"at": []}), "slot": (Slot, {"room": 1, "hold": 1.0}), "end": (End, {})}
    faults = [Fault("slot", 10, 20), Fault("slot", 15, 30), Fault("slot", 50, 100)]
    model = Model(network(parts, [("a", "slot"), ("slot", "end")], 60.0, faults))
    model.run()
    slot = model.nodes["slot"]
    assert slot.outages == [("down", 10.0), ("up", 45.0), ("down", 50.0)]  # type: ignore[attr-defined]
    assert slot.figures(60.0)["downtime_s"] == pytest.approx(35.0 + 10.0)  # 10..45, and 50..60 still down


def test_blocked_time_counts_a_block_still_in_progress_and_the_window_clips_it() -> None:
    # the slot holds its one item 100 s; a second is refused at 1 s and waits past the end (50 s)
    parts = {"a": (Emitter, {"at": [0, 1]}), "slot": (Slot, {"room": 1, "hold": 100.0}), "end": (End, {})}
    net = network(parts, [("a", "slot"), ("slot", "end")], 50.0)
    model = Model(net)
    model.run()
    assert model.nodes["a"].figures(50.0)["blocked_time_s"] == pytest.approx(49.0)
    net.warmup = 20.0  # the window opens at 20: only 30 s of the block fall inside it
    model = Model(net)
    model.run()
    assert model.nodes["a"].figures(30.0)["blocked_time_s"] == pytest.approx(30.0)


def test_a_cycle_of_full_nodes_is_reported_once_as_a_deadlock() -> None:
    # x and y each hold one item and hand it to the other: each waits for room in the other
    parts = {
        "a": (Emitter, {"at": [0, 0.5]}),
        "x": (Slot, {"room": 1, "hold": 1.0}),
        "y": (Slot, {"room": 1, "hold": 1.0}),
    }
    net = network(parts, [("a", "x"), ("x", "y"), ("y", "x")], 100.0)
    output = Model(net).run()
    assert len(output.warnings) == 1
    assert "x -> y -> x" in output.warnings[0] or "y -> x -> y" in output.warnings[0]


def test_the_window_opens_after_every_node_is_built() -> None:
    class Late(Slot):
        def __init__(self, name: str, config: Any, ctx: SimContext) -> None:
            super().__init__(name, config, ctx)
            self.extra_state = 7  # set after super().__init__: the base must not read it there

        def inside(self) -> int:
            return self.extra_state

    parts = {"a": (Emitter, {"at": []}), "slot": (Late, {"room": 1, "hold": 1.0}), "end": (End, {})}
    model = Model(network(parts, [("a", "slot"), ("slot", "end")], 10.0))
    assert model.nodes["slot"].inside_at_start == 7


def test_missing_duties_are_named() -> None:
    class Nothing(NodeRuntime):
        pass

    assert missing_duties(
        Nothing, Duties(takes_input=True, gives_output=False, can_fail=True, signals=frozenset({"go"}))
    )
    assert missing_duties(Nothing, Duties(takes_input=True)) == ["it takes input, but try_put is not implemented"]
    assert missing_duties(Slot, Duties(takes_input=True, can_fail=True)) == []
    assert missing_duties(End, Duties(gives_output=False)) == []


def test_percentiles_are_numpys_linear_ones_bit_for_bit() -> None:
    # flowsim's percentiles partition once instead of calling np.percentile (whose np.unique imports
    # numpy.ma); the values must be numpy's exactly, at the ends and between samples
    import numpy as np

    from flowsim.engine.stats import linear_percentiles

    rng = np.random.default_rng(7)
    qs = (0, 37.5, 50, 95, 99, 99.9, 100)
    for n in [*range(1, 40), 100, 1001, 20_000]:
        for scale in (1e-6, 1.0, 1e6):
            data = rng.exponential(size=n) * scale
            assert np.array_equal(linear_percentiles(data, qs), np.percentile(data, qs)), (n, scale)


class Counter(ServerPool):
    """A pool of `servers` servers, each hold `hold` seconds; `shrink_at` takes one server away."""

    def __init__(self, name: str, config: Any, ctx: SimContext) -> None:
        super().__init__(name, config, ctx, servers=config["servers"])
        self.hold_sampler = lambda: config["hold"]

    def start(self) -> None:
        if "shrink_at" in self.config:
            self.env.timeout(self.config["shrink_at"]).callbacks.append(self._shrink)

    def _shrink(self, _event: Any) -> None:
        self.set_servers(self.servers - 1)

    def try_put(self, item: Item) -> bool:
        self.arrivals += item.n
        self.change_inside(item.n)
        item.t_in = self.env.now
        self.enqueue(item)
        return True


def test_a_leaving_item_hands_its_server_to_the_head_only_while_the_pool_has_room() -> None:
    # 2 servers, hold 1 s, four items at 0: two start at 0.  At 0.5 one server goes away (busy 2,
    # servers 1).  At 1 the first to leave does not pass its server on (busy 2 > 1); the second does:
    # the third item starts at 1, the fourth at 2 (one server), the last leaves at 3.
    parts = {
        "a": (Emitter, {"at": [0, 0, 0, 0]}),
        "pool": (Counter, {"servers": 2, "hold": 1.0, "shrink_at": 0.5}),
        "end": (End, {}),
    }
    model = Model(network(parts, [("a", "pool"), ("pool", "end")], 10.0), trace=True)
    model.run()
    pool = [(t, event) for t, node, event, _ in model.trace if node == "pool"]
    assert pool == [
        (0.0, "start"), (0.0, "start"),
        (1.0, "leave"), (1.0, "leave"), (1.0, "start"),
        (2.0, "leave"), (2.0, "start"),
        (3.0, "leave"),
    ]  # fmt: skip
    figures = model.nodes["pool"].figures(10.0) | model.nodes["pool"].queue_figures(10.0)
    # waits 0, 0, 1, 2: mean 0.75; busy-time 2 x 1 + 1 + 1 = 4 s of 0.5 x 2 + 9.5 x 1 = 10.5 server-seconds
    assert list(model.nodes["pool"].waits) == [0.0, 0.0, 1.0, 2.0]
    assert figures["completed"] == 4
    assert figures["utilization"] == pytest.approx(4 / 10.5)
    # waiting: two items over [0, 1), one over [1, 2) = 3 item-seconds; inside: 4 + 2 + 1 = 7, over 10 s
    assert figures["mean_queue_length"] == pytest.approx(0.3)
    assert figures["mean_in_node"] == pytest.approx(0.7)


def test_the_serve_path_gives_the_same_trace_on_a_plain_simpy_environment() -> None:
    # the pool and the source push their timers onto the kernel clock's heap themselves; on an
    # environment without one they fall back to `later`: the same events at the same times
    import simpy

    from flowsim.engine.clock import Clock

    def trace(env: simpy.Environment) -> list[tuple[float, str, str, int]]:
        ctx = SimContext(env=env, seed=np.random.SeedSequence(1), warmup=0.0, horizon=10.0, trace=[])
        emitter, pool, end = (
            Emitter("a", {"at": [0, 0, 0.5, 3]}, ctx),
            Counter("pool", {"servers": 1, "hold": 1.0}, ctx),
            End("end", None, ctx),
        )
        emitter.connect([(pool, 1.0)], "random")
        pool.connect([(end, 1.0)], "random")
        for node in (emitter, pool, end):
            node.reset_counters()
        emitter.start()
        env.run(until=10.0)
        assert ctx.trace is not None
        return ctx.trace

    on_clock = trace(Clock())
    assert on_clock == trace(simpy.Environment())
    assert [t for t, node, event, _ in on_clock if node == "pool" and event == "leave"] == [1.0, 2.0, 3.0, 4.0]
