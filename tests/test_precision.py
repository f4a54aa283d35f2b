"""One precision for every figure: training records its validation figures in the run's
precision, and ``seqgen eval`` on the same kind of CPU prints exactly those figures; a device
that cannot compute the run's precision evaluates in fp32 and says so beside the figures
training recorded.

The bf16 path runs on every CPU here: ``bf16_everywhere`` overrides the native check (for
tests only) and the runs use the vanilla cell, whose kernels accept bf16 on any CPU (PyTorch's
fused LSTM refuses it on a CPU without AVX512-BF16 or AMX)."""

import json
import re
import shutil
from dataclasses import replace

import pytest
import torch
from typer.testing import CliRunner

from seqgen.cli import app
from seqgen.config import TrainConfig
from seqgen.training import devices
from seqgen.training.checkpoint import RULES, load_checkpoint
from seqgen.training.runs import resume, train
from seqgen.training.trainer import TrainingInterrupted
from tests.conftest import CHORALES, NAMES, TEXT, TINY_CONFIG
from tests.test_training import interrupt_at, weights

runner = CliRunner()
TINY = ["--cell", "vanilla", "--hidden", "16", "--layers", "1", "--batch-size", "4",
        "--seq-len", "8", "--steps", "8", "--eval-interval", "4", "--log-interval", "2",
        "--device", "cpu", "--no-curves"]


def corpus_of(kind: str, folder) -> tuple[str, list[str]]:
    """A small corpus of each kind of model, and the options that train it."""
    if kind == "stream":
        (folder / "tiny.txt").write_text(TEXT * 2, encoding="utf-8")
        return str(folder / "tiny.txt"), ["--max-val-tokens", "40"]
    if kind == "labelled":
        names = folder / "names"
        names.mkdir()
        for language in ("Irish", "Italian", "Japanese"):
            lines = (NAMES / f"{language}.txt").read_text(encoding="utf-8").splitlines()
            (names / f"{language}.txt").write_text("\n".join(lines[:40]) + "\n",
                                                   encoding="utf-8")
        return str(names), ["--items", "lines", "--label-from", "stem", "--max-val-tokens",
                            "150"]
    chorales = folder / "chorales"  # an encoder-decoder whose codec has rules
    chorales.mkdir()
    for number in (1, 2, 3, 4, 5):
        shutil.copy(CHORALES / f"riemenschneider00{number}.mid", chorales)
    (chorales / "seqgen.json").write_text(json.dumps({
        "source_track": "Soprano", "format": "parts",
        "codec_options": {"voices": 3, "step_ms": 250}}))
    return str(chorales), ["--arch", "encoder-decoder", "--seq-len", "64", "--batch-size",
                           "2", "--val-fraction", "0.25"]


def trained(kind: str, precision: str, folder) -> tuple:
    """A run of a kind trained in ``precision``: its folder and what training printed."""
    corpus, options = corpus_of(kind, folder)
    run = folder / "run"
    result = runner.invoke(app, ["train", corpus, *TINY, *options, "--precision", precision,
                                 "--out", str(run)])
    assert result.exit_code == 0, result.output
    return run, result.output


def recorded(run, name: str = "trainer.json") -> dict:
    return json.loads((run / "best" / name).read_text())


@pytest.fixture
def bf16_everywhere(monkeypatch):
    """This CPU counts as computing bf16 natively, whatever it has (for tests only)."""
    monkeypatch.setattr(devices, "bf16_native", lambda device: True)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("kind", ["stream", "labelled", "rules"])
def test_eval_prints_exactly_the_figures_training_recorded(kind, precision, bf16_everywhere,
                                                           tmp_path):
    run, printed = trained(kind, precision, tmp_path)
    info = recorded(run)
    assert json.loads((run / "best" / "config.json").read_text())["training"]["precision"] \
        == precision
    assert f"validation loss {info['val_loss']:.4f} nats/token" in printed
    evaluated = runner.invoke(app, ["eval", str(run)])
    assert evaluated.exit_code == 0, evaluated.output
    shown = " ".join(evaluated.output.split())
    figures = f"{info['val_loss']:.4f} nats/token"
    if kind == "rules":
        with_weights = recorded(run, RULES)["val_loss"][1]
        assert f"-> {with_weights:.4f} nats/token with them" in " ".join(printed.split())
        assert f"(rules.json): {with_weights:.4f} nats/token" in shown
        figures += f" ({with_weights:.4f} with the learnt weights)"
    assert f"training recorded {figures} in {precision} for this snapshot" in shown
    assert re.search(rf"│\s*{info['val_loss']:.4f}\s*│", evaluated.output)  # computed anew
    assert ("val_loss_fp32" in info) == (precision == "bf16")


def test_a_bf16_run_evaluated_where_bf16_cannot_run_says_so_in_fp32(bf16_everywhere,
                                                                     monkeypatch, tmp_path):
    run, _ = trained("stream", "bf16", tmp_path)
    info = recorded(run)
    monkeypatch.setattr(devices, "bf16_native", lambda device: False)
    evaluated = runner.invoke(app, ["eval", str(run)])
    assert evaluated.exit_code == 0, evaluated.output
    shown = " ".join(evaluated.output.split())
    assert ("this device does not compute bf16 natively, so these figures are computed in "
            f"fp32; training recorded {info['val_loss']:.4f} nats/token in bf16 and "
            f"{info['val_loss_fp32']:.4f} in fp32") in shown
    assert re.search(rf"│\s*{info['val_loss_fp32']:.4f}\s*│", evaluated.output)


def test_bf16_trains_resumes_exactly_and_samples_on_any_cpu(bf16_everywhere, tiny_corpus,
                                                            tmp_path):
    config = TrainConfig(**{**TINY_CONFIG, "cell": "vanilla", "dropout": 0.2,
                            "precision": "bf16"})
    whole = train(tiny_corpus, config, tmp_path / "whole")
    with pytest.raises(TrainingInterrupted, match="(?i)resume with: seqgen train --resume"):
        train(tiny_corpus, config, tmp_path / "cut", progress=interrupt_at(7))
    resumed = resume(tmp_path / "cut")
    assert load_checkpoint(tmp_path / "cut").config["training"]["precision"] == "bf16"
    ours, theirs = weights(tmp_path / "whole/last"), weights(tmp_path / "cut/last")
    assert all(torch.equal(ours[name], theirs[name]) for name in ours)
    assert resumed.val_loss == whole.val_loss
    fp32 = train(tiny_corpus, replace(config, precision="fp32"), tmp_path / "fp32")
    assert fp32.val_loss != whole.val_loss  # the bf16 run did compute in bf16
    sample = runner.invoke(app, ["sample", str(tmp_path / "cut"), "--primer", "All",
                                 "--length", "20", "--seed", "1"])
    assert sample.exit_code == 0 and sample.stdout.startswith("All"), sample.output
