"""Checks after the schema: values each valid alone that contradict each other, or do nothing.

The schema checks one field at a time; these read several.  A source that stops before it
starts, an outage after the run ends, a weight on an edge of a fan-out node (every out-edge gets a
copy, so weights are never read), a `hot_share` without the skewed partitioner: each would run
and quietly mean something other than what was written.  Each is (path, message, hint), for the
loader to locate in the file.
"""

from __future__ import annotations

from typing import Any

from flowsim.errors import Problem, SpecError
from flowsim.nodes.base import NodeConfig
from flowsim.spec.architecture import Architecture
from flowsim.spec.scenario import Scenario
from flowsim.spec.yaml_document import YamlDocument
from flowsim.units import format_duration

Issue = tuple[tuple[str | int, ...], str, str]


_SCENARIO_KEYS = frozenset({"architecture", "duration", "warmup", "replications", "slos", "faults", "load"})
_ARCH_KEYS = frozenset({"nodes", "edges"})


def document_kind(data: dict[str, Any]) -> str | None:
    """'architecture', 'scenario', or None for a mapping that is neither (nothing of it is shown)."""
    keys = set(data)
    if keys & _ARCH_KEYS and not keys & {"architecture", "duration"}:
        return "architecture"
    if keys & _SCENARIO_KEYS:
        return "scenario"
    return None


def wrong_document(doc: YamlDocument, wanted: str, where: str = "") -> SpecError | None:
    """A scenario where an architecture belongs (or the reverse, or neither) said in one line;
    the keys of a file that is no flowsim document are never echoed back."""
    found = document_kind(doc.data)
    if found == wanted:
        return None
    subject = f"'{where}'" if where else "this file"
    if found is None:
        message = f"{subject} is not a flowsim {wanted}"
        hint = "an architecture has 'nodes:' and 'edges:'; a scenario has 'architecture:' and 'duration:'"
    elif wanted == "architecture":
        message = f"{subject} is a scenario, not an architecture"
        hint = "name the architecture file the scenario runs (the one with 'nodes:' and 'edges:')"
    else:
        message = f"{subject} is an architecture, not a scenario"
        hint = "write a scenario that names it under 'architecture:' and sets 'duration:'"
    return SpecError([Problem(message, doc.source, 1, 1, "", hint)])


def architecture_issues(arch: Architecture) -> list[Issue]:
    """Contradictions and options without effect inside one architecture."""
    issues: list[Issue] = []
    for name, config in arch.nodes.items():
        start, stop = getattr(config, "start", None), getattr(config, "stop", None)
        if config.kind == "source" and isinstance(start, float) and isinstance(stop, float) and stop <= start:
            issues.append(((
                "nodes", name, "stop"), f"the source stops ({format_duration(stop)}) before it starts "
                f"({format_duration(start)}), so it sends nothing", "make 'stop' later than 'start', or remove it",
            ))  # fmt: skip
        skewed = getattr(config, "partitioner", None) == "skewed"
        if config.kind == "kafka_topic" and "hot_share" in config.model_fields_set and not skewed:
            issues.append((("nodes", name, "hot_share"), "hot_share only applies with partitioner: skewed",
                           "add 'partitioner: skewed', or remove hot_share"))  # fmt: skip
        issues.extend(_price_unit_issues(name, config))
    for index, edge in enumerate(arch.edges):
        sender = arch.nodes.get(edge.from_)
        if sender is not None and sender.routing != "random" and "weight" in edge.model_fields_set:
            fixed = "routing" not in sender.model_fields_set  # the kind routes one way only (a topic: every group)
            issues.append((
                ("edges", index, "weight"), f"'{edge.from_}' routes by {sender.routing}, so weights are never read",
                "remove the weight" + ("" if fixed else ", or give the sender 'routing: random' to split by weight"),
            ))  # fmt: skip
    return issues


def _price_unit_issues(name: str, config: NodeConfig) -> list[Issue]:
    """A price whose `unit` is not what the kind counts, with no `units` of its own: the kind's count
    would be billed under another name (a topic's 12 partitions as 12 servers)."""
    price, counted = config.price, config.billed_unit
    if price is None or price.unit is None or price.units is not None or counted is None or price.unit == counted:
        return []
    count = f"{config.cost_units():g} {counted}s"
    return [(
        ("nodes", name, "price", "unit"),
        f"a {config.kind} bills its {count}; 'unit: {price.unit}' would bill them as {price.unit}s",
        f"write 'unit: {counted}' (or leave it out), or give 'units': the number of {price.unit}s billed",
    )]  # fmt: skip


def scenario_issues(scenario: Scenario) -> list[Issue]:
    """Faults that cannot happen within the run."""
    issues: list[Issue] = []
    end = format_duration(scenario.duration)
    for index, fault in enumerate(scenario.faults):
        if fault.at is not None and fault.at >= scenario.duration:
            issues.append((("faults", index, "at"), f"the outage starts at {format_duration(fault.at)}, "
                           f"after the run ends ({end})", "start it before 'duration'"))  # fmt: skip
        if fault.mtbf is not None and fault.start >= scenario.duration:
            issues.append((("faults", index, "start"), f"random failures begin at {format_duration(fault.start)}, "
                           f"after the run ends ({end})", "start them before 'duration'"))  # fmt: skip
    return issues
