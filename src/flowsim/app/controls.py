"""A scenario's key parameters as controls, and the dotted-path overrides that the controls produce.

Controls are derived from the loaded scenario, never from a list of known scenarios: the load
multiplier; for every node, integer fields named like a pool size (servers, partitions,
consumers, replicas, parallelism, gpus) and `capacity`, also inside named sub-configs such as
consumer groups; each retry policy's attempts, backoff and jitter; each
scheduled fault's start and length; and the run's seed, replications and duration.  A new node
kind with a `partitions` field gets its control without a change here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel

from flowsim.policies import RetryPolicy
from flowsim.spec.scenario import Scenario
from flowsim.units import HUGE, format_duration

ControlKind = Literal["int", "float", "choice", "multiplier"]
Value = int | float | str
POOL_FIELDS = ("servers", "partitions", "consumers", "replicas", "parallelism", "gpus")
BOUND_FIELDS = ("capacity",)
MAX_REPLICATIONS = 30
RUN, NODES, RETRIES, FAULTS = "Load and run", "Nodes", "Retry policies", "Faults"


@dataclass(frozen=True)
class Control:
    """One parameter: where it goes (a dotted override path), how to show it, and its default."""

    path: str
    label: str
    group: str
    kind: ControlKind
    default: Value
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    options: tuple[str, ...] = ()
    help: str = ""


def derive_controls(scenario: Scenario) -> list[Control]:
    """Every control for this scenario, in display order (grouped)."""
    return [*_run_controls(scenario), *_node_controls(scenario), *_retry_controls(scenario),
            *_fault_controls(scenario)]  # fmt: skip


def _run_controls(scenario: Scenario) -> Iterator[Control]:
    multiplier = scenario.load.multiplier
    yield Control("load.multiplier", "Load multiplier", RUN, "multiplier", float(multiplier), min(0.1, multiplier),
                  max(5.0, round(2 * multiplier, 1)), 0.1, help="scales every source's arrival rate")  # fmt: skip
    yield Control("duration", "Duration (s, warm-up included)", RUN, "float", float(scenario.duration),
                  min(scenario.warmup + 1.0, scenario.duration), None, max(1.0, float(round(scenario.duration / 20))),
                  help=f"simulated time; figures cover the time after the {format_duration(scenario.warmup)} "
                  "warm-up")  # fmt: skip
    yield Control("seed", "Seed", RUN, "int", scenario.seed, 0, None, 1, help="same seed, same arrivals")
    yield Control("replications", "Replications", RUN, "int", scenario.replications, 1,
                  max(MAX_REPLICATIONS, scenario.replications), 1,
                  help="independent runs averaged; 2 or more give 95% confidence intervals")  # fmt: skip
    yield Control("engine", "Engine", RUN, "choice", scenario.engine, options=("auto", "per_message", "fluid"),
                  help="auto: per message within the page's event budget, the fluid engine (rates and backlogs "
                  "in time steps) above it; per_message refuses a run too large")  # fmt: skip


def _int_field(config: object, field: str) -> int | None:
    value = getattr(config, field, None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _sizes(model: BaseModel, path: str, label: str) -> Iterator[Control]:
    """Pool sizes and capacity of a model, then of the named sub-models it holds (consumer groups)."""
    fields = type(model).model_fields
    for field in POOL_FIELDS + BOUND_FIELDS:
        value = _int_field(model, field)
        if value is not None:
            yield Control(f"{path}.{field}", f"{label} · {field}", NODES, "int", value, min(1, value), None, 1,
                          help=fields[field].description or "" if field in fields else "")  # fmt: skip
    for field, info in fields.items():
        members = getattr(model, field, None)
        if isinstance(members, dict):
            for key, member in members.items():
                if isinstance(member, BaseModel):
                    yield from _sizes(member, f"{path}.{info.alias or field}.{key}", f"{label} {key}")


def _node_controls(scenario: Scenario) -> Iterator[Control]:
    for name, config in scenario.arch.nodes.items():
        yield from _sizes(config, f"nodes.{name}", name)


def _policies(scenario: Scenario) -> Iterator[tuple[str, str, RetryPolicy]]:
    """(override prefix, label, policy): the scenario's named policies, then inline ones on nodes."""
    for name, policy in scenario.retry_policies.items():
        yield f"retry_policies.{name}", f"policy '{name}'", policy
    named = list(scenario.retry_policies.values())
    for name, config in scenario.arch.nodes.items():
        retry = getattr(config, "retry", None)
        if isinstance(retry, RetryPolicy) and retry not in named:  # the loader resolves names to policies
            yield f"nodes.{name}.retry", f"{name} retry", retry


def _choices(field: str) -> tuple[str, ...]:
    return tuple(str(a) for a in get_args(RetryPolicy.model_fields[field].annotation))


def _retry_controls(scenario: Scenario) -> Iterator[Control]:
    for prefix, label, policy in _policies(scenario):
        yield Control(f"{prefix}.max_attempts", f"{label} · max attempts", RETRIES, "int", policy.max_attempts,
                      1, max(20, policy.max_attempts), 1, help="attempts in all, the first included")  # fmt: skip
        for field in ("backoff", "jitter"):
            yield Control(f"{prefix}.{field}", f"{label} · {field}", RETRIES, "choice", getattr(policy, field),
                          options=_choices(field), help=RetryPolicy.model_fields[field].description or "")  # fmt: skip


def _fault_controls(scenario: Scenario) -> Iterator[Control]:
    step = max(1.0, float(round(scenario.duration / 100)))
    for index, fault in enumerate(scenario.faults):
        if fault.at is None or fault.for_ is None:
            continue  # random failures (mtbf/mttr) have no start to move
        what = "brownout" if fault.slowdown else "outage"
        if fault.group is not None:  # consumers of a topic's group: a crash or a clean stop
            more = f"+{fault.consumers - 1}" if fault.consumers > 1 else ""
            what = f"{fault.group} consumer {fault.consumer}{more}"
            what += " slowdown" if fault.slowdown else " stop" if fault.leave else " crash"
        elif fault.broker is not None:  # one broker of a topic
            what = f"broker {fault.broker} outage"
        label = f"{fault.node} {what} #{index + 1}"
        yield Control(f"faults.{index}.at", f"{label} · starts at (s)", FAULTS, "float", float(fault.at), 0.0,
                      max(scenario.duration, fault.at), step, help="simulated time when the fault begins")  # fmt: skip
        yield Control(f"faults.{index}.for", f"{label} · lasts (s)", FAULTS, "float", float(fault.for_),
                      min(1.0, fault.for_),
                      None, step, help="how long the fault lasts")  # fmt: skip


# ---- checking the values --------------------------------------------------------------------
def check(controls: list[Control], values: Mapping[str, Value]) -> tuple[dict[str, Value], list[str]]:
    """The values made usable (the seed, typed as text, as an int) and why any cannot be used.

    The widgets carry no bounds (a browser refuses an out-of-range number silently, the reason
    only on hover), so the bounds are checked here and the reasons shown next to Run.
    """
    usable, problems = dict(values), []
    for c in controls:
        value = values.get(c.path)
        if c.path == "seed":
            text = str(value).strip().replace("_", "").replace(",", "")
            if not text.isdigit():
                problems.append(f"**{c.label}**: {value!r} is not a whole number from 0; the seed picks the arrivals")
                continue
            if int(text) > HUGE:
                problems.append(f"**{c.label}**: {text} is over the largest seed a scenario accepts, {HUGE:.0e}")
                continue
            usable[c.path] = int(text)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            problems += _bounds(c, value)
    return usable, problems


def _bounds(c: Control, value: float) -> list[str]:
    if c.minimum is not None and value < c.minimum:
        if c.path == "duration":  # the bound comes from another setting: say which
            warmup = format_duration(c.minimum - 1.0)
            return [f"**{c.label}**: {value:g} s is not longer than the {warmup} warm-up, so nothing would be "
                    f"measured; give at least {c.minimum:g} s, or shorten `warmup` in the YAML"]  # fmt: skip
        return [f"**{c.label}**: {value:g} is below the smallest allowed, {c.minimum:g}"]
    if c.maximum is not None and value > c.maximum:
        if c.path == "replications":
            return [f"**{c.label}**: {value:g} is over the {c.maximum:g} this page runs; write `replications: "
                    f"{value:g}` in the YAML to allow up to that many here"]  # fmt: skip
        return [f"**{c.label}**: {value:g} is over the largest allowed here, {c.maximum:g}"]
    return []


# ---- controls -> overrides -------------------------------------------------------------------
def overrides_from(scenario: Scenario, controls: list[Control], values: Mapping[str, Value]) -> dict[str, Any]:
    """Dotted-path overrides for the values that differ from the scenario's own.

    Faults are a list, and overrides address mappings only, so changed fault times are written
    as one `faults` override holding the whole list.
    """
    changed = {c.path: values[c.path] for c in controls if c.path in values and values[c.path] != c.default}
    overrides: dict[str, Any] = {p: v for p, v in changed.items() if not p.startswith("faults.")}
    fault_changes = {p: v for p, v in changed.items() if p.startswith("faults.")}
    if fault_changes:
        overrides["faults"] = _faults_with(scenario, fault_changes)
    return overrides


def _faults_with(scenario: Scenario, changes: Mapping[str, Value]) -> list[dict[str, Any]]:
    faults = [f.model_dump(by_alias=True, exclude_none=True, mode="json") for f in scenario.faults]
    for path, value in changes.items():
        _, index, field = path.split(".")
        faults[int(index)][field] = value
    return faults


def describe_overrides(overrides: Mapping[str, Any]) -> str:
    """A short label for a run's settings: 'api.servers=3 · payments fault at 20min for 5min'."""
    parts = []
    for path, value in overrides.items():
        if path == "faults" and isinstance(value, list):
            parts += [_fault_label(f) for f in value if isinstance(f, dict) and "at" in f]
        elif path in ("duration", "warmup") and isinstance(value, int | float):
            parts.append(f"{path}={format_duration(value)}")  # 3.29min, not 197.511
        else:
            parts.append(f"{path.removeprefix('nodes.')}={value:g}" if isinstance(value, float)
                         else f"{path.removeprefix('nodes.')}={value}")  # fmt: skip
    return " · ".join(parts)


def _fault_label(fault: Mapping[str, Any]) -> str:
    start, length = fault.get("at"), fault.get("for")
    if not isinstance(start, int | float) or not isinstance(length, int | float):
        return f"{fault.get('node')} fault"
    return f"{fault.get('node')} fault at {format_duration(start)} for {format_duration(length)}"
