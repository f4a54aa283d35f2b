"""Plugins from entry points: the example package, and a broken one that must not break seqgen."""

import json
import re
import shutil

import pytest
import torch
from typer.testing import CliRunner

import seqgen
from seqgen import plugins
from seqgen.checkpoint import load_checkpoint
from seqgen.cli import app
from seqgen.plugins import cells

runner = CliRunner()


def test_the_example_plugin_package_is_loaded_from_its_entry_point():
    # plugins/seqgen-mgu is pip-installed by the README's test command
    spec = cells()["mgu"]
    assert (spec.distribution, spec.version, spec.plugin) == ("seqgen-mgu", "0.1.0", "mgu")
    assert spec.options == {"forget_bias": 1.0}
    assert "seqgen-mgu 0.1.0" in runner.invoke(app, ["cells"]).stdout


def test_a_plugin_cell_trains_samples_and_is_recorded_in_the_checkpoint(tiny_corpus, tmp_path):
    result = runner.invoke(app, ["train", str(tiny_corpus), "--cell", "mgu", "--layers", "2",
                                 "--hidden", "12", "--batch-size", "4", "--seq-len", "8",
                                 "--steps", "4", "--cell-opt", "forget_bias=0.5",
                                 "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run/best/config.json").read_text())
    assert config["cell"]["distribution"] == "seqgen-mgu"
    assert config["model"]["cell_options"] == {"forget_bias": 0.5}
    sample = runner.invoke(app, ["sample", str(tmp_path / "run"), "--length", "10",
                                 "--primer", "All", "--seed", "1"])
    assert sample.exit_code == 0 and sample.stdout.startswith("All")


def test_a_broken_plugin_is_reported_and_the_rest_still_work(tmp_path, monkeypatch, capsys):
    dist = tmp_path / "seqgen_broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: seqgen-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[seqgen]\nbroken = seqgen_broken_module\n")
    (tmp_path / "seqgen_broken_module.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    monkeypatch.setattr(plugins, "load_errors", {})
    registry = cells()
    err = capsys.readouterr().err
    assert err.count("seqgen-broken") == 1 and "boom at import" in err
    assert {"vanilla", "gru", "lstm", "mgu"} <= set(registry)
    assert "boom at import" in plugins.load_errors["broken"]


# ---- isolation, selection and listing ---------------------------------------------------------


class RaisingPlugin:
    @staticmethod
    @seqgen.hookimpl
    def register_cells(register):
        raise RuntimeError("boom while registering")


def test_a_plugin_raising_while_registering_is_reported_once_and_skipped(
        register_plugin, monkeypatch, capsys):
    monkeypatch.setattr(plugins, "load_errors", {})
    register_plugin(RaisingPlugin, "raising")
    first, second = cells(), cells()
    err = capsys.readouterr().err
    assert err.count("boom while registering") == 1 and "raising" in err
    assert {"vanilla", "gru", "lstm", "mgu"} <= set(first) == set(second)
    listed = runner.invoke(app, ["plugins", "--all"])
    assert "broken: RuntimeError: boom while registering" in " ".join(listed.stdout.split())


def test_seqgen_load_plugins_chooses_the_distributions(monkeypatch):
    def load(env: str | None) -> set[str]:
        for name in ("mgu", "mingru"):
            if plugins.pm.has_plugin(name):
                plugins.pm.unregister(name=name)
        monkeypatch.setattr(plugins, "_entry_points_loaded", False)
        if env is None:
            monkeypatch.delenv("SEQGEN_LOAD_PLUGINS", raising=False)
        else:
            monkeypatch.setenv("SEQGEN_LOAD_PLUGINS", env)
        plugins.load_entry_point_plugins()
        return set(cells())

    assert "mgu" not in load("") and "vanilla" in load("")
    assert {"mgu", "mingru"} & load("seqgen_mgu") == {"mgu"}
    assert {"mgu", "mingru"} <= load(None)


def test_plugins_lists_the_installed_packages_and_all_adds_the_builtins():
    out = " ".join(runner.invoke(app, ["plugins"]).stdout.split())
    assert "seqgen-mgu 0.1.0" in out and "seqgen-mingru 0.1.0" in out
    assert "builtin" not in out
    everything = " ".join(runner.invoke(app, ["plugins", "--all"]).stdout.split())
    assert "midi, text" in everything and "gru, lstm, vanilla" in everything


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

    name = "words"

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
        register("words", WordCodec, description="word-level text")


def test_a_codec_plugin_trains_samples_and_is_remembered(register_plugin, tiny_corpus,
                                                         tmp_path):
    register_plugin(WordPlugin, "word-plugin")
    assert plugins.codecs()["words"].options == {"lowercase": False}
    result = runner.invoke(app, ["train", str(tiny_corpus), "--format", "words", "--hidden",
                                 "12", "--batch-size", "2", "--seq-len", "8", "--steps", "3",
                                 "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run/best/config.json").read_text())
    assert config["codec"]["name"] == "words"
    assert config["codec_plugin"] == {"format": "words", "distribution": "word-plugin",
                                      "version": "unknown"}
    sample = runner.invoke(app, ["sample", str(tmp_path / "run"), "--primer", "Speak",
                                 "--length", "6", "--seed", "1"])
    assert sample.exit_code == 0 and sample.stdout.startswith("Speak")
    plugins.pm.unregister(name="word-plugin")
    try:
        missing = runner.invoke(app, ["sample", str(tmp_path / "run")])
        assert missing.exit_code == 1
        assert "needs the codec 'words' from the package word-plugin" in missing.output
    finally:
        plugins.pm.register(WordPlugin, name="word-plugin")


def test_unknown_format_lists_the_codecs(tiny_corpus, tmp_path):
    result = runner.invoke(app, ["train", str(tiny_corpus), "--format", "abc",
                                 "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "unknown format 'abc'; available: midi, text" in \
        result.output


def test_a_version_change_of_the_cell_plugin_is_a_warning(trained_run, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(trained_run / "best", copy)
    config = json.loads((copy / "config.json").read_text())
    config["cell"]["version"] = "0.0.1"
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.warns(UserWarning, match="made with seqgen 0.0.1; .* is installed"):
        load_checkpoint(copy)
