"""End to end on the real corpus and in a real process (marked slow; CI runs them)."""

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from seqgen.cli import app
from seqgen.config import TrainConfig
from seqgen.data.codecs.chars import CharCodec
from seqgen.data.codecs.midi import MidiOptions, find_track, read_notes, read_track_notes
from seqgen.data.streams import load_text_corpus
from seqgen.training.evaluation import Evaluation, evaluate_checkpoint
from seqgen.training.runs import train
from tests.conftest import (
    BACH,
    CHORALES,
    CLASSIFIER,
    HARMONIZER,
    NAMES,
    NAMES_MODEL,
    NUMBERS_MODEL,
    PRETRAINED,
    ROOT,
    SHAKESPEARE,
)

pytestmark = pytest.mark.slow
runner = CliRunner()


def unigram_entropy(ids: torch.Tensor) -> float:
    p = torch.bincount(ids.long()).double()
    p = p[p > 0] / p.sum()
    return float(-(p * p.log()).sum())


def test_a_few_hundred_steps_on_shakespeare_beat_the_unigram_entropy(tmp_path):
    entropy = unigram_entropy(load_text_corpus(SHAKESPEARE, CharCodec).ids)  # 3.31 nats/char
    config = TrainConfig(cell="lstm", hidden=128, batch_size=32, seq_len=64, steps=300,
                         eval_interval=300, device="cpu")
    result = train(SHAKESPEARE, config, tmp_path / "run")
    assert result.val_loss < entropy - 0.6, (result.val_loss, entropy)


def test_the_pretrained_model_samples_and_evaluates():
    args = ["sample", str(PRETRAINED), "--primer", "ROMEO:", "--length", "200", "--seed", "1",
            "--temperature", "0.8"]
    first, second = runner.invoke(app, args), runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout and first.stdout.startswith("ROMEO:")
    config = json.loads((PRETRAINED / "best/config.json").read_text())
    assert config["model"]["cell"] == "lstm" and config["model"]["hidden_size"] == 256
    result = evaluate_checkpoint(PRETRAINED, device="cpu")
    assert result.loss < 1.75, result.loss
    assert_evaluates_as_trained(PRETRAINED, result)


def test_ctrl_c_in_a_real_process_saves_and_the_run_resumes(tiny_corpus, tmp_path):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "seqgen", "train", str(tiny_corpus), "--hidden", "16",
           "--batch-size", "4", "--seq-len", "8", "--steps", "1000000", "--log-interval", "1",
           "--eval-interval", "3", "--device", "cpu", "--out", str(run_dir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Only a safety net for a hung process, not a limit on speed: killing it ends the read.
    safety_net = threading.Timer(1800, proc.kill)
    safety_net.start()
    try:
        printed = []
        for line in proc.stdout:  # blocks until the process prints its next line
            printed.append(line)
            if "validation loss" in line:  # step 3 is done and saved: training is under way
                break
        else:
            pytest.fail(f"training ended before its first validation: {printed} "
                        f"{proc.communicate()}")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate()
    finally:
        safety_net.cancel()
    assert printed[-1].startswith("step 3 "), printed
    assert proc.returncode == 130, (out, err)
    assert "resume with: seqgen train --resume" in " ".join(err.split())
    assert "Traceback" not in err
    stopped = json.loads((run_dir / "last/trainer.json").read_text())["step"]
    assert stopped >= 3
    resumed = subprocess.run([sys.executable, "-m", "seqgen", "train", "--resume", str(run_dir),
                              "--steps", str(stopped + 5)], capture_output=True, text=True,
                             timeout=1800)
    assert resumed.returncode == 0, resumed.stderr
    assert f"done: step {stopped + 5}" in resumed.stdout


def test_the_pretrained_chorale_model_writes_pieces(tmp_path):
    args = ["sample", str(BACH), "--length", "10s", "--num-samples", "2", "--seed", "3",
            "--out", f"{tmp_path}/"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("sample-1.mid", "sample-2.mid"):
        notes = read_notes(tmp_path / name, MidiOptions())
        assert len(notes) > 10 and max(n.start for n in notes) <= 11
    assert_evaluates_as_trained(BACH, evaluate_checkpoint(BACH, device="cpu"))


def assert_evaluates_as_trained(checkpoint: Path, result: Evaluation) -> None:
    """A bundled model's validation loss, computed here, is the figure its run recorded.

    A run in bf16 records its best snapshot's loss in bf16 and in fp32. Where this CPU
    computes bf16, ``eval`` computes in bf16: kernels of another kind of CPU round some
    intermediate results differently, but each bf16 figure lies about as near the fp32 one as
    the run's own did, so the two bf16 figures agree within twice that distance (and 1e-4, the
    4 decimals shown). Elsewhere ``eval`` computes in fp32, where kernels of different CPUs
    differ only in the order of their sums (about 1e-7 relative), far within 1e-4."""
    info = json.loads((checkpoint / "best/trainer.json").read_text())
    assert result.recorded_loss == info["val_loss"]
    if result.precision == result.recorded_precision:
        bf16_spread = abs(info["val_loss"] - info.get("val_loss_fp32", info["val_loss"]))
        assert result.loss == pytest.approx(info["val_loss"], abs=max(1e-4, 2 * bf16_spread))
    else:
        assert result.precision == "fp32"
        assert result.loss == pytest.approx(info["val_loss_fp32"], abs=1e-4)


def test_the_bundled_classifier_evaluates_as_trained_and_labels_names():
    result = evaluate_checkpoint(CLASSIFIER, device="cpu")
    assert_evaluates_as_trained(CLASSIFIER, result)
    assert result.classes.macro_accuracy > 0.5  # a trigram naive Bayes: 0.433
    found = runner.invoke(app, ["classify", str(CLASSIFIER), "Nakamura"])
    assert found.exit_code == 0, found.output
    assert found.output.split("\t")[:2] == ["Nakamura", "Japanese"]


def test_conditioning_on_the_language_lowers_the_validation_loss(tmp_path):
    config = TrainConfig(arch="one-to-many", cell="gru", hidden=128, steps=400,
                         eval_interval=400, device="cpu")
    train(NAMES, config, tmp_path / "run")
    result = evaluate_checkpoint(tmp_path / "run", device="cpu")
    assert result.wrong_label_loss - result.loss > 0.08, (result.loss, result.wrong_label_loss)
    assert set(result.per_label) == set(json.loads(
        (tmp_path / "run/best/config.json").read_text())["labels"])


def test_the_pretrained_names_model_generates_names_that_end():
    result = runner.invoke(app, ["sample", str(NAMES_MODEL), "--condition", "Russian",
                                 "--num-samples", "10", "--seed", "1"])
    assert result.exit_code == 0, result.output
    names = result.stdout.splitlines()
    assert len(names) == 10 and all(0 < len(n) < 30 for n in names)
    evaluation = evaluate_checkpoint(NAMES_MODEL, device="cpu")
    assert evaluation.wrong_label_loss > evaluation.loss + 0.2


LEGACY = Path(__file__).parent / "data" / "legacy-names"


def test_a_checkpoint_written_before_the_layout_by_layer_still_loads_samples_and_evaluates():
    """tests/data/legacy-names is the names model bundled before seqgen's modules were laid
    out by layer (its cell plugin recorded as ``seqgen.builtin_cells``) and before runs
    recorded their precision."""
    config = json.loads((LEGACY / "best/config.json").read_text())
    assert config["cell"]["plugin"] == "seqgen.builtin_cells"
    assert "precision" not in config["training"]
    result = evaluate_checkpoint(LEGACY, device="cpu")
    assert result.loss == pytest.approx(
        json.loads((LEGACY / "best/trainer.json").read_text())["val_loss"], abs=1e-4)
    sampled = runner.invoke(app, ["sample", str(LEGACY), "--condition", "Japanese",
                                  "--num-samples", "3", "--seed", "1", "--device", "cpu"])
    assert sampled.exit_code == 0, sampled.output
    assert len(sampled.stdout.split()) >= 3


def test_the_pretrained_numbers_model_writes_numbers_out_in_words(tmp_path):
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("de 47\nen 1999\nfr 80\n", encoding="utf-8")
    result = runner.invoke(app, ["sample", str(NUMBERS_MODEL), "--input", f"@{inputs}",
                                 "--beam", "5"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["siebenundvierzig",
                                          "one thousand, nine hundred and ninety-nine",
                                          "quatre-vingts"]


def test_the_pretrained_harmonizer_writes_voices_under_a_melody(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # where its corpus is, which names its voices
    melody = CHORALES / "riemenschneider369.mid"
    result = runner.invoke(app, ["sample", str(HARMONIZER), "--input", f"@{melody}",
                                 "--beam", "4", "--out", str(tmp_path / "harmonized.mid")])
    assert result.exit_code == 0, result.output
    tracks = read_track_notes(tmp_path / "harmonized.mid", MidiOptions())
    assert [t.name for t in tracks] == ["input", "Alto", "Tenor", "Bass"]
    soprano = find_track(read_track_notes(melody, MidiOptions()), "Soprano")
    assert [n.pitch for n in tracks[0].notes] == [n.pitch for n in soprano.notes]
    ends = {max(n.end for n in t.notes) for t in tracks}
    assert ends == {soprano.notes[-1].end}  # three voices, each to the melody's end
