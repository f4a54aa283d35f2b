"""Plugins from entry points: the example package, and a broken one that must not break seqgen."""

import json

from typer.testing import CliRunner

from seqgen import plugins
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
