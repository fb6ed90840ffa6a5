"""The one registry of node kinds: flowsim's own, and those other packages ship.

A kind is a ``NodeConfig`` subclass with a ``kind: Literal["..."]`` field.  flowsim's kinds are
the modules of ``flowsim.nodes`` (each decorates its config with ``@register``); another package
adds kinds by naming their config classes in the ``flowsim.kinds`` entry-point group::

    [project.entry-points."flowsim.kinds"]
    echo = "mypackage.echo:EchoConfig"

Kinds are loaded on first use, not when this module is imported: ``kind_config(name)`` imports
only the module of the kind a document names (a file with three kinds builds three kinds'
models, not all of them: start-up time), ``kinds()`` loads them all.  A plugin cannot replace
a built-in kind: ``kinds()`` (and ``flowsim kinds``) reports such a clash.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points
from typing import Any, TypeVar

from flowsim.errors import FlowsimError
from flowsim.nodes.base import NodeConfig

ENTRY_POINT_GROUP = "flowsim.kinds"
_KINDS: dict[str, type[NodeConfig]] = {}
_ORIGIN: dict[str, str] = {}
_SKIP = {"base", "registry"}
_loaded = False
C = TypeVar("C", bound=type[NodeConfig])


def kind_name(config_cls: type[NodeConfig]) -> str:
    field = config_cls.model_fields.get("kind")
    args: tuple[Any, ...] = getattr(field.annotation, "__args__", ()) if field is not None else ()
    if len(args) != 1 or not isinstance(args[0], str):
        raise TypeError(f"{config_cls.__name__}.kind must be a Literal of one string, e.g. kind: Literal['echo']")
    return args[0]


def register(config_cls: C, origin: str = "flowsim") -> C:
    """Class decorator: make a node kind known to the loader, the engine and the CLI."""
    name = kind_name(config_cls)
    if name in _KINDS and _KINDS[name] is not config_cls:
        raise FlowsimError(
            f"node kind '{name}' is registered twice: by {_ORIGIN[name]} and by {origin}; rename one of them"
        )
    _KINDS[name] = config_cls
    _ORIGIN[name] = origin
    return config_cls


def _load_builtin() -> None:
    import flowsim.nodes as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in _SKIP and not module.name.startswith("_"):
            importlib.import_module(f"flowsim.nodes.{module.name}")


def _load_plugins() -> None:
    for point in entry_points(group=ENTRY_POINT_GROUP):
        origin = f"the '{point.name}' entry point of {point.dist.name if point.dist else 'an installed package'}"
        try:
            config_cls = point.load()
        except Exception as err:  # a plugin's own import error: say whose it is
            raise FlowsimError(f"cannot load node kind from {origin} ({point.value}): {err}") from None
        if not (isinstance(config_cls, type) and issubclass(config_cls, NodeConfig)):
            raise FlowsimError(f"{origin} names {point.value}, which is not a flowsim NodeConfig subclass")
        try:
            register(config_cls, origin)
        except TypeError as err:
            raise FlowsimError(f"{origin}: {err}") from None


def _builtin(name: str) -> type[NodeConfig] | None:
    """The built-in kind `name` (its module is named after it), imported on first use."""
    if name in _KINDS or name in _SKIP or name.startswith("_") or not name.isidentifier():
        return _KINDS.get(name)
    try:
        importlib.import_module(f"flowsim.nodes.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"flowsim.nodes.{name}":
            raise  # the kind's module exists but one of its imports does not
    return _KINDS.get(name)


def kind_config(name: str) -> type[NodeConfig] | None:
    """The config class of kind `name`, or None when no package defines it.

    Built-in kinds load alone; a name that is not built in loads the plugins (and every kind).
    """
    return _builtin(name) or kinds().get(name)


def kinds() -> dict[str, type[NodeConfig]]:
    """Every node kind by name: flowsim's own, then those of installed plugins (loaded once)."""
    global _loaded
    if not _loaded:
        _load_builtin()
        _load_plugins()
        _loaded = True
    return dict(sorted(_KINDS.items()))
