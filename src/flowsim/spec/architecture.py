"""The architecture file: named nodes of registered kinds, and the edges between them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Union, cast

from pydantic import (
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from flowsim.nodes._airflow_installation import AirflowSettings, merged_settings
from flowsim.nodes.base import NodeConfig
from flowsim.nodes.registry import kind_config, kinds
from flowsim.specmodel import AlsoAccepts, SpecModel
from flowsim.units import Number


def _by_kind(value: Any, info: core_schema.ValidationInfo) -> NodeConfig:
    """Validate one node with the model of the kind it names, as a discriminated union would.

    Only the kinds a document uses get their models built (and their modules imported): a
    union of every kind would build them all on the first load, most of flowsim's start-up.
    """
    if isinstance(value, NodeConfig):
        return value
    if not isinstance(value, dict):
        raise PydanticCustomError("model_attributes_type", "Input should be a valid dictionary or object")
    if "kind" not in value:
        raise PydanticCustomError(
            "union_tag_not_found", "Unable to extract tag using discriminator 'kind'",
            {"discriminator": "'kind'", "expected_tags": _expected()},
        )  # fmt: skip
    tag = value["kind"]
    config_cls = kind_config(tag) if isinstance(tag, str) else None
    if config_cls is None:
        raise PydanticCustomError(
            "union_tag_invalid",
            "Input tag {tag!r} found using 'kind' does not match any of the expected tags: {expected_tags}",
            {"discriminator": "'kind'", "tag": str(tag), "expected_tags": _expected()},
        )
    return config_cls.model_validate(value, context=info.context)  # the loader's context: file, base dir


def _expected() -> str:
    return ", ".join(repr(name) for name in kinds())


class _NodeByKind:
    """The type of a node in `Architecture.nodes`: any registered kind, chosen by `kind`."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.with_info_plain_validator_function(_by_kind)

    @classmethod
    def resolve(cls, data: Any) -> type[NodeConfig] | None:
        """The model `data` is validated with (for locating errors in it)."""
        tag = data.get("kind") if isinstance(data, dict) else None
        return kind_config(tag) if isinstance(tag, str) else None

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """The schema is the discriminated union of every kind (built only when asked for)."""
        union: Any = Annotated[Union[tuple(kinds().values())], Field(discriminator="kind")]  # noqa: UP007
        return handler(TypeAdapter(union).core_schema)


if TYPE_CHECKING:
    from flowsim.nodes.airflow_dag import AirflowDagConfig

    NodeSpec = NodeConfig
else:
    NodeSpec = Annotated[NodeConfig, _NodeByKind]

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


Edge = Annotated[EdgeSpec, BeforeValidator(_edge_shorthand), AlsoAccepts({"type": "string", "pattern": _ARROW.pattern})]


class Architecture(SpecModel):
    """A platform as a graph of nodes (services, topics, sinks, ...) and data edges."""

    name: str = Field(min_length=1)
    description: str = ""
    nodes: dict[str, NodeSpec] = Field(min_length=1)
    edges: list[Edge] = Field(default=[])
    airflow: AirflowSettings = Field(
        default_factory=lambda: AirflowSettings(),
        description="the Airflow installation its DAGs share: pools, parallelism, default_pool slots",
    )

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

    @model_validator(mode="after")
    def _one_installation(self) -> Architecture:
        """Every airflow_dag runs in the one installation: the airflow block plus all DAGs' pools."""
        dags = self.dags()
        settings = merged_settings(self.airflow, [dag.pools for dag in dags.values()])
        periods: dict[str, float] = {}
        for _ in dags:  # producers first: a chain of dataset-scheduled DAGs settles in as many passes
            for dag in dags.values():
                dag.join(settings, periods)
                for dataset in dag.outlets:
                    periods[dataset] = max(periods.get(dataset, 0.0), dag.mean_period())
        return self

    def dags(self) -> dict[str, AirflowDagConfig]:
        """The airflow_dag nodes, by name (found by kind: their module loads only when one is used)."""
        return {name: cast("AirflowDagConfig", c) for name, c in self.nodes.items() if c.kind == "airflow_dag"}

    def control_nodes(self) -> set[str]:
        """Nodes that only control payloads reach: every data edge into them comes from a kind that
        `emits_control` (training's model versions) or from another such node (the registry)."""
        feeds: dict[str, list[str]] = {name: [] for name in self.nodes}
        sends: dict[str, list[str]] = {name: [] for name in self.nodes}
        for edge in self.edges:
            if edge.to in feeds:
                feeds[edge.to].append(edge.from_)
                if edge.from_ in sends:
                    sends[edge.from_].append(edge.to)
        # a node joins once each of its in-edges comes from an emitter or a member: counted down
        # edge by edge (O(nodes + edges)), not by passes over every node until nothing changes
        waiting = {n: sum(not (s in self.nodes and self.nodes[s].emits_control) for s in f) for n, f in feeds.items()}
        ready = [n for n, f in feeds.items() if f and waiting[n] == 0]
        control: set[str] = set()
        while ready:
            name = ready.pop()
            if name in control:
                continue
            control.add(name)
            for target in sends[name]:
                if not self.nodes[name].emits_control:  # an emitter's edges were never waited for
                    waiting[target] -= 1
                    if waiting[target] == 0:
                        ready.append(target)
        return control

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
        dead = self.dead_letter_sinks() | self.control_nodes()
        return [name for name in self.sinks() if name not in dead]
