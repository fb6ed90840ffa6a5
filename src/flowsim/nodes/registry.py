"""The one registry of node kinds.

A kind is a module in ``flowsim.nodes`` that defines a ``NodeConfig`` subclass with a
``kind: Literal["..."]`` field and decorates it with ``@register``.  Modules are discovered by
name, so adding a kind means adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, TypeVar

from flowsim.nodes.base import NodeConfig

_KINDS: dict[str, type[NodeConfig]] = {}
_SKIP = {"base", "registry"}
C = TypeVar("C", bound=type[NodeConfig])


def kind_name(config_cls: type[NodeConfig]) -> str:
    field = config_cls.model_fields["kind"]
    args: tuple[Any, ...] = getattr(field.annotation, "__args__", ())
    if len(args) != 1 or not isinstance(args[0], str):
        raise TypeError(f"{config_cls.__name__}.kind must be a Literal of one string")
    return args[0]


def register(config_cls: C) -> C:
    """Class decorator: make a node kind known to the loader, the engine and the CLI."""
    name = kind_name(config_cls)
    if name in _KINDS and _KINDS[name] is not config_cls:
        raise ValueError(f"node kind {name!r} is registered twice")
    _KINDS[name] = config_cls
    return config_cls


def discover() -> dict[str, type[NodeConfig]]:
    """Import every module of the nodes package once and return the kinds by name."""
    import flowsim.nodes as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in _SKIP and not module.name.startswith("_"):
            importlib.import_module(f"flowsim.nodes.{module.name}")
    return dict(sorted(_KINDS.items()))


def kinds() -> dict[str, type[NodeConfig]]:
    return discover()
