"""The plugin manager: loads plugins, collects what they register, and parses their options.

The built-ins come through the same hooks as a third-party package's: their modules (one per
layer: ``seqgen.nn.builtin``, ``seqgen.data.codecs.builtin``, ``seqgen.tasks.builtin``) are
registered by name, on first use, exactly as an entry point's module is (so this module imports
none of the classes it registers). Entry points load one at a time,
so one broken plugin is reported and the others still work; ``SEQGEN_LOAD_PLUGINS``
(comma-separated distribution names; empty: none) chooses which load.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import os
import sys
import tomllib
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pluggy

from seqgen import __version__, hookspecs
from seqgen.errors import SeqgenError, UsageError

ENTRY_POINT_GROUP = "seqgen"
# The built-in plugins, one per layer (cells, codecs, tasks), registered by module name.
BUILTINS = ("seqgen.nn.builtin", "seqgen.data.codecs.builtin", "seqgen.tasks.builtin")

pm = pluggy.PluginManager("seqgen")
pm.add_hookspecs(hookspecs)

# The example plugins of a source checkout (none where seqgen is installed from a wheel).
EXAMPLES = Path(__file__).resolve().parent.parent / "plugins"

# plugin name -> (distribution, version) it came from
_distributions: dict[str, tuple[str, str]] = {name: ("seqgen", __version__) for name in BUILTINS}
load_errors: dict[str, str] = {}  # plugin name -> what went wrong, reported once
registered_by: dict[str, str] = {}  # top-level package of a registered class -> its plugin
_entry_points_loaded = False


@dataclass(frozen=True)
class Spec:
    """A registered cell or codec: its class and where it came from."""

    name: str
    cls: type
    description: str
    plugin: str
    distribution: str
    version: str
    options: dict[str, object] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()  # earlier names it still answers to


def normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def wanted_distributions() -> set[str] | None:
    """The distributions ``SEQGEN_LOAD_PLUGINS`` allows (None: all of them)."""
    if "SEQGEN_LOAD_PLUGINS" not in os.environ:
        return None
    return {normalize(n.strip()) for n in os.environ["SEQGEN_LOAD_PLUGINS"].split(",")
            if n.strip()}


def load_entry_point_plugins() -> None:
    """Register every module of the ``seqgen`` entry-point group, one at a time.

    A plugin that fails to import is reported on stderr and skipped; the others still load.
    Runs once, on first use of a registry: plugins import seqgen, so not at its import.
    """
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for name in BUILTINS:
        if not pm.has_plugin(name):
            pm.register(importlib.import_module(name), name=name)
    wanted = wanted_distributions()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else ep.value
        if pm.has_plugin(ep.name) or (wanted is not None and normalize(dist) not in wanted):
            continue
        _distributions[ep.name] = (dist, ep.dist.version if ep.dist else "unknown")
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:  # a broken plugin must not take seqgen down
            report_broken(ep.name, "failed to load", exc)


def example_plugin_reading(suffix: str, examples: Path = EXAMPLES) -> Path | None:
    """The folder of the example plugin whose pyproject.toml declares that its codecs read
    ``suffix`` files (``[tool.seqgen] suffixes``); None where no example does."""
    for pyproject in sorted(examples.glob("*/pyproject.toml")):
        declared = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
        if suffix in declared.get("seqgen", {}).get("suffixes", ()):
            return pyproject.parent
    return None


def install_hint(suffixes: Iterable[str]) -> str:
    """How to read files of ``suffixes`` that no installed codec reads, where an example
    plugin does: ``; its .abc files are read by ... pip install -e plugins/seqgen-abc``."""
    for suffix in sorted(suffixes):
        if (folder := example_plugin_reading(suffix)) is not None:
            where = folder.relative_to(Path.cwd()) if folder.is_relative_to(Path.cwd()) \
                else folder
            return (f"; its {suffix} files are read by the example plugin {folder.name}, "
                    f"which is not installed: pip install -e {where}")
    return ""


def report_broken(plugin: str, what: str, exc: Exception) -> None:
    """Say once on stderr that a plugin is broken, and remember why."""
    if plugin in load_errors:
        return
    load_errors[plugin] = f"{type(exc).__name__}: {exc}"
    dist, _ = plugin_distribution(plugin)
    print(f"seqgen: plugin {dist} {what}: {exc}", file=sys.stderr)


def plugin_distribution(plugin_name: str) -> tuple[str, str]:
    """The (distribution, version) that provided a plugin; unknown for ad-hoc registrations."""
    return _distributions.get(plugin_name, (plugin_name, "unknown"))


def keyword_options(function: Callable, skip: int = 1) -> dict[str, object]:
    """The options a constructor (or ``fit``) takes: its keyword parameters after the first
    ``skip`` ones, with their defaults (None where there is none)."""
    params = list(inspect.signature(function).parameters.values())[skip:]
    return {p.name: None if p.default is p.empty else p.default
            for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def takes_any_option(function: Callable) -> bool:
    """Whether a constructor takes ``**options``: then any option name is its to judge."""
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(function).parameters.values())


def collect(hook_name: str, what: str, base: tuple[type, ...],
            options_of: Callable[[type], dict[str, object]]) -> dict[str, Spec]:
    """Ask every plugin's ``hook_name`` hook what it registers.

    A plugin whose hook raises is reported once and left out; two plugins registering one
    name is an error naming both.
    """
    load_entry_point_plugins()
    found: dict[str, Spec] = {}
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        dist, version = plugin_distribution(impl.plugin_name)
        mine: dict[str, Spec] = {}

        def register(name: str, cls: type, description: str = "",
                     aliases: tuple[str, ...] = ()) -> None:
            if not (isinstance(cls, type) and issubclass(cls, base)):  # noqa: B023
                kinds = " or ".join(f"seqgen.{b.__name__}" for b in base)  # noqa: B023
                raise TypeError(f"{what} {name!r} is {cls!r}, not a {kinds} subclass")
            mine[name] = Spec(name, cls, description, impl.plugin_name, dist,  # noqa: B023
                              version, options_of(cls), tuple(aliases))  # noqa: B023
            registered_by[cls.__module__.partition(".")[0]] = impl.plugin_name  # noqa: B023

        try:
            impl.function(register=register)
        except Exception as exc:
            report_broken(impl.plugin_name, f"raised while registering {what}s", exc)
            continue
        for name, spec in mine.items():
            if name in found:
                raise SeqgenError(f"{what} {name!r} is registered twice: by "
                                  f"{found[name].distribution} and by {spec.distribution}; "
                                  "uninstall one of them")
            found[name] = spec
    return found


def lookup(registry: dict[str, Spec], name: str, what: str, listed: str, see: str) -> Spec:
    """The spec registered as ``name`` (or with it as an alias), or a usage error listing
    those that exist."""
    for spec in registry.values():
        if name == spec.name or name in spec.aliases:
            return spec
    raise UsageError(f"unknown {what} {name!r}; {listed}: {', '.join(sorted(registry))} "
                     f"(see `{see}`)")


def warn_on_version_change(kind: str, recorded: dict, spec: Spec) -> None:
    """A checkpoint made with another version of a plugin may not load the same: say so."""
    version = recorded.get("version")
    if version and recorded.get("distribution") == spec.distribution and version != spec.version:
        warnings.warn(f"this checkpoint's {kind} {spec.name!r} was made with "
                      f"{spec.distribution} {version}; {spec.version} is installed",
                      stacklevel=3)


def failed_plugin(exc: BaseException) -> str | None:
    """The third-party plugin (distribution and version) whose code raised ``exc``: the
    innermost frame of its traceback in the package of a plugin's hook module or of a class
    it registered; None when no plugin's code was running."""
    hooks = {(getattr(plugin, "__name__", None) or type(plugin).__module__).partition(".")[0]:
             name for name, plugin in pm.list_name_plugin() if plugin is not None}
    owners = {package: name for package, name in {**registered_by, **hooks}.items()
              if name not in BUILTINS}
    owner = None
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        owner = owners.get(module.partition(".")[0], owner)
        tb = tb.tb_next
    return None if owner is None else " ".join(plugin_distribution(owner))


# ---- options: ``--cell-opt`` and ``--codec-opt`` ---------------------------------------------


def parse_option_value(text: str) -> object:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, ``"true"`` -> True; anything else stays a string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_options(pairs: list[str], flag: str = "--cell-opt", spec: Spec | None = None,
                  what: str = "cell") -> dict[str, object]:
    """``["activation=relu", "init=identity"]`` -> ``{"activation": "relu", "init": ...}``;
    with ``spec`` (a registered ``what``: a cell), names it does not take are a usage error
    listing those it does (``check_options``), before any work."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"bad {flag} {pair!r}: expected key=value, for example "
                             f"{flag} name=value")
        options[key.strip()] = parse_option_value(value.strip())
    if spec is not None:
        check_options(spec, options, f"{what} {spec.name!r}")
    return options


def check_options(spec: Spec, given: dict[str, object], what: str) -> None:
    """Options given to a registered class: names its constructor does not take are a usage
    error listing those it does (``its options: none`` where it takes none), unless it takes
    ``**options`` (then any name is its to judge)."""
    if not takes_any_option(spec.cls.__init__):
        check_option_names(given, spec.options, what)


def check_option_names(given: dict[str, object], known: dict[str, object], what: str) -> None:
    """Unknown option names are a usage error that lists the known ones with their defaults."""
    unknown = [k for k in given if k not in known]
    if unknown:
        listed = ", ".join(f"{k}={v}" for k, v in known.items()) or "none"
        raise UsageError(f"{what} has no option {', '.join(map(repr, unknown))}; "
                         f"its options: {listed}")


def add_commands(app) -> None:
    """Let every plugin add its commands to the CLI; a plugin that raises is skipped."""
    load_entry_point_plugins()
    for impl in pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(app=app)
        except Exception as exc:
            report_broken(impl.plugin_name, "raised while adding commands", exc)


@dataclass
class PluginInfo:
    """What ``seqgen plugins`` shows about one plugin."""

    name: str
    distribution: str
    version: str
    hooks: list[str]
    cells: list[str]
    codecs: list[str]
    tasks: list[str]
    error: str | None
    builtin: bool


def plugin_infos(cell_specs: dict[str, Spec], codec_specs: dict[str, Spec],
                 task_specs: dict[str, Spec]) -> list[PluginInfo]:
    """Every plugin seqgen knows, with the cells, codecs and tasks it registered (the
    registries given): the loaded ones, and the broken ones with their errors."""
    load_entry_point_plugins()
    names = [n for n, _ in pm.list_name_plugin()] + [n for n in load_errors
                                                      if not pm.has_plugin(n)]
    infos = []
    for name in dict.fromkeys(names):
        plugin = pm.get_plugin(name)
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin)) if plugin else []
        dist, version = plugin_distribution(name)
        infos.append(PluginInfo(
            name, dist, version, hooks,
            sorted(s.name for s in cell_specs.values() if s.plugin == name),
            sorted(s.name for s in codec_specs.values() if s.plugin == name),
            sorted(s.name for s in task_specs.values() if s.plugin == name),
            load_errors.get(name), name in BUILTINS))
    return infos
