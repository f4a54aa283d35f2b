"""The package's layers: every import runs down (or within a layer), and no import is part of
a cycle. Imports inside functions and under TYPE_CHECKING count too.

    top (seqgen/*.py, no torch)  <  data  <  nn, media  <  training  <  tasks  <  cli

Two modules stand apart: ``seqgen/__init__.py`` and ``__main__.py``, the public face (lazy
exports of every layer, and the entry point). The built-in plugins live in their layers
(``seqgen/nn/builtin.py``, ``seqgen/data/codecs/builtin.py``, ``seqgen/tasks/builtin.py``): the
plugin manager registers them by name, as it loads an entry point's module, without importing
them.

The benchmark scripts (``benchmarks/``) have no layers, but no import of theirs is part of a
cycle either: ``benchmarks.__main__`` (the registry of suites) -> the suites -> ``common``.
"""

import ast
from pathlib import Path

import benchmarks
import seqgen

PACKAGE = Path(seqgen.__file__).parent
BENCHMARKS = Path(benchmarks.__file__).parent
MAY_IMPORT = {
    "top": {"top"},
    "data": {"top", "data"},
    "nn": {"top", "data", "nn"},
    "media": {"top", "data", "media"},
    "training": {"top", "data", "nn", "media", "training"},
    "tasks": {"top", "data", "nn", "media", "training", "tasks"},
    "cli": {"top", "data", "nn", "media", "training", "tasks", "cli"},
}
APART = {"seqgen", "seqgen.__main__"}


def module_names(root: Path = PACKAGE) -> list[str]:
    """The dotted names of the modules of the package in folder ``root``."""
    return sorted(".".join((root.name, *path.relative_to(root).with_suffix("").parts))
                  .removesuffix(".__init__") for path in root.rglob("*.py"))


def source(module: str, root: Path = PACKAGE) -> Path:
    path = root.joinpath(*module.split(".")[1:])
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in MAY_IMPORT) \
        else "top"


def imports(module: str, known: set[str], root: Path = PACKAGE) -> set[str]:
    """The modules of its package (``known``) a module imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(source(module, root).read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in known and name != module}
    return found


def graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Each module of the package in folder ``root``: the modules of that package it imports."""
    names = module_names(root)
    return {name: imports(name, set(names), root) for name in names}


def cycles(edges: dict[str, set[str]]) -> list[str]:
    """Every import cycle of ``edges`` (module -> the modules it imports) a depth-first walk
    meets, as ``a -> b -> a``."""
    found = []

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(edges[module]):
            if target in path:
                found.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in done:
                visit(target, path + [target])
        done.add(module)

    done: set[str] = set()
    for module in sorted(edges):
        if module not in done:
            visit(module, [module])
    return found


def test_every_import_runs_down_or_within_a_layer():
    upward = [f"{module} ({layer(module)}) imports {target} ({layer(target)})"
              for module, targets in graph().items() if module not in APART
              for target in targets if target not in APART
              and layer(target) not in MAY_IMPORT[layer(module)]]
    assert not upward, "\n".join(upward)


def test_no_import_is_part_of_a_cycle():
    edges = {module: targets - APART for module, targets in graph().items()
             if module not in APART}
    found = cycles(edges)
    assert not found, "\n".join(found)


def test_no_benchmark_import_is_part_of_a_cycle():
    edges = graph(BENCHMARKS)
    assert {"benchmarks.suite", "benchmarks.common"} <= edges["benchmarks.__main__"]
    found = cycles(edges)
    assert not found, "\n".join(found)


def test_the_layers_are_what_the_tree_shows():
    names = module_names()
    assert {layer(name) for name in names} == set(MAY_IMPORT)
    assert "seqgen.data.corpus" in names and layer("seqgen.data.corpus") == "data"
    assert layer("seqgen.plugins") == "top" and layer("seqgen.cli") == "cli"


def test_the_data_layer_names_no_concrete_codec():
    """Codecs are known to the data layer through their contract alone: only the codecs'
    folder (their own modules, and the built-in plugin that registers them) names one."""
    named = [f"{module} names {word}" for module in module_names()
             if layer(module) == "data" and not module.startswith("seqgen.data.codecs.")
             for word in ("CharCodec", "MidiCodec", "MidiOptions", "PartsCodec", "BpeCodec",
                          "WordLevelCodec", "tokenizers", '"midi"', '"char"', '"parts"', '"bpe"',
                          '"words"')
             if word in source(module).read_text()]
    assert not named, "\n".join(named)
