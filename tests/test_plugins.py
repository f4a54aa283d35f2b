"""Plugins from entry points (packages installed for a test), and a broken one that must not
break seqgen. The example packages in plugins/ have their own tests."""

import json
import re
import shutil
import sys

import pytest
import torch
from typer.testing import CliRunner

import seqgen
from seqgen import plugins
from seqgen.cli import app
from seqgen.data.codecs.base import codecs
from seqgen.nn.cells import cells
from seqgen.training.checkpoint import load_checkpoint
from tests.conftest import TinyCell

runner = CliRunner()


PLUGIN_MODULE = """
import seqgen
from tests.conftest import TinyCell


@seqgen.hookimpl
def register_cells(register):
    register({cell!r}, TinyCell, description="a cell from an installed package")
"""


@pytest.fixture
def install(tmp_path, monkeypatch):
    """Install fake plugin distributions for one test: an entry point in the ``seqgen`` group
    and its module, found on sys.path as pip would leave them. Entry points load anew in the
    test; the plugins it registered, and their modules, are gone after it."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    monkeypatch.setattr(plugins, "load_errors", {})
    monkeypatch.setattr(plugins, "_distributions", dict(plugins._distributions))
    before = {name for name, _ in plugins.pm.list_name_plugin()}
    modules = []

    def install_one(dist: str, version: str, entry: str, source: str) -> None:
        module = f"{entry}_module"
        info = tmp_path / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\n"
                                       f"Version: {version}\n")
        (info / "entry_points.txt").write_text(f"[seqgen]\n{entry} = {module}\n")
        (tmp_path / f"{module}.py").write_text(source)
        modules.append(module)

    yield install_one
    for name, _ in plugins.pm.list_name_plugin():
        if name not in before:
            plugins.pm.unregister(name=name)
    for module in modules:
        sys.modules.pop(module, None)


def install_cell(install, dist: str, version: str, cell: str) -> None:
    """A package whose entry point ``cell`` registers the cell ``cell``."""
    install(dist, version, cell, PLUGIN_MODULE.format(cell=cell))


def test_a_plugin_package_is_loaded_from_its_entry_point(install, monkeypatch):
    install_cell(install, "seqgen-tinycell", "0.3.0", "tinycell")
    monkeypatch.setenv("SEQGEN_LOAD_PLUGINS", "seqgen-tinycell")
    spec = cells()["tinycell"]
    assert spec.cls is TinyCell
    assert (spec.distribution, spec.version, spec.plugin) == ("seqgen-tinycell", "0.3.0",
                                                              "tinycell")
    assert spec.options == {"gain": 1.0}
    assert "seqgen-tinycell 0.3.0" in runner.invoke(app, ["cells"]).stdout


def test_a_plugin_cell_trains_samples_and_is_recorded_in_the_checkpoint(tiny_cell, tiny_corpus,
                                                                        tmp_path):
    result = runner.invoke(app, ["train", str(tiny_corpus), "--cell", tiny_cell, "--layers", "2",
                                 "--hidden", "12", "--batch-size", "4", "--seq-len", "8",
                                 "--steps", "4", "--cell-opt", "gain=0.5",
                                 "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run/best/config.json").read_text())
    assert config["cell"] == {"name": "tiny", "plugin": "tiny-plugin",
                              "distribution": "tiny-plugin", "version": "unknown"}
    assert config["model"]["cell_options"] == {"gain": 0.5}
    assert load_checkpoint(tmp_path / "run").model.stack.layers[0].gain == 0.5
    sample = runner.invoke(app, ["sample", str(tmp_path / "run"), "--length", "10",
                                 "--primer", "All", "--seed", "1"])
    assert sample.exit_code == 0 and sample.stdout.startswith("All")


def test_a_broken_plugin_is_reported_and_the_rest_still_work(install, monkeypatch, capsys):
    install("seqgen-broken", "0.1", "broken", "raise RuntimeError('boom at import')\n")
    install_cell(install, "seqgen-fine", "0.2", "fine")
    monkeypatch.setenv("SEQGEN_LOAD_PLUGINS", "seqgen-broken,seqgen-fine")
    registry = cells()
    err = capsys.readouterr().err
    assert err.count("seqgen-broken") == 1 and "boom at import" in err
    assert {"vanilla", "gru", "lstm", "fine"} <= set(registry)
    assert "boom at import" in plugins.load_errors["broken"]


# ---- isolation, selection and listing ---------------------------------------------------------


class RaisingPlugin:
    @staticmethod
    @seqgen.hookimpl
    def register_cells(register):
        raise RuntimeError("boom while registering")


def test_a_plugin_raising_while_registering_is_reported_once_and_skipped(
        register_plugin, tiny_cell, monkeypatch, capsys):
    monkeypatch.setattr(plugins, "load_errors", {})
    register_plugin(RaisingPlugin, "raising")
    first, second = cells(), cells()
    err = capsys.readouterr().err
    assert err.count("boom while registering") == 1 and "raising" in err
    assert {"vanilla", "gru", "lstm", tiny_cell} <= set(first) == set(second)
    listed = runner.invoke(app, ["plugins", "--all"])
    assert "broken: RuntimeError: boom while registering" in " ".join(listed.stdout.split())


def test_seqgen_load_plugins_chooses_the_distributions(install, monkeypatch):
    install_cell(install, "seqgen-alpha", "1.0", "alpha")
    install_cell(install, "seqgen-beta", "1.0", "beta")

    def load(env: str | None) -> set[str]:
        for name in ("alpha", "beta"):
            if plugins.pm.has_plugin(name):
                plugins.pm.unregister(name=name)
        monkeypatch.setattr(plugins, "_entry_points_loaded", False)
        if env is None:
            monkeypatch.delenv("SEQGEN_LOAD_PLUGINS", raising=False)
        else:
            monkeypatch.setenv("SEQGEN_LOAD_PLUGINS", env)
        plugins.load_entry_point_plugins()
        return set(cells())

    assert {"alpha", "beta"} & load("") == set() and "vanilla" in load("")
    assert {"alpha", "beta"} & load("seqgen_alpha") == {"alpha"}
    assert {"alpha", "beta"} & load("seqgen-beta, Seqgen.Alpha") == {"alpha", "beta"}
    assert {"alpha", "beta"} <= load(None)


def test_plugins_lists_the_installed_packages_and_all_adds_the_builtins(install, monkeypatch):
    install_cell(install, "seqgen-alpha", "1.0", "alpha")
    monkeypatch.setenv("SEQGEN_LOAD_PLUGINS", "seqgen-alpha")
    listed = runner.invoke(app, ["plugins"]).stdout
    row = next(line for line in listed.splitlines() if "seqgen-alpha" in line)
    columns = [cell.strip() for cell in row.split("│")[1:-1]]
    assert columns == ["alpha", "seqgen-alpha 1.0", "register_cells", "alpha", "-", "-", "ok"]
    assert "builtin" not in listed
    everything = " ".join(runner.invoke(app, ["plugins", "--all"]).stdout.split())
    assert "char, midi" in everything and "gru, lstm, vanilla" in everything
    assert "encoder-decoder, many-to-many, many-to-one, one-to-many" in everything
    assert "seqgen-alpha 1.0" in everything


class CommandPlugin:
    @staticmethod
    @seqgen.hookimpl
    def register_commands(app):
        @app.command("hello")
        def hello(name: str = "world") -> None:
            """Say hello."""
            print(f"hello {name}")


def test_a_plugin_adds_a_command(register_plugin):
    register_plugin(CommandPlugin, "command-plugin")
    before = len(app.registered_commands)
    plugins.add_commands(app)
    try:
        result = runner.invoke(app, ["hello", "--name", "seqgen"])
        assert result.exit_code == 0 and result.stdout == "hello seqgen\n"
    finally:
        del app.registered_commands[before:]


# ---- a codec plugin ----------------------------------------------------------------------------


class WordCodec(seqgen.TextCodec):
    """Words, spaces and punctuation as tokens."""

    name = "plainwords"

    def __init__(self, vocab: list[str], specials: bool = False) -> None:
        self.vocab, self.specials = vocab, specials
        self.offset = 3 if specials else 0
        self.index = {word: i + self.offset for i, word in enumerate(vocab)}

    @staticmethod
    def split(text: str) -> list[str]:
        return re.findall(r"\w+|\W", text)

    @classmethod
    def fit(cls, text: str, specials: bool = False, lowercase: bool = False) -> "WordCodec":
        return cls(sorted(set(cls.split(text))), specials)

    @property
    def size(self) -> int:
        return len(self.vocab) + self.offset

    def encode(self, text: str, what: str = "text") -> torch.Tensor:
        unknown = [w for w in self.split(text) if w not in self.index]
        if unknown:
            raise seqgen.UsageError(f"{what} has unknown words: {unknown[:3]}")
        return torch.tensor([self.index[w] for w in self.split(text)], dtype=torch.long)

    def decode(self, ids) -> str:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        return "".join(self.vocab[i - self.offset] for i in ids if i >= self.offset)

    def to_json(self) -> dict:
        return {"name": self.name, "vocab": self.vocab, "specials": self.specials}

    @classmethod
    def from_json(cls, data: dict) -> "WordCodec":
        return cls(data["vocab"], data["specials"])


class WordPlugin:
    @staticmethod
    @seqgen.hookimpl
    def register_codecs(register):
        register("plainwords", WordCodec, description="word-level text")


def test_a_codec_plugin_trains_samples_and_is_remembered(register_plugin, tiny_corpus,
                                                         tmp_path):
    register_plugin(WordPlugin, "word-plugin")
    assert codecs()["plainwords"].options == {"lowercase": False}
    result = runner.invoke(app, ["train", str(tiny_corpus), "--format", "plainwords", "--hidden",
                                 "12", "--batch-size", "2", "--seq-len", "8", "--steps", "3",
                                 "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run/best/config.json").read_text())
    assert config["codec"]["name"] == "plainwords"
    assert config["codec_plugin"] == {"format": "plainwords", "distribution": "word-plugin",
                                      "version": "unknown"}
    sample = runner.invoke(app, ["sample", str(tmp_path / "run"), "--primer", "Speak",
                                 "--length", "6", "--seed", "1"])
    assert sample.exit_code == 0 and sample.stdout.startswith("Speak")
    plugins.pm.unregister(name="word-plugin")
    try:
        missing = runner.invoke(app, ["sample", str(tmp_path / "run")])
        assert missing.exit_code == 1
        assert "needs the codec 'plainwords' from the package word-plugin" in missing.output
    finally:
        plugins.pm.register(WordPlugin, name="word-plugin")


def test_unknown_format_lists_the_codecs(tiny_corpus, tmp_path):
    result = runner.invoke(app, ["train", str(tiny_corpus), "--format", "musicxml",
                                 "--out", str(tmp_path / "run")])
    # the list has the installed plugins' codecs too (seqgen-abc's abc)
    assert result.exit_code == 2 and "unknown format 'musicxml'; available: " in result.output
    listed = " ".join(result.output.split()).split("available: ")[1]
    names, _, hint = listed.partition(" (")
    assert hint == "see `seqgen plugins --all`)"
    names = names.split(", ")
    assert names == sorted(names) and {"bpe", "char", "midi", "parts", "words"} <= set(names)


def test_a_version_change_of_the_cell_plugin_is_a_warning(trained_run, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(trained_run / "best", copy)
    config = json.loads((copy / "config.json").read_text())
    config["cell"]["version"] = "0.0.1"
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.warns(UserWarning, match="made with seqgen 0.0.1; .* is installed"):
        load_checkpoint(copy)
