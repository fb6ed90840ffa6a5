"""The architecture file: named nodes of registered kinds, and the edges between them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BeforeValidator, Field, field_validator

from flowsim.nodes.base import NodeConfig
from flowsim.nodes.registry import kinds
from flowsim.specmodel import SpecModel
from flowsim.units import Number

KINDS = kinds()

# A discriminated union of every registered kind's config; built from the registry so that a
# new kind module is picked up without touching this file.
if TYPE_CHECKING:
    NodeSpec = NodeConfig
else:
    NodeSpec = Annotated[Union[tuple(KINDS.values())], Field(discriminator="kind")]  # noqa: UP007

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
NODE_NAME = _NAME  # what a node name may be, for the loader to check each key where it is written
_ARROW = re.compile(r"^\s*([^\s>-][^\s>]*?)\s*->\s*([^\s>-][^\s>]*?)\s*$")


def _edge_shorthand(value: Any) -> Any:
    """`a -> b` is short for `{from: a, to: b}`."""
    if isinstance(value, str):
        match = _ARROW.match(value)
        if match is None:
            raise ValueError(f"cannot read edge {value!r}; write 'a -> b' or {{from: a, to: b, weight: 1}}")
        return {"from": match.group(1), "to": match.group(2)}
    return value


class EdgeSpec(SpecModel):
    """A data edge; out-edges of a node split its items at random in proportion to `weight`."""

    from_: str = Field(alias="from")
    to: str
    weight: Number = Field(1.0, gt=0, description="relative share of the sender's items (random routing)")


Edge = Annotated[EdgeSpec, BeforeValidator(_edge_shorthand)]


class Architecture(SpecModel):
    """A platform as a graph of nodes (services, topics, sinks, ...) and data edges."""

    name: str = Field(min_length=1)
    description: str = ""
    nodes: dict[str, NodeSpec] = Field(min_length=1)
    edges: list[Edge] = Field(default_factory=list)

    @field_validator("nodes")
    @classmethod
    def _names(cls, nodes: dict[str, NodeConfig]) -> dict[str, NodeConfig]:
        for name in nodes:
            if not _NAME.match(name):
                raise ValueError(
                    f"node name {name!r} must start with an ASCII letter or '_' and hold only ASCII letters, "
                    "digits, '_' or '-'"
                )
        return nodes

    def node(self, name: str) -> NodeConfig:
        return self.nodes[name]

    def sinks(self) -> list[str]:
        """Nodes where items end (they give no output)."""
        return [name for name, config in self.nodes.items() if not config.gives_output]

    def sources(self) -> list[str]:
        """Nodes where items begin (they take no input)."""
        return [name for name, config in self.nodes.items() if not config.takes_input]

    def dead_letter_sinks(self) -> set[str]:
        """Sinks named as some node's `dead_letter`: what reaches them was not delivered."""
        return {t for c in self.nodes.values() if (t := c.node_references().get("dead_letter")) is not None}

    def delivery_sinks(self) -> list[str]:
        """Sinks whose arrivals count as delivered (every sink but the dead-letter ones)."""
        dead = self.dead_letter_sinks()
        return [name for name in self.sinks() if name not in dead]
