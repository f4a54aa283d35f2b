"""The example plugin package: its entry point, its cell, and the CLI end to end with it."""

import json
import os
import subprocess
import sys

import pytest
import torch
from seqgen_mgu.mgu import MGU
from typer.testing import CliRunner

from seqgen.cli import app
from seqgen.nn.cells import cells

runner = CliRunner()

VERSE = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"

# run `seqgen --help`, then say whether the plugin and torch were imported
HELP_IMPORTS = """
import sys
from seqgen.cli import main
sys.argv = ["seqgen", "--help"]
try:
    main()
except SystemExit:
    pass
print("seqgen_mgu" in sys.modules, "torch" in sys.modules)
"""


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """Keep the corpus cache out of the home folder, and the output plain."""
    monkeypatch.setenv("SEQGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_COLOR", "1")


def test_the_cell_is_registered_from_the_installed_entry_point():
    spec = cells()["mgu"]
    assert spec.cls is MGU
    assert (spec.distribution, spec.version, spec.plugin) == ("seqgen-mgu", "0.1.0", "mgu")
    assert spec.options == {"forget_bias": 1.0}
    assert "seqgen-mgu 0.1.0" in runner.invoke(app, ["cells"]).stdout
    assert "seqgen-mgu 0.1.0" in " ".join(runner.invoke(app, ["plugins"]).stdout.split())


def test_loading_the_plugin_does_not_import_torch():
    """The entry point imports the cell only when seqgen asks for cells."""
    env = {**os.environ, "SEQGEN_LOAD_PLUGINS": "seqgen-mgu"}
    probe = subprocess.run([sys.executable, "-c", HELP_IMPORTS], capture_output=True,
                           text=True, check=True, env=env)
    assert "Train and sample recurrent sequence generators" in probe.stdout
    assert probe.stdout.strip().endswith("True False")


def test_the_whole_sequence_path_matches_stepping():
    torch.manual_seed(0)
    cell = MGU(5, 7, forget_bias=0.5)
    x, h0 = torch.randn(3, 6, 5), torch.randn(3, 7)
    y_seq, h_seq = cell(x, h0)
    h, steps = h0, []
    for x_t in x.unbind(1):
        y_t, h = cell.step(x_t, h)
        steps.append(y_t)
    torch.testing.assert_close(torch.stack(steps, 1), y_seq)
    torch.testing.assert_close(h, h_seq)


def test_forget_bias_sets_the_gate_bias():
    cell = MGU(4, 3, forget_bias=0.25)
    assert cell.input.bias[:3].tolist() == [0.25] * 3


def test_an_mgu_trains_samples_and_is_recorded_in_the_checkpoint(tmp_path):
    corpus = tmp_path / "verse.txt"
    corpus.write_text(VERSE * 4, encoding="utf-8")
    result = runner.invoke(app, ["train", str(corpus), "--cell", "mgu", "--layers", "2",
                                 "--hidden", "12", "--batch-size", "4", "--seq-len", "8",
                                 "--steps", "4", "--cell-opt", "forget_bias=0.5",
                                 "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run/best/config.json").read_text())
    assert config["cell"] == {"name": "mgu", "plugin": "mgu", "distribution": "seqgen-mgu",
                              "version": "0.1.0"}
    assert config["model"]["cell_options"] == {"forget_bias": 0.5}
    sample = runner.invoke(app, ["sample", str(tmp_path / "run"), "--length", "10",
                                 "--primer", "All", "--seed", "1"])
    assert sample.exit_code == 0 and sample.stdout.startswith("All")
