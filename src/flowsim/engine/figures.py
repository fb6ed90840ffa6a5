"""What a kind declares it reports: the figures of its own (name, unit, meaning, headline or not).

The declaration is the single source for the kind's figures: the SLO and lesson paths
(`nodes.<node>.kind_figures.<figure>`) are checked against it when a scenario loads, `flowsim
kinds` and docs/nodes.md list it, the key-figure picker reads its units and headlines, and a
test holds every kind's `figures()` to it on every shipped scenario, per engine.

A figure may come once per consumer group (`per="group"`: reported as `<name>.<group>`, the
group named after the out-edge's target) or once per model version (`per="version"`: reported
as `<name><version>`, e.g. `requests_v2`); `only_with` names the option without which it is
not reported (a topic's broker figures need a `brokers` or `producer` block).  The figures every
kind reports (arrivals, completed, dropped, lost, waits...) are `NodeResult`'s fields, declared
there, not here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Engine = Literal["per_message", "fluid"]
BOTH: frozenset[Engine] = frozenset(("per_message", "fluid"))
PER_MESSAGE: frozenset[Engine] = frozenset(("per_message",))
FLUID: frozenset[Engine] = frozenset(("fluid",))


@dataclass(frozen=True)
class Figure:
    """One figure a kind reports in `kind_figures`.

    `headline`: worth showing among a run's key figures whenever it is not zero (a loss, a
    duplicate, a lag, a missed SLA), rather than only in the full table.  `engines`: the engines
    that compute it (the fluid engine follows rates, so it has no per-message figures such as
    duplicates after a crash)."""

    name: str
    unit: str
    meaning: str
    headline: bool = False
    per: Literal["", "group", "version"] = ""
    engines: frozenset[Engine] = BOTH
    only_with: str = ""  # reported only when the node's config uses this (e.g. "brokers or producer")

    def keys(self, groups: Sequence[str] = ()) -> list[str]:
        """The result keys this figure appears under (a per-version figure: its pattern)."""
        if self.per == "group":
            return [f"{self.name}.{group}" for group in groups]
        if self.per == "version":
            return [f"{self.name}<version>"]
        return [self.name]

    @property
    def label(self) -> str:
        """How references write it: `lag_max_seconds.<group>`, `requests_v<version>`."""
        return self.keys(["<group>"])[0]

    @property
    def engines_text(self) -> str:
        text = "both" if self.engines == BOTH else "per-message only" if self.engines == PER_MESSAGE else "fluid only"
        return text + (f"; only with {self.only_with}" if self.only_with else "")

    def matches(self, key: str) -> bool:
        """Whether a reported key (`lag_max_seconds.enrich`, `requests_v2`) is this figure."""
        if self.per == "group":
            head, dot, tail = key.partition(".")
            return head == self.name and bool(dot and tail)
        if self.per == "version":
            return re.fullmatch(re.escape(self.name) + r"\d+", key) is not None
        return key == self.name


def declared(figures: Iterable[Figure], key: str) -> Figure | None:
    """The declared figure a reported key is, or None."""
    return next((figure for figure in figures if figure.matches(key)), None)


def undeclared(figures: Sequence[Figure], keys: Iterable[str]) -> list[str]:
    """Reported keys that no declared figure covers."""
    return sorted(key for key in keys if declared(figures, key) is None)


def unreported(figures: Sequence[Figure], keys: Iterable[str], engine: Engine, groups: Sequence[str]) -> list[str]:
    """Declared figures of `engine` that none of the reported keys is (per group: each group's)."""
    keys = set(keys)
    missing = []
    for figure in figures:
        if engine not in figure.engines or figure.only_with:  # a conditional figure may be absent
            continue
        if figure.per == "version":
            if not any(figure.matches(key) for key in keys):
                missing.append(figure.keys()[0])
        else:
            missing += [key for key in figure.keys(groups) if key not in keys]
    return missing
