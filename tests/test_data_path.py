"""Loading a corpus runs down the data layer: each module calls only modules below it on the
path, never one that called it (no module is entered again on the way down).

A call counts when it enters a module's named function or method; what a module hands down to
be called back (a nested function, a lambda, a generator it iterates) runs as that module's
own work, not as a climb back into it. The plugins are imported before, so that importing
them is not counted either."""

import inspect
import sys
from pathlib import Path

import pytest

from seqgen.config import TrainConfig
from seqgen.training.runs import load_run_corpus

ROOT = Path(__file__).resolve().parent.parent
DATA = "seqgen.data"


def data_module(frame) -> str | None:
    name = frame.f_globals.get("__name__", "")
    return name if name.startswith(DATA) else None


def handed_down(frame) -> bool:
    """Code a caller passed on to be called back: a nested function, a lambda, a generator
    or a comprehension."""
    code = frame.f_code
    return "<" in code.co_qualname or bool(code.co_flags & (inspect.CO_GENERATOR |
                                                          inspect.CO_ASYNC_GENERATOR))


def call_edges(load) -> set[tuple[str, str]]:
    """(caller, callee) of every call from one data module into another while ``load`` runs
    (calls through other layers between them count as from the last data module)."""
    edges: set[tuple[str, str]] = set()

    def profile(frame, event, arg):
        if event != "call":
            return
        callee = data_module(frame)
        if callee is None or handed_down(frame):
            return
        caller = frame.f_back
        while caller is not None and data_module(caller) is None:
            caller = caller.f_back
        if caller is not None and data_module(caller) != callee:
            edges.add((data_module(caller), callee))

    sys.setprofile(profile)
    try:
        load()
    finally:
        sys.setprofile(None)
    return edges


def cycles(edges: set[tuple[str, str]]) -> list[str]:
    """Each module reached again from a module it calls, as the path that comes back."""
    graph: dict[str, set[str]] = {}
    for caller, callee in edges:
        graph.setdefault(caller, set()).add(callee)
    found = []

    def walk(module: str, path: list[str]) -> None:
        for callee in sorted(graph.get(module, ())):
            if callee in path:
                found.append(" -> ".join([*path[path.index(callee):], callee]))
            else:
                walk(callee, [*path, callee])

    for start in sorted(graph):
        walk(start, [start])
    return found


@pytest.mark.parametrize(("corpus", "settings"), [
    ("corpora/shakespeare", {}),
    ("corpora/names", {"arch": "one-to-many"}),
    ("corpora/names", {"arch": "many-to-one"}),
    ("corpora/bach-chorales", {}),
    ("corpora/numbers/pairs.tsv", {"arch": "encoder-decoder"}),
    ("corpora/chorale-harmony", {"arch": "encoder-decoder"}),
], ids=["stream", "items", "labelled items", "midi files", "text pairs", "midi pairs"])
def test_loading_a_corpus_enters_each_data_module_once_on_its_way_down(corpus, settings,
                                                                      tmp_path, monkeypatch):
    config = TrainConfig(**settings)
    load_run_corpus(ROOT / corpus, config)  # the plugins imported, then a load that encodes:
    monkeypatch.setenv("SEQGEN_CACHE_DIR", str(tmp_path))
    edges = call_edges(lambda: load_run_corpus(ROOT / corpus, config))
    assert edges, "the load never went through the data layer"
    found = cycles(edges)
    assert not found, "\n".join(found)


def test_the_check_finds_a_module_entered_again():
    edges = {("seqgen.data.pairs", "seqgen.data.corpus"),
             ("seqgen.data.corpus", "seqgen.data.pairs")}
    assert cycles(edges) == ["seqgen.data.corpus -> seqgen.data.pairs -> seqgen.data.corpus",
                             "seqgen.data.pairs -> seqgen.data.corpus -> seqgen.data.pairs"]
