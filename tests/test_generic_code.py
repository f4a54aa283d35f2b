"""Generic code asks the objects: no branch on a shape or on a kind of codec or corpus.

A shape is a task (``seqgen/tasks``), a kind of codec is a codec (``seqgen/data/codecs``):
everything else asks them (``get_task(config.arch)``, ``ckpt.task``, ``codec.reads_text``)
instead of testing which one it has. So a new shape or codec is one new object, not branches
across the tree. This test reads the source and names every branch it finds.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "seqgen"
# Where shapes and kinds of codec are known by name.
OWNERS = (PACKAGE / "tasks", PACKAGE / "data" / "codecs")
TASK_NAMES = {"many-to-many", "one-to-many", "encoder-decoder", "many-to-one"}
KIND_NAMES = {"TextCodec", "FileCodec", "CharCodec", "MidiCodec", "PartsCodec", "BpeCodec",
              "WordLevelCodec", "PairCorpus", "TextCorpus", "TextItemCorpus", "FileCorpus",
              "ItemCorpus", "LabelledItems", "Seq2Seq", "Generator", "Classifier"}
# Attributes that stand in for a shape when compared with None.
SHAPE_STAND_INS = {"source_codec", "source"}


def generic_modules() -> list[Path]:
    return [path for path in sorted(PACKAGE.rglob("*.py"))
            if not any(owner in path.parents for owner in OWNERS)]


def names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | \
        {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}


def constants(node: ast.expr) -> set:
    """The constants a compared operand is or holds (a tuple of names, say)."""
    items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    return {item.value for item in items if isinstance(item, ast.Constant)}


def is_own(node: ast.expr) -> bool:
    """An attribute of ``self``: an object asking about itself is not a branch on a kind."""
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
        and node.value.id == "self"


def compared(node: ast.Compare) -> str | None:
    """What a comparison tests of a shape, if anything."""
    parts = [node.left, *node.comparators]
    names = set().union(*map(constants, parts)) & TASK_NAMES
    if names:
        return f"compares with {sorted(names)}"
    if any(isinstance(p, ast.Attribute) and p.attr == "arch" for p in parts):
        return "compares .arch"
    if None in set().union(*map(constants, parts)) and any(
            isinstance(p, ast.Attribute) and p.attr in SHAPE_STAND_INS and not is_own(p)
            for p in parts):
        return "tells the shape by a missing source"
    return None


def branches(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) of every test of a shape or a kind in ``tree``."""
    found = []
    for node in ast.walk(tree):
        what = compared(node) if isinstance(node, ast.Compare) else None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("isinstance", "issubclass") and len(node.args) == 2:
            kinds = names_in(node.args[1]) & KIND_NAMES
            what = f"{node.func.id} of {sorted(kinds)}" if kinds else None
        if what:
            found.append((node.lineno, what))
    return sorted(found)


def test_generic_code_names_no_shape_and_no_kind_of_codec_or_corpus():
    found = [f"{path.relative_to(PACKAGE.parent)}:{line}: {what}"
             for path in generic_modules()
             for line, what in branches(ast.parse(path.read_text(encoding="utf-8")))]
    assert not found, "\n".join(found)


def test_the_check_finds_each_kind_of_branch():
    source = """
if config.arch == "one-to-many": pass
if mode in ("encoder-decoder",): pass
if isinstance(corpus, PairCorpus | TextCorpus): pass
if issubclass(cls, seqgen.data.codecs.base.FileCodec): pass
if ckpt.source_codec is not None: pass
"""
    assert [line for line, _ in branches(ast.parse(source))] == [2, 3, 4, 5, 6]
