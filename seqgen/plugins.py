"""The plugin manager: loads plugins and collects the cells they register.

The built-in cells come through the same hook as a third-party package's: the module
``seqgen.builtin_cells`` is registered here exactly as an entry point's module would be.
"""

import importlib.metadata
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import pluggy

from seqgen import __version__, builtin_cells, hookspecs
from seqgen.cells import StackCell, StepCell
from seqgen.errors import SeqgenError, UsageError

ENTRY_POINT_GROUP = "seqgen"
BUILTIN_PLUGIN = "seqgen.builtin_cells"

pm = pluggy.PluginManager("seqgen")
pm.add_hookspecs(hookspecs)

# plugin name -> (distribution, version) it came from
_distributions: dict[str, tuple[str, str]] = {BUILTIN_PLUGIN: ("seqgen", __version__)}
load_errors: dict[str, str] = {}
_entry_points_loaded = False


@dataclass(frozen=True)
class CellSpec:
    """A registered cell: its class and where it came from."""

    name: str
    cls: type
    description: str
    plugin: str
    distribution: str
    version: str
    options: dict[str, object] = field(default_factory=dict)


def load_entry_point_plugins() -> None:
    """Register every module of the ``seqgen`` entry-point group, one at a time.

    A plugin that fails to import is reported on stderr and skipped; the others still load.
    Runs once, on first use of the registry: plugins import seqgen, so not at its import.
    """
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.has_plugin(ep.name):
            continue
        dist = ep.dist.name if ep.dist else ep.value
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:  # a broken plugin must not take seqgen down
            load_errors[ep.name] = f"{type(exc).__name__}: {exc}"
            print(f"seqgen: plugin {dist} failed to load: {exc}", file=sys.stderr)
            continue
        _distributions[ep.name] = (dist, ep.dist.version if ep.dist else "unknown")


def plugin_distribution(plugin_name: str) -> tuple[str, str]:
    """The (distribution, version) that provided a plugin; unknown for ad-hoc registrations."""
    return _distributions.get(plugin_name, (plugin_name, "unknown"))


def cell_options(cls: type) -> dict[str, object]:
    """The options a cell class takes: its keyword constructor parameters and their defaults."""
    skip = {"self", "input_size", "hidden_size", "num_layers", "dropout"}
    params = inspect.signature(cls.__init__).parameters.values()
    return {
        p.name: (None if p.default is inspect.Parameter.empty else p.default)
        for p in params
        if p.name not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def cells() -> dict[str, CellSpec]:
    """Every registered cell, by name, asking each plugin's ``register_cells`` hook."""
    load_entry_point_plugins()
    found: dict[str, CellSpec] = {}
    for impl in pm.hook.register_cells.get_hookimpls():
        impl.function(register=cell_registrar(found, impl.plugin_name))
    return found


def cell_registrar(found: dict[str, CellSpec], plugin: str) -> Callable[..., None]:
    """The ``register`` function handed to one plugin: it files cells under that plugin."""
    dist, version = plugin_distribution(plugin)

    def register(name: str, cell_class: type, description: str = "") -> None:
        if not (isinstance(cell_class, type) and issubclass(cell_class, StepCell | StackCell)):
            raise SeqgenError(f"plugin {dist} registered cell {name!r} with {cell_class!r}, "
                              "which is not a seqgen.StepCell or seqgen.StackCell subclass")
        if name in found:
            raise SeqgenError(f"cell {name!r} is registered twice: by {found[name].distribution} "
                              f"and by {dist}; uninstall one of them")
        found[name] = CellSpec(name, cell_class, description, plugin, dist, version,
                               cell_options(cell_class))

    return register


def get_cell(name: str) -> CellSpec:
    """The cell registered as ``name``, or a usage error listing those that exist."""
    registry = cells()
    if name not in registry:
        raise UsageError(
            f"unknown cell {name!r}; available cells: {', '.join(sorted(registry))} "
            "(see `seqgen cells`)"
        )
    return registry[name]


pm.register(builtin_cells, name=BUILTIN_PLUGIN)
