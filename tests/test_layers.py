"""The package's layers: every import runs down (or within a layer), and no import is part of
a cycle. Imports inside functions and under TYPE_CHECKING count too.

    top (seqgen/*.py, no torch)  <  data  <  nn, media  <  training  <  cli

Two modules stand apart: ``seqgen/__init__.py`` and ``__main__.py`` are the public face (lazy
exports of every layer, and the entry point), and ``seqgen/builtins.py`` is the built-in
plugin: like any plugin it uses the library (inside its hooks), while the plugin manager
registers it.
"""

import ast
from pathlib import Path

import seqgen

PACKAGE = Path(seqgen.__file__).parent
MAY_IMPORT = {
    "top": {"top"},
    "data": {"top", "data"},
    "nn": {"top", "data", "nn"},
    "media": {"top", "data", "media"},
    "training": {"top", "data", "nn", "media", "training"},
    "cli": {"top", "data", "nn", "media", "training", "cli"},
}
APART = {"seqgen", "seqgen.__main__", "seqgen.builtins"}


def module_names() -> list[str]:
    return sorted(".".join(("seqgen", *path.relative_to(PACKAGE).with_suffix("").parts))
                  .removesuffix(".__init__") for path in PACKAGE.rglob("*.py"))


def source(module: str) -> Path:
    path = PACKAGE.joinpath(*module.split(".")[1:])
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in MAY_IMPORT) \
        else "top"


def imports(module: str, known: set[str]) -> set[str]:
    """The seqgen modules a module imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(source(module).read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in known and name != module}
    return found


def graph() -> dict[str, set[str]]:
    names = module_names()
    return {name: imports(name, set(names)) for name in names}


def test_every_import_runs_down_or_within_a_layer():
    upward = [f"{module} ({layer(module)}) imports {target} ({layer(target)})"
              for module, targets in graph().items() if module not in APART
              for target in targets if target not in APART
              and layer(target) not in MAY_IMPORT[layer(module)]]
    assert not upward, "\n".join(upward)


def test_no_import_is_part_of_a_cycle():
    edges = {module: targets - APART for module, targets in graph().items()
             if module not in APART}
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(edges[module]):
            if target in path:
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in done:
                visit(target, path + [target])
        done.add(module)

    done: set[str] = set()
    for module in sorted(edges):
        if module not in done:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_the_layers_are_what_the_tree_shows():
    names = module_names()
    assert {layer(name) for name in names} == set(MAY_IMPORT)
    assert "seqgen.data.corpus" in names and layer("seqgen.data.corpus") == "data"
    assert layer("seqgen.plugins") == "top" and layer("seqgen.cli") == "cli"


def test_the_data_layer_names_no_concrete_codec():
    """Codecs are known to the data layer through their contract alone: only the codecs'
    own modules name one."""
    own = {"seqgen.data.chars", "seqgen.data.midi", "seqgen.data.parts", "seqgen.data.subwords"}
    named = [f"{module} names {word}" for module in module_names()
             if layer(module) == "data" and module not in own
             for word in ("CharCodec", "MidiCodec", "MidiOptions", "PartsCodec", "BpeCodec",
                          "WordLevelCodec", "tokenizers", '"midi"', '"char"', '"parts"', '"bpe"',
                          '"words"')
             if word in source(module).read_text()]
    assert not named, "\n".join(named)
