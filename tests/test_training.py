"""Training: exact resume, Ctrl-C, metrics, best/last snapshots, locking, atomic writes."""

import json
import math
import os
import signal

import pytest
import torch
from safetensors.torch import load_file

from seqgen.config import TrainConfig
from seqgen.errors import SeqgenError, UsageError
from seqgen.training import checkpoint as checkpoint_module
from seqgen.training.checkpoint import load_checkpoint, run_lock
from seqgen.training.runs import resume, train
from seqgen.training.schedule import Schedule
from seqgen.training.trainer import TrainingInterrupted
from tests.conftest import TINY_CONFIG


def weights(folder):
    return load_file(folder / "model.safetensors")


def interrupt_at(step):
    """A progress callback that presses Ctrl-C once training has reached ``step``."""

    def progress(event):
        if event["event"] == "train" and event["step"] == step:
            os.kill(os.getpid(), signal.SIGINT)

    return progress


def assert_resumes_to_the_same_weights(corpus, config, tmp_path, at: int) -> None:
    """A run of ``config`` stopped by Ctrl-C at step ``at`` and resumed ends with the weights
    of the same run uninterrupted (in ``tmp_path``: whole/ and cut/)."""
    from seqgen.training.runs import resume
    from seqgen.training.runs import train as train_run

    train_run(corpus, config, tmp_path / "whole")
    with pytest.raises(Exception, match="resume with: seqgen train --resume"):
        train_run(corpus, config, tmp_path / "cut", progress=interrupt_at(at))
    resume(tmp_path / "cut")
    a, b = (load_file(tmp_path / run / "last/model.safetensors") for run in ("whole", "cut"))
    assert a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


@pytest.mark.parametrize("cell", ["lstm", "vanilla"])
def test_interrupt_then_resume_gives_the_same_weights_as_one_run(tiny_corpus, tmp_path, cell):
    # 12 steps cross an epoch boundary (the state resets there) and two validations;
    # dropout makes the RNG state matter too.
    config = TrainConfig(**{**TINY_CONFIG, "cell": cell, "dropout": 0.2})
    whole = train(tiny_corpus, config, tmp_path / "whole")
    with pytest.raises(TrainingInterrupted, match="resume with: seqgen train --resume"):
        train(tiny_corpus, config, tmp_path / "cut", progress=interrupt_at(7))
    assert json.loads((tmp_path / "cut/last/trainer.json").read_text())["step"] == 7
    resumed = resume(tmp_path / "cut")
    assert resumed.step == whole.step == 12
    a, b = weights(tmp_path / "whole/last"), weights(tmp_path / "cut/last")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert resumed.val_loss == whole.val_loss


def test_resume_with_more_steps_continues_the_count(tiny_corpus, tmp_path):
    train(tiny_corpus, TrainConfig(**TINY_CONFIG), tmp_path / "run")
    result = resume(tmp_path / "run", {"steps": 20})
    assert result.step == 20
    lines = (tmp_path / "run/metrics.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines]
    assert steps[-1] == 20 and max(steps) == 20


def test_resume_refuses_to_change_the_model(tiny_corpus, tmp_path):
    train(tiny_corpus, TrainConfig(**TINY_CONFIG), tmp_path / "run")
    with pytest.raises(UsageError, match="cannot change hidden"):
        resume(tmp_path / "run", {"hidden": 32, "steps": 20})


def test_training_lowers_the_loss_and_writes_metrics_and_snapshots(trained_run):
    events = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    train_losses = [e["loss"] for e in events if e["event"] == "train"]
    assert train_losses[-1] < train_losses[0]
    vals = [e for e in events if e["event"] == "val"]
    assert [e["step"] for e in vals] == [5, 10, 12]
    best = json.loads((trained_run / "best/trainer.json").read_text())
    assert best["val_loss"] == min(e["val_loss"] for e in vals)
    for name in ("config.json", "model.safetensors", "optimizer.safetensors",
                 "state.safetensors", "trainer.json"):
        assert (trained_run / "last" / name).exists()
    config = json.loads((trained_run / "best/config.json").read_text())
    assert config["cell"] == {"name": "lstm", "plugin": "seqgen.nn.builtin",
                              "distribution": "seqgen", "version": config["seqgen_version"]}
    assert config["codec"]["name"] == "char" and config["training"]["hidden"] == 16


def test_an_existing_run_is_not_overwritten_unless_asked(tiny_corpus, trained_run, tmp_path):
    with pytest.raises(UsageError, match="already holds a training run.*--resume.*--overwrite"):
        train(trained_run.parent / "tiny.txt", TrainConfig(**TINY_CONFIG), trained_run)
    train(tiny_corpus, TrainConfig(**TINY_CONFIG), tmp_path / "a")
    result = train(tiny_corpus, TrainConfig(**{**TINY_CONFIG, "steps": 3}), tmp_path / "a",
                   overwrite=True)
    assert result.step == 3


def test_a_second_writer_to_a_locked_run_is_refused(tiny_corpus, tmp_path):
    with run_lock(tmp_path / "run"), pytest.raises(SeqgenError, match="being written by another"):
        train(tiny_corpus, TrainConfig(**TINY_CONFIG), tmp_path / "run")


def test_a_failed_save_leaves_the_previous_snapshot_whole(tiny_corpus, tmp_path, monkeypatch):
    config = TrainConfig(**TINY_CONFIG)
    train(tiny_corpus, config, tmp_path / "run")
    before = weights(tmp_path / "run/last")

    def failing_save(path, tensors):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr("seqgen.training.trainer.save_tensors", failing_save)
    with pytest.raises(OSError, match="simulated"):
        resume(tmp_path / "run", {"steps": 20})
    after = weights(tmp_path / "run/last")
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.startswith(".last.tmp")]
    assert load_checkpoint(tmp_path / "run", prefer="last").trainer["step"] == 12


def test_a_kill_between_the_two_renames_falls_back_to_the_old_snapshot(trained_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    checkpoint_module.shutil.copytree(trained_run / "last", run / "last.old")
    assert load_checkpoint(run).path == run / "last.old"


def test_the_rate_warms_up_holds_then_decays_to_the_floor_in_the_last_fifth():
    schedule = Schedule.of(TrainConfig(lr=1.0, warmup_steps=10, min_lr_ratio=0.1))
    rates = [schedule.rate(s, s / 200) for s in range(201)]
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert rates[10:160] == [1.0] * 150  # stable until the decay begins at 80% of the run
    assert all(a > b for a, b in zip(rates[160:], rates[161:], strict=False))
    assert rates[200] == pytest.approx(0.1)
    assert [schedule.rate(s, s / 400) for s in range(150)] == rates[:150]  # more steps: same
    short = [schedule.rate(s, s / 50) for s in range(6)]  # warmup: at most a tenth of a run
    assert short[:5] == pytest.approx([0.1, 0.2, 0.4, 0.6, 0.8]) and short[5] == 1.0


def test_epochs_set_the_number_of_steps(tiny_corpus, tmp_path):
    config = TrainConfig(**{**TINY_CONFIG, "steps": None, "epochs": 2.0, "eval_interval": 100})
    result = train(tiny_corpus, config, tmp_path / "run")
    # 296 characters, 30 held out: 266 for training in 4 rows of 66, 65 targets a row in
    # chunks of 8 -> 9 chunks an epoch
    assert result.step == 18
    assert math.isfinite(result.val_loss)


def test_tied_weights_train_save_and_load(tiny_corpus, tmp_path):
    train(tiny_corpus, TrainConfig(**{**TINY_CONFIG, "tie_weights": True}), tmp_path / "run")
    model = load_checkpoint(tmp_path / "run").model
    assert model.head.weight is model.embedding.weight
    with pytest.raises(UsageError, match="tied weights need the embedding size"):
        train(tiny_corpus, TrainConfig(**{**TINY_CONFIG, "tie_weights": True, "embedding": 8}),
              tmp_path / "other")


def test_resuming_from_damaged_weights_is_a_one_line_error(tiny_corpus, tmp_path):
    train(tiny_corpus, TrainConfig(**TINY_CONFIG), tmp_path / "run")
    (tmp_path / "run/last/model.safetensors").write_bytes(b"\0" * 32)
    with pytest.raises(SeqgenError, match="model.safetensors is damaged"):
        resume(tmp_path / "run", {"steps": 20})
