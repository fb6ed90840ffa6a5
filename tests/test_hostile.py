"""Hostile and careless input: a table of bad files and commands, each with the answer it must get.

Every row is one case: what is written (a change to a small valid architecture or scenario),
the command, a fragment of the message, the line it must point at, and the exit code (0 ok, 1
refused input, 2 usage).  No row may print a Python exception.  The rows are grouped by the cause
they guard against: extreme values (formerly tracebacks), runs too large (formerly hangs), silent
nonsense, and unclear answers.  A generated table then puts `.inf` and `yes` into every number
field of every kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import flowsim
from flowsim.cli import app
from flowsim.errors import SpecError
from flowsim.loading import load_architecture
from flowsim.nodes.registry import kinds
from flowsim.units import NumberRule

ARCH = """\
name: t
nodes:
  arrivals: {kind: source, rate: 0.9/s}
  api: {kind: service, servers: 2, service_time: {dist: exponential, mean: 1s}, capacity: 20, on_full: drop}
  done: {kind: sink}
edges:
  - arrivals -> api
  - {from: api, to: done, weight: 1}
"""
SCEN = """\
name: s
architecture: arch.yaml
duration: 100s
slos:
  - totals.dropped == 0
"""
TOPIC = """\
name: k
nodes:
  src: {kind: source, rate: 5/s}
  events: {kind: kafka_topic, partitions: 4}
  done: {kind: sink}
edges: [src -> events, events -> done]
"""
CYCLE = """\
name: c
nodes:
  src: {kind: source, rate: 1/s}
  a: {kind: service, servers: 2, service_time: {dist: exponential, mean: 10ms}, routing: fanout}
  b: {kind: service, servers: 2, service_time: {dist: exponential, mean: 10ms}}
  done: {kind: sink}
edges: [src -> a, a -> b, a -> done, b -> a]
"""


def with_dag(schedule: str) -> str:
    """ARCH with an Airflow DAG on `schedule` at line 4, fed by the source."""
    dag = f"  dag: {{kind: airflow_dag, schedule: {schedule}, tasks: {{a: {{}}}}}}"
    arch = ARCH.replace("rate: 0.9/s}\n", "rate: 0.9/s}\n" + dag + "\n")
    return arch.replace("  - arrivals -> api", "  - arrivals -> api\n  - arrivals -> dag\n  - dag -> done")


EXCEPTION = re.compile(r"Traceback|Error:|Exception|pydantic|Input should")


@dataclass(frozen=True)
class Case:
    cause: str  # extreme | large | nonsense | unclear
    name: str
    command: tuple[str, ...]  # {s} = the scenario file, {a} = the architecture file, {d} = the folder
    fragment: str
    line: int | None = None  # the line the message points at (None: not a file's line)
    exit_code: int | None = None  # None: 1 for `validate` (it found a problem), 2 for a refused run
    arch: tuple[str, str] = ("", "")  # (old, new) text replaced in ARCH
    scen: tuple[str, str] = ("", "")  # (old, new) text replaced in SCEN
    arch_text: str | None = None  # the whole architecture instead


RUN = ("run", "{s}", "-q", "--engine", "per_message")
VALIDATE_A = ("validate", "{a}")
VALIDATE_S = ("validate", "{s}")
CASES = [
    # 1. values that are infinite or extreme: formerly tracebacks, now located refusals
    Case("extreme", "rate 1e308", VALIDATE_A, "out of range", 3, arch=("rate: 0.9/s", "rate: 1e308")),
    # a ZeroDivisionError traceback
    Case("extreme", "rate per 0 s", VALIDATE_A, "the time after '/' must be above 0", 3, arch=("0.9/s", "5/0s")),
    Case("extreme", "exponential rate inf", VALIDATE_A, "must be finite", 4, arch=("mean: 1s}", "rate: .inf}")),
    Case(
        "extreme",
        "gamma shape inf",
        VALIDATE_A,
        "must be finite",
        4,
        arch=("{dist: exponential, mean: 1s}", "{dist: gamma, shape: .inf, mean: 1s}"),
    ),
    Case("extreme", "edge weight nan", VALIDATE_A, "must be finite", 8, arch=("weight: 1}", "weight: .nan}")),
    Case("extreme", "edge weight 1e308", VALIDATE_A, "out of range", 8, arch=("weight: 1}", "weight: 1e308}")),
    Case("extreme", "mean 1e-320s", VALIDATE_A, "write 0 or at least", 4, arch=("mean: 1s", "mean: 1e-320s")),
    Case("extreme", "servers 10^16", VALIDATE_A, "out of range", 4, arch=("servers: 2", "servers: 10000000000000000")),
    Case("extreme", "SLO threshold nan", VALIDATE_S, "must be finite", 5, scen=("== 0", "< nan")),
    Case(
        "extreme",
        "load multiplier inf",
        VALIDATE_S,
        "must be finite",
        4,
        scen=("slos:", "load: {multiplier: .inf}\nslos:"),
    ),
    Case(
        "extreme",
        "price inf",
        VALIDATE_A,
        "must be finite",
        5,
        arch=("done: {kind: sink}", "done: {kind: sink, price: {per_hour: .inf}}"),
    ),
    Case(
        "extreme",
        "price not a mapping",
        VALIDATE_A,
        "expected a mapping",
        5,
        arch=("done: {kind: sink}", "done: {kind: sink, price: .inf}"),
    ),
    Case(
        "extreme",
        "retry multiplier inf",
        VALIDATE_S,
        "must be finite",
        4,
        scen=("slos:", "retry_policies: {r: {multiplier: .inf}}\nslos:"),
    ),
    Case(
        "extreme",
        "slowdown inf",
        VALIDATE_S,
        "must be finite",
        4,
        scen=("slos:", "faults: [{node: api, at: 1s, for: 1s, slowdown: .inf}]\nslos:"),
    ),
    Case(
        "extreme",
        "cron never fires",
        VALIDATE_A,
        "never fires",
        4,
        arch_text=with_dag("'0 0 31 2 *'"),
    ),
    Case(
        "extreme",
        "cron field not a number",
        VALIDATE_A,
        "is not a number",
        4,
        arch_text=with_dag("'x * * * *'"),
    ),
    Case(
        "extreme",
        "png named .txt",
        ("graph", "{a}", "--format", "png", "--out", "{d}/design.txt"),
        "writes .png files",
        exit_code=2,
    ),
    # 2. runs too large: formerly hangs, now refused with the estimate and how to raise the limit
    Case(
        "large",
        "micro-batch every 1us",
        RUN,
        "batch_interval",
        None,
        arch_text=TOPIC.replace(
            "events: {kind: kafka_topic, partitions: 4}",
            "events: {kind: stream_processor, mode: micro_batch, batch_interval: 1us}",
        ),
    ),
    Case(
        "large",
        "mmpp sojourns of 1us (refused by both engines, before the path is drawn)",
        ("run", "{s}", "-q"),
        "mmpp switches state about 1e+08 times",  # 1e6 switches/s (1 us sojourns) x 100 s
        None,
        arch=("rate: 0.9/s}", "mmpp: {states: [{rate: 1/s, mean_sojourn: 1us}, {rate: 3/s, mean_sojourn: 1us}]}}"),
    ),
    Case(
        "large",
        "fluid step of 1us: 1e8 steps over 100 s",
        ("run", "{s}", "-q", "--engine", "fluid"),
        "use at least 0.0001s",
        4,
        scen=("duration: 100s", "duration: 100s\nstep: 1us"),
    ),
    Case(
        "extreme",
        "diurnal cycle of 1ms (a 345M-point grid)",
        VALIDATE_A,
        "a second at least",
        3,
        arch=("rate: 0.9/s}", "rate: 0.9/s, profile: [{diurnal: {low: 0.5, peak_at: 0s, period: 1ms}}]}"),
    ),
    Case(
        "large",
        "retention check every 1us",
        RUN,
        "retention_check_interval",
        None,
        arch_text=TOPIC.replace("partitions: 4}", "partitions: 4, retention_check_interval: 1us}"),
    ),
    Case(
        "large",
        "autoscaler every 1us",
        RUN,
        "evaluation_interval",
        None,
        arch_text=TOPIC.replace(
            "events: {kind: kafka_topic, partitions: 4}",
            "events: {kind: model_serving, replicas: 1, autoscale: {evaluation_interval: 1us, max_replicas: 3}}",
        ),
    ),
    Case(
        "large",
        "scheduled outage every 1us",
        RUN,
        "faults[0]",
        None,
        scen=("slos:", "faults: [{node: api, at: 1s, for: 0.5us, every: 1us}]\nslos:"),
    ),
    Case(
        "large",
        "mtbf and mttr 0",
        VALIDATE_S,
        "'mtbf' averages 0s",
        4,
        scen=(
            "slos:",
            "faults: [{node: api, mtbf: {dist: constant, value: 0}, mttr: {dist: constant, value: 0}}]\nslos:",
        ),
    ),
    Case(
        "large",
        "replications from the command line",
        ("run", "{s}", "-q", "-r", "1000000000"),
        "less than or equal to 10000",
    ),
    Case(
        "large",
        "replications in the file",
        VALIDATE_S,
        "less than or equal to 10000",
        4,
        scen=("slos:", "replications: 1000000000\nslos:"),
    ),
    Case(
        "large",
        "a 1000 x 1000 sweep grid",
        (
            "sweep",
            "{s}",
            "--set",
            "nodes.api.servers=" + ",".join(map(str, range(2, 1002))),
            "--set",
            "duration=" + ",".join(f"{n}s" for n in range(100, 1100)),
        ),
        "1,000,000 points",
    ),
    Case("large", "huge traffic", RUN, "the traffic", None, arch=("rate: 0.9/s", "rate: 1e9/s")),
    # auto sent these to the fluid engine, which laid out every fault interval or run first (GBs)
    Case(
        "large",
        "an outage every 10 ms for a week, on auto",
        ("run", "{s}", "-q"),
        "comes back about 6.05e+07 times",
        scen=("duration: 100s", "duration: 7d\nfaults: [{node: api, at: 1m, for: 5ms, every: 10ms}]"),
    ),
    Case(
        "large",
        "a DAG every 1 ms for a day, on auto",
        ("run", "{s}", "-q"),
        "its schedule starts about 8.64e+07 runs",
        arch_text=with_dag('"every 1ms"'),
        scen=("duration: 100s", "duration: 1d"),
    ),
    # 3. silent nonsense: now refused, located
    Case(
        "unclear",
        "architecture path empty",
        VALIDATE_S,
        "is empty: no path is given",
        2,
        scen=("architecture: arch.yaml", 'architecture: ""'),
    ),
    Case(
        "unclear",
        "architecture a device",
        VALIDATE_S,
        "is not a regular file",
        2,
        scen=("architecture: arch.yaml", "architecture: /dev/null"),
    ),
    Case(
        "nonsense",
        "one --set path twice",
        ("run", "{s}", "-q", "--set", "nodes.api.servers=3", "--set", "nodes.api.servers=4"),
        "is set twice",
    ),
    Case(
        "unclear",
        "--out where no folder can be made",
        ("run", "{s}", "-q", "--out", "/proc/flowsim-out"),
        "cannot make the folder /proc/flowsim-out",
    ),
    # rates and sizes read what durations refused: 5/M as per minute, 5/Ms as per millisecond, Mb as MB
    Case("nonsense", "rate per M", VALIDATE_A, "M could mean months or minutes", 3, arch=("0.9/s", "5/M")),
    Case("nonsense", "rate per Ms", VALIDATE_A, "megaseconds or milliseconds", 3, arch=("0.9/s", "5/Ms")),
    Case("nonsense", "servers: yes", VALIDATE_A, "got a boolean", 4, arch=("servers: 2", "servers: yes")),
    Case("nonsense", "capacity: true", VALIDATE_A, "got a boolean", 4, arch=("capacity: 20", "capacity: true")),
    Case(
        "nonsense",
        "stop before start",
        VALIDATE_A,
        "stops",
        3,
        arch=("rate: 0.9/s}", "rate: 0.9/s, start: 50s, stop: 10s}"),
    ),
    Case(
        "nonsense",
        "outage after the run",
        VALIDATE_S,
        "after the run ends",
        4,
        scen=("slos:", "faults: [{node: api, at: 1h, for: 1s}]\nslos:"),
    ),
    Case(
        "nonsense",
        "random failures after the run",
        VALIDATE_S,
        "after the run ends",
        4,
        scen=(
            "slos:",
            "faults: [{node: api, mtbf: {dist: exponential, mean: 10s}, "
            "mttr: {dist: exponential, mean: 1s}, start: 1h}]\nslos:",
        ),
    ),
    Case(
        "nonsense",
        "hot_share without skew",
        VALIDATE_A,
        "only applies with partitioner: skewed",
        4,
        arch_text=TOPIC.replace("partitions: 4}", "partitions: 4, hot_share: 0.9}"),
    ),
    Case(
        "nonsense",
        "a typo in an SLO's kind-figure path",
        VALIDATE_S,
        "did you mean 'lag_max_seconds.done'?",
        5,
        arch_text=TOPIC,
        scen=("totals.dropped == 0", "nodes.events.kind_figures.lag_mx_s.done < 5s"),
    ),
    Case(
        "nonsense",
        "an SLO on a consumer group that does not exist",
        VALIDATE_S,
        "is not a figure of kind 'kafka_topic'",
        5,
        arch_text=TOPIC,
        scen=("totals.dropped == 0", "nodes.events.kind_figures.lag_max_messages.dne < 5"),
    ),
    Case(
        "nonsense",
        "a kind figure written without kind_figures",
        VALIDATE_S,
        "write nodes.events.kind_figures.lost_to_retention",
        5,
        arch_text=TOPIC,
        scen=("totals.dropped == 0", "nodes.events.lost_to_retention == 0"),
    ),
    Case(
        "nonsense",
        "an SLO on a figure the chosen engine does not compute",
        VALIDATE_S,
        "the fluid engine does not compute 'hot_partition_lag_share'",
        6,
        arch_text=TOPIC,
        scen=(
            "duration: 100s\nslos:\n  - totals.dropped == 0",
            "duration: 100s\nengine: fluid\nslos:\n  - nodes.events.kind_figures.hot_partition_lag_share.done < 0.5",
        ),
    ),
    Case(
        "nonsense",
        "an SLO on a kind figure of a kind that has none",
        VALIDATE_S,
        "kind 'service' reports no figures of its own",
        5,
        scen=("totals.dropped == 0", "nodes.api.kind_figures.duplicates == 0"),
    ),
    Case(
        "nonsense",
        "weights under fan-out",
        VALIDATE_A,
        "weights are never read",
        9,
        arch_text=ARCH.replace("on_full: drop}", "on_full: drop, routing: fanout}")
        .replace(
            "  - {from: api, to: done, weight: 1}",
            "  - {from: api, to: done, weight: 1}\n  - {from: api, to: done2, weight: 3}",
        )
        .replace("  done: {kind: sink}", "  done: {kind: sink}\n  done2: {kind: sink}"),
    ),
    Case(
        "nonsense",
        "a retry storm by design (warned, still valid)",
        VALIDATE_A,
        "(a retry storm)",
        None,
        exit_code=0,
        arch=("on_full: drop}", "on_full: drop, retry: {max_attempts: 3, timeout: 500ms, jitter: none}}"),
    ),
    Case("nonsense", "a sweep without a grid", ("sweep", "{s}"), "has no grid"),
    Case(
        "nonsense",
        "svg named png",
        ("graph", "{a}", "--out", "{d}/x.svg", "--format", "png"),
        "writes .png",
        exit_code=2,
    ),
    Case(
        "nonsense",
        "graph --out a folder",
        ("graph", "{a}", "--format", "png", "--out", "{d}"),
        "is a directory",
        exit_code=2,
    ),
    Case(
        "nonsense",
        "on_full without a capacity (a setting that does nothing)",
        VALIDATE_A,
        "has no effect without 'capacity'",
        4,
        arch=(", capacity: 20, on_full: drop}", ", on_full: block}"),
    ),
    Case(
        "nonsense",
        "a fluid step on a per-message scenario (a setting that does nothing)",
        VALIDATE_S,
        "engine: per_message, which has no step",
        5,
        scen=("duration: 100s", "duration: 100s\nengine: per_message\nstep: 1s"),
    ),
    # 4. unclear answers: now said plainly
    Case("unclear", "NO read as false", VALIDATE_A, 'write "NO" in quotes', 4, arch=("on_full: drop", "on_full: NO")),
    # the attribute name of a field spelled like a keyword was taken silently (and won over the key)
    Case(
        "unclear",
        "mean_ for mean",
        VALIDATE_A,
        "unknown field 'mean_': write 'mean'",
        4,
        arch=("mean: 1s}", "mean_: 1s}"),
    ),
    Case("unclear", "0x10 read as 16", VALIDATE_A, 'write "0x10" in quotes', 1, arch=("name: t", "name: 0x10")),
    Case("unclear", "weight text", VALIDATE_A, "expected a number", 8, arch=("weight: 1}", "weight: heavy}")),
    Case(
        "unclear",
        "scenario where an architecture belongs",
        VALIDATE_S,
        "is a scenario, not an architecture",
        2,
        scen=("architecture: arch.yaml", "architecture: scen.yaml"),
    ),
    Case("unclear", "architecture run as a scenario", ("run", "{a}"), "is an architecture, not a scenario", 1),
    Case(
        "unclear",
        "a folder as the architecture",
        VALIDATE_S,
        "is a directory",
        2,
        scen=("architecture: arch.yaml", "architecture: sub"),
    ),
    Case(
        "unclear",
        "not a flowsim file",
        VALIDATE_S,
        "is not a flowsim architecture",
        2,
        scen=("architecture: arch.yaml", "architecture: other.yaml"),
    ),
    Case("unclear", "a cycle that multiplies its flow", VALIDATE_A, "the cycle through", 7, arch_text=CYCLE),
    Case("unclear", "run --out names a file", ("run", "{s}", "-q", "--out", "{a}"), "is a file", exit_code=2),
    Case(
        "extreme",
        "an architecture path 300 characters long",
        VALIDATE_S,
        "not found",
        2,
        scen=("architecture: arch.yaml", "architecture: " + "x" * 300),
    ),
    Case(
        "unclear",
        "warmup longer than the run",
        VALIDATE_S,
        "must be shorter than duration",
        4,
        scen=("slos:", "warmup: 1h\nslos:"),
    ),
    Case(
        "unclear",
        "a node name with a space",
        VALIDATE_A,
        "node name 'bad name' is not allowed",
        6,
        arch=("  done: {kind: sink}", "  done: {kind: sink}\n  bad name: {kind: sink}"),
    ),
    Case(
        "unclear",
        "a node name in unicode",
        VALIDATE_A,
        "ASCII letter",
        6,
        arch=("  done: {kind: sink}", "  done: {kind: sink}\n  émile: {kind: sink}"),
    ),
    Case(
        "unclear",
        "a 2,000-character key",
        VALIDATE_A,
        "a key longer than 1024 characters",
        6,
        arch=("  done: {kind: sink}", "  done: {kind: sink}\n  " + "k" * 2000 + ": {kind: sink}"),
    ),
    Case("unclear", "unknown kind argument", ("kinds", "servce"), "did you mean 'service'?", exit_code=2),
    Case("unclear", "typo in a node", VALIDATE_A, "did you mean 'servers'?", 4, arch=("servers: 2", "sevrers: 2")),
    # 5. thresholds, laws and times that would run and quietly mean nothing (found by a new user)
    Case(
        "nonsense",
        "a window of 0.1% of the run",
        ("validate", "{s}", "--strict"),
        "the figures cover 100ms of a",
        None,
        scen=("duration: 100s", "duration: 100s\nwarmup: 99.9s"),
    ),
    Case(
        "nonsense",
        "SLO utilization above 1",
        VALIDATE_S,
        "a fraction from 0 to 1",
        5,
        scen=("totals.dropped == 0", "nodes.api.utilization < 150"),
    ),
    Case(
        "unclear",
        "a union refused once",
        VALIDATE_S,
        "expected text or a mapping",
        2,
        scen=("architecture: arch.yaml", "architecture: 42"),
    ),
    Case(
        "unclear",
        "batch neither count nor law",
        VALIDATE_A,
        "greater than or equal to 1, or a mapping",
        3,
        arch=("rate: 0.9/s}", "rate: 0.9/s, batch: 0}"),
    ),
    Case(
        "unclear",
        "empirical with no values",
        VALIDATE_A,
        "must hold at least 1 item(s)",
        4,
        arch=("{dist: exponential, mean: 1s}", "{dist: empirical, values: []}"),
    ),
    Case(
        "unclear",
        "override names an unknown policy",
        VALIDATE_S,
        "scen.yaml:4:13: overrides.nodes.api.retry: retry policy 'stdd' is not defined in the scenario (define it "
        "under the scenario's retry_policies; this override sets nodes.api.retry in arch.yaml)",
        4,
        scen=("slos:", "overrides: {nodes.api.retry: stdd}\nslos:"),
    ),
    Case(
        "unclear",
        "--set load out of range",
        (*RUN, "--set", "load.multiplier=0"),
        "the value comes from the override load.multiplier=0",
        None,
    ),
    Case(
        "nonsense",
        "SLO duration on a ratio",
        VALIDATE_S,
        "written as a duration",
        5,
        scen=("totals.dropped == 0", "nodes.api.utilization < 0.5s"),
    ),
    Case(
        "nonsense",
        "SLO duration on a count",
        VALIDATE_S,
        "is a count or a ratio",
        5,
        scen=("totals.dropped == 0", "totals.dropped < 2s"),
    ),
    Case(
        "nonsense",
        "SLO negative latency",
        VALIDATE_S,
        "would always fail",
        5,
        scen=("totals.dropped == 0", "end_to_end.done.latency_s.p99 < -1s"),
    ),
    Case(
        "nonsense",
        "SLO rate on a time",
        VALIDATE_S,
        "write a duration",
        5,
        scen=("totals.dropped == 0", "end_to_end.done.latency_s.p99 < 5/s"),
    ),
    Case(
        "nonsense",
        "mtbf of 0",
        VALIDATE_S,
        "'mtbf' averages 0s",
        4,
        scen=("slos:", "faults: [{node: api, mtbf: 0s, mttr: 1s}]\nslos:"),
    ),
    Case(
        "nonsense",
        "source starts after the end",
        ("validate", "{s}", "--strict"),
        "'arrivals' sends nothing in this run",
        None,  # a warning names the scenario and where the architecture file writes the node
        arch=("rate: 0.9/s}", "rate: 0.9/s, start: 200s}"),
    ),
    Case(
        "nonsense",
        "normal mean below 0",
        VALIDATE_A,
        "needs a mean above 0",
        4,
        arch=("{dist: exponential, mean: 1s}", "{dist: normal, mean: -1s, stdev: 1s}"),
    ),
    Case(
        "nonsense",
        "normal mean moved by redraws",
        VALIDATE_A,
        "mean would be 1.29s, not 1s",
        4,
        arch=("{dist: exponential, mean: 1s}", "{dist: normal, mean: 1s, stdev: 1s}"),
    ),
    Case(
        "unclear",
        "SLO comparison typo",
        VALIDATE_S,
        "use one of <, <=",
        5,
        scen=("totals.dropped == 0", "end_to_end.done.latency_s.p99 <> 6s"),
    ),
    Case(
        "unclear",
        "SLO statistic typo",
        VALIDATE_S,
        "'p42' is not a statistic",
        5,
        scen=("totals.dropped == 0", "end_to_end.done.latency_s.p42 < 6s"),
    ),
    Case(
        "unclear",
        "architecture URL",
        VALIDATE_S,
        "is a URL",
        2,
        scen=("architecture: arch.yaml", "architecture: https://example.com/arch.yaml"),
    ),
    Case(
        "unclear",
        "source with no way out",
        VALIDATE_A,
        "what 'arrivals' sends can never leave",
        None,
        arch=("{from: api, to: done, weight: 1}", "{from: api, to: api, weight: 1}"),
    ),
]


def _write(case: Case, folder: Path) -> dict[str, str]:
    arch = case.arch_text if case.arch_text is not None else ARCH
    if case.arch[0]:
        assert case.arch[0] in arch, case.name
        arch = arch.replace(case.arch[0], case.arch[1], 1)
    scen = SCEN.replace(*case.scen, 1) if case.scen[0] else SCEN
    assert not case.scen[0] or case.scen[0] in SCEN, case.name
    (folder / "arch.yaml").write_text(arch)
    (folder / "scen.yaml").write_text(scen)
    (folder / "other.yaml").write_text("secret_key: hunter2\nroot: x\n")  # must never be echoed
    (folder / "sub").mkdir(exist_ok=True)
    return {"{a}": str(folder / "arch.yaml"), "{s}": str(folder / "scen.yaml"), "{d}": str(folder)}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.cause}: {c.name}" for c in CASES])
def test_bad_input_gets_a_clear_located_answer(case: Case, tmp_path: Path) -> None:
    names = _write(case, tmp_path)
    args = [names.get(a, a).replace("{d}", names["{d}"]) for a in case.command]
    result = CliRunner().invoke(app, args)
    output = result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    expected = case.exit_code if case.exit_code is not None else 1 if case.command[0] == "validate" else 2
    assert result.exit_code == expected, output
    flat = " ".join(output.split()).replace("│ ", "").replace(" │", "")
    assert case.fragment in flat, output
    assert not EXCEPTION.search(output), output
    assert "hunter2" not in output
    if case.line is not None:
        assert re.search(rf"\.yaml:{case.line}:\d+: ", output), output


def test_the_corpus_covers_every_cause() -> None:
    counts = {cause: sum(c.cause == cause for c in CASES) for cause in ("extreme", "large", "nonsense", "unclear")}
    assert min(counts.values()) >= 8, counts


# ---- every number field of every kind ---------------------------------------------------------
def _number_fields() -> list[tuple[str, str]]:
    found = []
    for kind, config in kinds().items():
        for name, info in config.model_fields.items():
            marked = any(isinstance(m, NumberRule) for m in info.metadata) or "NumberRule" in repr(info.annotation)
            if marked:
                found.append((kind, info.alias or name))
    return found


NUMBER_FIELDS = _number_fields()


@pytest.mark.parametrize("value", [".inf", "-.nan", "yes", "1e308"])
@pytest.mark.parametrize(("kind", "field"), NUMBER_FIELDS, ids=[f"{k}.{f}" for k, f in NUMBER_FIELDS])
def test_every_number_field_of_every_kind_refuses_hostile_values(kind: str, field: str, value: str) -> None:
    text = f"name: t\nnodes:\n  x:\n    kind: {kind}\n    {field}: {value}\n"
    with pytest.raises(SpecError) as info:
        load_architecture(text)
    mine = [p for p in info.value.problems if p.field == f"nodes.x.{field}"]
    assert mine, str(info.value)
    assert mine[0].line == 5 and mine[0].column is not None  # the value's own line
    assert not EXCEPTION.search(str(mine[0]))


def test_the_field_table_reaches_every_kind() -> None:
    # a sink has no numbers of its own, a delay only its distribution (covered by the rule's own test)
    assert {k for k, _ in NUMBER_FIELDS} >= set(kinds()) - {"sink", "delay"}
    assert len(NUMBER_FIELDS) > 40


def test_validate_goes_on_after_a_bad_file(tmp_path: Path) -> None:
    """A cron that never fires is one file's error; the files after it are still validated."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(CASES[[c.name for c in CASES].index("cron never fires")].arch_text or "")
    good = Path(__file__).resolve().parent.parent / "architectures" / "two-stage.yaml"
    result = CliRunner().invoke(app, ["validate", str(bad), str(good)])
    assert result.exit_code == 1
    assert "never fires" in result.stderr
    assert "two-stage.yaml: architecture 'two-stage'" in result.stdout  # the good one was checked too


def test_a_service_that_takes_no_time_is_predicted_and_run() -> None:
    """`service_time: 0` (a constant 0) is a legal instant service: the analytic view says nothing
    waits instead of raising on a mean of 0 (found by the mutation hunt of test_robustness)."""
    import flowsim

    text = """
name: instant
architecture:
  name: instant
  nodes:
    src: {kind: source, rate: 5/s}
    api: {kind: service, servers: 1, service_time: 0}
    done: {kind: sink}
  edges: [src -> api, api -> done]
duration: 200s
"""
    result = flowsim.simulate(flowsim.load_scenario(text))
    prediction = result.analysis.nodes["api"].prediction
    assert prediction is not None and prediction.formula == "instant" and prediction.wait_s == 0
    assert result.nodes["api"].completed == result.nodes["api"].arrivals > 0
    assert result.end_to_end["done"].latency_s is not None and result.end_to_end["done"].latency_s.max == 0


def test_a_gamma_so_skewed_its_draws_underflow_to_zero_is_refused() -> None:
    # shape 1e-8: numpy's draws are exactly 0.0, so every arrival came at t = 0 and the run hung
    text = (
        "name: g\narchitecture:\n  name: g\n  nodes:\n"
        "    src: {kind: source, interarrival: {dist: gamma, shape: 1e-8, mean: 1s}}\n"
        "    done: {kind: sink}\n  edges: [src -> done]\nduration: 60s\n"
    )
    with pytest.raises(SpecError, match=r"5:\d+: architecture\.nodes\.src\.interarrival: shape 1e-08: a gamma"):
        flowsim.load_scenario(text)


@pytest.mark.parametrize("address", ["banana", "tcp://", "tcp://host:notaport", "http://127.0.0.1:8786", "tcp://[::1"])
def test_a_malformed_scheduler_address_is_a_usage_error_not_a_traceback(address: str) -> None:
    # each gave Dask's ValueError as a traceback (exit 1); a well-formed unreachable one says so (exit 2)
    baseline = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.yaml"
    result = CliRunner().invoke(app, ["sweep", str(baseline), "-s", "nodes.api.servers=2,3", "--scheduler", address])
    assert result.exit_code == 2
    said = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())  # the usage box, its lines joined
    assert "is not a scheduler address: give tcp://HOST:PORT" in said
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        ("[a, b]", "4:1: overrides: expected a mapping of dotted paths to values"),
        ("7", "4:1: overrides: expected a mapping of dotted paths to values"),
        ("{nodes: {api: {servers: 4}}}", "overrides.nodes: 'nodes' would replace every node"),
        ("{overrides.x: 1}", "'overrides.x' sets the overrides themselves, which nothing reads"),
    ],
)
def test_overrides_that_would_do_nothing_or_wipe_the_nodes_are_refused(overrides: str, said: str) -> None:
    # each passed validate (the list and the number were ignored; 'nodes' replaced every node and
    # reported the others as unknown; 'overrides.x' set nothing anyone reads)
    two_stage = Path(__file__).resolve().parents[1] / "architectures" / "two-stage.yaml"
    text = f"name: ov\narchitecture: {two_stage}\nduration: 100s\noverrides: {overrides}\n"
    with pytest.raises(SpecError, match=re.escape(said)):
        flowsim.load_scenario(text)


def test_set_on_the_overrides_themselves_is_refused() -> None:
    baseline = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.yaml"
    result = CliRunner().invoke(app, ["run", str(baseline), "--set", "overrides.nodes.api.servers=1"])
    assert result.exit_code == 2  # it ran with 2 servers, as if nothing had been said
    assert "'overrides.nodes.api.servers' sets the overrides themselves" in result.output


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("1:30", "YAML reads the unquoted 1:30 as a base-60 number, not a time"),  # was read as 90 s
        ("1M", "M could mean months or minutes"),  # was 60 s
        ("1Ms", "Ms could mean megaseconds or milliseconds"),  # was 1 ms
    ],
)
def test_a_duration_yaml_or_case_would_guess_at_is_refused(value: str, said: str) -> None:
    text = (
        "name: d\narchitecture:\n  name: d\n  nodes:\n    src: {kind: source, rate: 1/s}\n    done: {kind: sink}\n"
        f"  edges: [src -> done]\nduration: {value}\n"
    )
    with pytest.raises(SpecError, match=re.escape(said)):
        flowsim.load_scenario(text)


def one_service(api: str, more_nodes: str = "") -> str:
    """A scenario of src (1/s) -> api -> done over 100 s; `api` is the service's fields after its kind."""
    return (
        "name: s\narchitecture:\n  name: s\n  nodes:\n    src: {kind: source, rate: 1/s}\n"
        f"    api: {{kind: service, {api}}}\n    done: {{kind: sink}}\n{more_nodes}"
        "  edges: [src -> api, api -> done]\nduration: 100s\n"
    )


def test_a_timeout_every_attempt_outlasts_is_warned_before_the_run() -> None:
    # a constant 100 ms service with a 1 ms timeout: every attempt times out, 0 delivered (was silent);
    # an Airflow task of 2 min under a 1 min execution_timeout fails every try, retries or not
    service = one_service("servers: 2, service_time: 0.1s, retry: {max_attempts: 3, timeout: 1ms}")
    warnings = flowsim.analyze_scenario(flowsim.load_scenario(service)).warnings
    assert [w for w in warnings if "delivers nothing" in w] == [
        "'api' delivers nothing: its shortest service (100ms) is at least the retry timeout (1ms), so every "
        "attempt times out and each message ends dead-lettered after 3 attempts; lengthen the timeout"
    ]
    dag = (
        "name: af\narchitecture:\n  name: af\n  nodes:\n    src: {kind: source, rate: 1/s}\n"
        "    etl: {kind: airflow_dag, schedule: '@hourly', tasks: {a: {duration: 2m, execution_timeout: 1m, "
        "retries: 3}}}\n    done: {kind: sink}\n  edges: [src -> etl, etl -> done]\nduration: 3h\n"
    )
    warnings = flowsim.analyze_scenario(flowsim.load_scenario(dag)).warnings
    assert any("task 'a' never succeeds: its shortest try (2min) is at least its execution_timeout (60s)" in w
               for w in warnings)  # fmt: skip


def test_a_trace_or_a_profile_change_that_begins_after_the_run_is_warned(tmp_path: Path) -> None:
    # both ran silently: the trace's first row at 1,000 s gave 0 arrivals in a 100 s run, the spike never came
    (tmp_path / "tr.csv").write_text("time_s,rate_per_s\n1000,1\n", encoding="utf-8")
    text = (
        "name: late\narchitecture:\n  name: late\n  nodes:\n    a: {kind: source, trace: tr.csv}\n"
        "    b: {kind: source, rate: 1/s, profile: [{spike: {at: 1000s, for: 1s, factor: 3}}]}\n"
        "    done: {kind: sink}\n  edges: [a -> done, b -> done]\nduration: 100s\n"
    )
    warnings = flowsim.analyze_scenario(flowsim.load_scenario(text, base_dir=tmp_path)).warnings
    assert "'a' sends nothing in this run: its trace starts at 16.7min; the run ends at 100s" in " ".join(warnings)
    assert "'b': profile[0]'s spike begins at 16.7min and never happens" in " ".join(warnings)


def test_a_pipe_is_read_once_and_non_utf8_text_is_said_plainly(tmp_path: Path) -> None:
    # validate and graph read a pipe twice (the second read found it empty: "the document is empty");
    # a trace or stdin that is not UTF-8 showed Python's codec message
    import os

    fifo = tmp_path / "arch.fifo"
    os.mkfifo(fifo)
    two_stage = (Path(__file__).resolve().parents[1] / "architectures" / "two-stage.yaml").read_text()
    import threading

    writer = threading.Thread(target=lambda: fifo.write_text(two_stage, encoding="utf-8"), daemon=True)
    writer.start()
    result = CliRunner().invoke(app, ["validate", str(fifo)])
    writer.join(timeout=10)
    assert result.exit_code == 0, result.output
    stdin = CliRunner().invoke(app, ["validate", "-"], input=b"\xff\xfe")
    assert "<stdin>: the text is not UTF-8 (byte 0xff); save it with UTF-8 encoding" in stdin.output
    assert "<stdin>: <stdin>" not in stdin.output and "codec" not in stdin.output
    (tmp_path / "tr.csv").write_bytes(b"\xfftime_s,rate_per_s\n0,1\n")
    text = (
        "name: t\narchitecture:\n  name: t\n  nodes:\n    a: {kind: source, trace: tr.csv}\n    done: {kind: sink}\n"
        "  edges: [a -> done]\nduration: 10s\n"
    )
    with pytest.raises(SpecError, match=r"trace file 'tr.csv' is not UTF-8 text \(byte 0xff\)"):
        flowsim.load_scenario(text, base_dir=tmp_path)


def test_format_json_gives_a_json_refusal_for_the_parsers_own_errors_too() -> None:
    # -r 0 is refused by the option parser, before flowsim's code: it printed no JSON at all
    import json
    import subprocess
    import sys

    baseline = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.yaml"
    done = subprocess.run([sys.executable, "-m", "flowsim", "run", str(baseline), "--format", "json", "-r", "0"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 2
    error = json.loads(done.stdout)["error"]
    assert error["type"] == "UsageError" and error["exit_code"] == 2 and "'--replications'" in error["message"]


def test_an_slo_on_a_figure_a_source_or_a_sink_never_has_is_refused_before_the_run() -> None:
    # both passed validate and then failed `check` with "no data" (exit 1, as if the design broke them)
    two_stage = Path(__file__).resolve().parents[1] / "architectures" / "two-stage.yaml"
    text = (f"name: s\narchitecture: {two_stage}\nduration: 100s\n"
            "slos: [nodes.arrivals.utilization < 0.5, nodes.done.wait_s.p99 < 1s]\n")  # fmt: skip
    with pytest.raises(SpecError) as refused:
        flowsim.load_scenario(text)
    said = str(refused.value)
    assert "slos[0]: 'arrivals' (source) never has 'utilization': a source has no queue and no servers" in said
    assert "slos[1]: 'done' (sink) never has 'wait_s': a sink has no queue and no servers" in said


def test_a_backoff_cap_below_its_base_is_refused() -> None:
    # cap 0.5 s under base 1 s made every backoff 0.5 s: base and growth meant nothing (was accepted)
    text = one_service("service_time: 0.1s, error_rate: 0.1, retry: {backoff: exponential, base: 1s, cap: 0.5s}")
    with pytest.raises(SpecError, match=r"cap \(0.5s\) is below base \(1s\)"):
        flowsim.load_scenario(text)


def test_a_sweep_value_given_twice_is_refused_and_point_errors_are_grouped() -> None:
    from flowsim.sweep_grid import load_points, parse_set

    with pytest.raises(SpecError, match=r"'nodes.api.servers' takes the value 2 twice"):
        parse_set("nodes.api.servers=2,2,2")  # it ran 3 identical points
    # 21 .. 40 servers all break capacity 20: one line for the 20 points, not 20 lines
    peak = Path(__file__).resolve().parents[1] / "scenarios" / "peak-3x.yaml"
    _, values = parse_set("nodes.api.servers=21..40")
    with pytest.raises(SpecError) as refused:
        load_points(peak, [{"nodes.api.servers": v} for v in values], None, None)
    assert len(refused.value.problems) == 1
    said = refused.value.problems[0].message
    assert "servers=21: capacity (20) is below servers (21)" in said
    assert "... and so on at 18 more grid points ... at grid point nodes.api.servers=40" in said


def test_a_cost_objective_with_no_prices_or_an_empty_objective_is_refused() -> None:
    # with no price every point cost $0.00 and the "cheapest" pick was a tie; '' printed "best ()"
    from flowsim.errors import FlowsimError
    from flowsim.sweep import check_objective

    text = (
        "name: p\narchitecture:\n  name: p\n  nodes:\n    src: {kind: source, rate: 1/s}\n"
        "    api: {kind: service, service_time: 0.1s}\n    done: {kind: sink}\n"
        "  edges: [src -> api, api -> done]\nduration: 100s\n"
    )
    scenario = flowsim.load_scenario(text)
    with pytest.raises(FlowsimError, match=r"no node has a price, so every point costs 0.*'min end_to_end\.done\."):
        check_objective("min cost.per_hour", scenario)
    with pytest.raises(FlowsimError, match=r"cannot read objective ''"):
        check_objective("", scenario)
    check_objective("min end_to_end.done.latency_s.p99", scenario)  # another figure is fine


@pytest.mark.parametrize("field", ["sample_interval", "step"])
def test_a_sample_interval_or_step_longer_than_the_window_is_refused(field: str) -> None:
    # both were shrunk to fit without a word
    text = (
        "name: w\narchitecture:\n  name: w\n  nodes:\n    src: {kind: source, rate: 1/s}\n    done: {kind: sink}\n"
        f"  edges: [src -> done]\nduration: 100s\n{field}: 1000s\n"
    )
    with pytest.raises(SpecError, match=rf"{field} 1000s is longer than the measured window \(100s\)"):
        flowsim.load_scenario(text)


def test_a_retry_or_a_dead_letter_nothing_can_set_off_is_noted() -> None:
    # no error_rate and no timeout: the retry never fires and the dead-letter sink never receives
    text = one_service("service_time: 0.1s, retry: {max_attempts: 3}, dead_letter: dlq", "    dlq: {kind: sink}\n")
    notes = flowsim.analyze_scenario(flowsim.load_scenario(text)).notes
    assert "'api''s retry policy has nothing to retry: no error_rate and no timeout" in " ".join(notes)
    assert "'api''s dead_letter 'dlq' receives nothing unless attempts fail" in " ".join(notes)


def test_a_misspelt_profile_shape_gets_a_did_you_mean() -> None:
    text = (
        "name: p\narchitecture:\n  name: p\n  nodes:\n"
        "    s: {kind: source, rate: 1/s, profile: [{diurnl: {low: 0.3, peak_at: 14h}}]}\n"
        "    d: {kind: sink}\n  edges: [s -> d]\nduration: 1h\n"
    )
    with pytest.raises(SpecError, match=r"found diurnl \(did you mean 'diurnal'\?\)"):
        flowsim.load_scenario(text)


def test_schema_out_naming_a_file_says_so(tmp_path: Path) -> None:
    # it said "cannot write arch.yaml/architecture.schema.json: File exists"
    target = tmp_path / "arch.yaml"
    target.write_text("name: x\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["schema", "--out", str(target)])
    said = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())
    assert result.exit_code == 2 and "is a file; --out names a folder" in said


@pytest.mark.parametrize(
    ("field", "said"),
    [
        ("retry: {max_attempts: 0}", "6:53: architecture.nodes.api.retry: expected text"),
        ("retry: {jitter: ful}", "6:53: architecture.nodes.api.retry: expected text"),
    ],
)
def test_a_unions_other_member_does_not_add_noise_to_a_mapping_read_as_its_member(field: str, said: str) -> None:
    # retry takes a policy name (text) or a mapping: a mapping with a wrong field also said "expected text"
    text = (
        "name: r\narchitecture:\n  name: r\n  nodes:\n    src: {kind: source, rate: 1/s}\n"
        f"    api: {{kind: service, service_time: 0.1s, {field}}}\n"
        "    done: {kind: sink}\n  edges: [src -> api, api -> done]\nduration: 100s\n"
    )
    with pytest.raises(SpecError) as refused:
        flowsim.load_scenario(text)
    assert len(refused.value.problems) == 1 and said not in str(refused.value)
    assert refused.value.problems[0].field.startswith("architecture.nodes.api.retry.")


def test_validate_warns_of_what_run_would_refuse(tmp_path: Path) -> None:
    # valid, but a run this size goes to the fluid engine, which does not compute the SLO's figure:
    # validate said ✓ while run refused; now validate warns (and --strict fails), saying why auto chose fluid
    path = tmp_path / "big.yaml"
    path.write_text(
        "name: big\narchitecture:\n  name: big\n  nodes:\n    s: {kind: source, rate: 100000/s}\n"
        "    t: {kind: kafka_topic, partitions: 12, consumer_groups: {store: {consumers: 12, processing_time: 10us}}}\n"
        "    store: {kind: sink}\n  edges: [s -> t, t -> store]\nduration: 1h\n"
        "slos: [nodes.t.kind_figures.hot_partition_lag_share.store < 50%]\n"
    )
    runner = CliRunner()
    plain = runner.invoke(app, ["validate", str(path)])
    assert plain.exit_code == 0 and "flowsim run refuses this as it stands" in plain.output
    assert "auto chose the fluid engine" in plain.output
    assert runner.invoke(app, ["validate", "--strict", str(path)]).exit_code == 1
    assert runner.invoke(app, ["run", str(path), "-q"]).exit_code == 2


def test_a_profile_that_holds_the_rate_at_zero_all_run_is_warned_of() -> None:
    text = (
        "name: z\narchitecture:\n  name: z\n  nodes:\n"
        "    s: {kind: source, rate: 5/s, profile: [{spike: {at: 0s, for: 1d, factor: 0}}]}\n"
        "    d: {kind: sink}\n  edges: [s -> d]\nduration: 1h\n"
    )
    warnings = flowsim.analyze_scenario(flowsim.load_scenario(text)).warnings
    assert any("'s' sends nothing in this run: its profile holds the rate at 0" in w for w in warnings)
    later = text.replace("at: 0s, for: 1d", "at: 10m, for: 10m")  # a dip, not the whole run: nothing to say
    assert not any("sends nothing" in w for w in flowsim.analyze_scenario(flowsim.load_scenario(later)).warnings)
