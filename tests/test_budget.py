"""Training for a time budget (``--time``), the model size a budget picks, and ``--precision
auto``. The trainer's clock is replaced by one that advances a fixed step per reading, so each
run takes the same steps on any machine."""

import json
import time
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from seqgen.cli import app
from seqgen.config import (
    DEFAULT_HIDDEN,
    DEFAULT_LAYERS,
    TrainConfig,
    parse_duration,
    size_for_budget,
)
from seqgen.errors import UsageError
from seqgen.training import devices
from seqgen.training import trainer as trainer_module
from seqgen.training.checkpoint import load_checkpoint
from seqgen.training.devices import bf16_native
from seqgen.training.runs import resume, train
from tests.conftest import TINY_CONFIG

TICK = 0.25  # seconds the fake clock advances at each reading


@pytest.fixture
def fake_clock(monkeypatch):
    """The trainer's ``time.perf_counter`` reads 0, TICK, 2 TICK, ..."""
    readings = iter(range(10**9))
    monkeypatch.setattr(trainer_module, "time", SimpleNamespace(
        perf_counter=lambda: next(readings) * TICK, time=time.time))


def events(run_dir, kind):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == kind]


def budget_config(seconds: float, **changes) -> TrainConfig:
    return TrainConfig(**{**TINY_CONFIG, "steps": None, "time": seconds, **changes})


def test_a_run_with_a_time_budget_warms_up_holds_and_decays_on_the_clock(
        tiny_corpus, tmp_path, fake_clock):
    result = train(tiny_corpus, budget_config(30.0, lr=0.01), tmp_path / "run")
    rates = [e["lr"] for e in events(tmp_path / "run", "train")]
    assert result.step == len(rates) > 20
    peak = rates.index(0.01)
    assert rates[:peak] == sorted(rates[:peak]) and rates[0] < 0.01  # warmup
    decay = next(i for i in range(peak, len(rates)) if rates[i] < 0.01)
    assert rates[decay:] == sorted(rates[decay:], reverse=True)  # then a steady decline
    assert 0.001 <= rates[-1] < 0.01 * 0.2  # ends near the floor, a tenth of the peak
    assert decay / len(rates) > 0.6  # the rate holds its peak for most of the run
    assert events(tmp_path / "run", "val")[-1]["step"] == result.step  # validated at the end
    assert 30.0 - 2 * TICK * 10 <= result.seconds <= 30.0 + 2 * TICK * 10


def test_a_resumed_budget_continues_from_the_time_already_spent(tiny_corpus, tmp_path,
                                                                 fake_clock):
    first = train(tiny_corpus, budget_config(10.0), tmp_path / "run")
    assert load_checkpoint(tmp_path / "run").trainer["elapsed"] == pytest.approx(
        first.seconds, abs=5 * TICK)
    more = resume(tmp_path / "run", {"time": 20.0})
    assert more.step > first.step and more.seconds > first.seconds
    resumed = [e for e in events(tmp_path / "run", "train") if e["step"] > first.step]
    assert first.seconds < resumed[0]["elapsed"] <= first.seconds + 10 * TICK
    assert more.seconds == pytest.approx(20.0, abs=10 * TICK)  # 20 s in all, not 10 + 20


def test_the_cli_trains_for_a_duration_and_says_how_many_steps_it_took(
        tiny_corpus, tmp_path, fake_clock):
    args = ["train", str(tiny_corpus), "--time", "8s", "--hidden", "16", "--batch-size", "4",
            "--seq-len", "8", "--device", "cpu", "--no-curves", "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    step = events(tmp_path / "run", "train")[-1]["step"]
    assert f"done: step {step} after" in result.output


@pytest.mark.parametrize("text, seconds", [("90", 90.0), ("90s", 90.0), ("5m", 300.0),
                                           ("1.5h", 5400.0)])
def test_durations_are_seconds_minutes_or_hours(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "five minutes", "-1m", "0s", "nanm", "400d"])
def test_a_bad_duration_says_how_to_write_one(text):
    with pytest.raises(UsageError, match="give a duration such as 90s, 5m or 1h"):
        parse_duration(text)


def test_a_budget_without_a_size_picks_the_size_measured_best_for_it():
    assert TrainConfig(time=60).model_size() == size_for_budget(60) == (2, 256)
    assert TrainConfig(time=300).model_size() == (2, 256)
    assert TrainConfig(time=3600).model_size() == (2, 512)
    assert TrainConfig(time=3600, hidden=64).model_size() == (DEFAULT_LAYERS, 64)
    assert TrainConfig(time=3600, layers=3).model_size() == (3, DEFAULT_HIDDEN)
    assert TrainConfig(steps=100).model_size() == (DEFAULT_LAYERS, DEFAULT_HIDDEN)


def test_the_chosen_size_is_said_recorded_and_kept_on_resume(tiny_corpus, tmp_path, fake_clock,
                                                             monkeypatch):
    monkeypatch.setattr("seqgen.config.BUDGET_SIZES", ((float("inf"), 1, 12),))
    config = TrainConfig(**{**TINY_CONFIG, "steps": None, "layers": None, "hidden": None,
                            "time": 5.0})
    said = []
    train(tiny_corpus, config, tmp_path / "run", progress=said.append)
    notes = " ".join(e["text"] for e in said if e["event"] == "note")
    assert "model 1 x 12: the size that trains best in 5 s" in notes
    assert load_checkpoint(tmp_path / "run").config["model"]["hidden_size"] == 12
    monkeypatch.setattr("seqgen.config.BUDGET_SIZES", ((float("inf"), 3, 40),))
    resume(tmp_path / "run", {"time": 8.0})
    assert load_checkpoint(tmp_path / "run").config["model"]["hidden_size"] == 12


def test_bf16_asked_of_a_cpu_without_it_is_refused_and_a_bf16_run_evaluates_in_fp32(
        monkeypatch, tiny_corpus, tmp_path):
    monkeypatch.setattr(devices, "bf16_native", lambda device: False)
    result = CliRunner().invoke(app, ["train", str(tiny_corpus), "--precision", "bf16",
                                      "--steps", "2", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "--precision bf16: this CPU does not compute bfloat16 natively" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()
    cpu = devices.resolve_device("cpu")
    assert devices.evaluation_precision("bf16", cpu) == "fp32"
    monkeypatch.setattr(devices, "bf16_native", lambda device: True)
    assert devices.evaluation_precision("bf16", cpu) == "bf16"
    assert devices.evaluation_precision("fp32", cpu) == "fp32"


def test_precision_auto_takes_bf16_only_where_the_cpu_computes_it(tiny_corpus, tmp_path):
    said, said_fp32 = [], []
    train(tiny_corpus, TrainConfig(**TINY_CONFIG), tmp_path / "run", progress=said.append)
    chosen = "bf16" if bf16_native("cpu") else "fp32"
    assert load_checkpoint(tmp_path / "run").config["training"]["precision"] == chosen
    notes = " ".join(e["text"] for e in said if e["event"] == "note")
    assert f"precision {chosen}: this cpu" in notes
    train(tiny_corpus, TrainConfig(**TINY_CONFIG, precision="fp32"), tmp_path / "fp32",
          progress=said_fp32.append)
    assert "precision" not in " ".join(e["text"] for e in said_fp32 if e["event"] == "note")
