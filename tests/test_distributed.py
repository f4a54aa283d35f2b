"""Data-parallel training: 2 gloo processes on localhost against one process."""

import json
import os
import shutil
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from seqgen.cli import app
from seqgen.cli.train import without_option
from seqgen.data.batching import item_batches, stream_batches
from seqgen.errors import UsageError
from seqgen.training import distributed
from seqgen.training.distributed import World, joined_world, launch_here, process_device
from seqgen.training.trainer import interleave_rows
from tests.conftest import NAMES, one_line_error
from tests.distributed_probe import gradients_after_one_step
from tests.test_pairs import PAIRS

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def torchrun(*args: str, nproc: int = 2, ok: bool = True) -> subprocess.CompletedProcess:
    """Run seqgen (or a script) under torchrun on localhost with gloo, one thread each; it
    must end (a hang fails at the timeout), and unless not ``ok``, cleanly."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={nproc}", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=300)
    output = result.stdout + result.stderr
    if ok:
        assert result.returncode == 0 and "terminate called" not in output, output
    return result


def test_each_process_takes_every_nth_row_and_the_shares_make_the_batch():
    ids = torch.arange(200)
    batches = stream_batches(ids, 5, 8)
    shares = [batches.shard(World(rank, 2).rows()) for rank in range(2)]
    assert [s.chunk(0).inputs.size(0) for s in shares] == [3, 2]
    for index in range(len(batches)):
        whole = batches.chunk(index).inputs
        assert torch.equal(interleave_rows([s.chunk(index).inputs for s in shares]), whole)
    items = [torch.arange(n) for n in (3, 5, 4, 6, 2)]
    grouped = item_batches(items, 4, 8, pad=0)
    parts = [grouped.shard(World(rank, 3).rows()) for rank in range(3)]
    assert sum(p.num_targets for p in parts) == grouped.num_targets


@pytest.mark.parametrize("corpus, config", [
    (str(ROOT / "corpora" / "shakespeare"), dict(batch_size=6, seq_len=16)),
    # lines of unequal length: the processes' rows hold different numbers of targets
    (str(NAMES / "Irish.txt"), dict(batch_size=5, seq_len=8, items="lines")),
    # a classifier: items of unequal length as each row's source, a label as its target
    (str(NAMES), dict(batch_size=6, arch="many-to-one")),
])
def test_two_processes_average_to_the_gradient_of_one(corpus, config, tmp_path):
    check_gradients_of_two_processes(corpus, config, tmp_path)


def test_two_processes_average_to_the_gradient_of_one_encoder_decoder(tmp_path):
    (tmp_path / "pairs.tsv").write_text(PAIRS * 2, encoding="utf-8")
    check_gradients_of_two_processes(str(tmp_path / "pairs.tsv"),
                                     dict(arch="encoder-decoder", batch_size=6), tmp_path)


def test_two_processes_average_to_the_gradient_of_one_with_music_controls(tmp_path):
    chorales = tmp_path / "chorales"
    chorales.mkdir()
    for file in sorted((ROOT / "corpora" / "bach-chorales").glob("*.mid"))[:8]:
        shutil.copy(file, chorales / file.name)
    check_gradients_of_two_processes(str(chorales), dict(batch_size=6, seq_len=32,
                                                         controls=["all"], control_free=0.5),
                                     tmp_path)


def check_gradients_of_two_processes(corpus: str, config: dict, tmp_path: Path) -> None:
    config = dict(cell="gru", layers=2, hidden=16, dropout=0.0, steps=10, device="cpu",
                  precision="fp32", **config)
    torchrun("tests/distributed_probe.py", corpus, json.dumps(config),
             str(tmp_path / "ddp" / "grads.safetensors"))
    distributed = load_file(tmp_path / "ddp" / "grads.safetensors")
    single = gradients_after_one_step(corpus, config, tmp_path / "one")
    assert distributed.keys() == single.keys()
    for name, grad in single.items():
        assert grad.abs().sum() > 0, name
        torch.testing.assert_close(distributed[name], grad, rtol=1e-4, atol=1e-6,
                                   msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("failing", [
    "1:start",  # while rank 0 goes on into the collectives of a training step
    "0:end",  # the main process, after the last collective: rank 1 goes on to leave the run
])
def test_a_process_that_fails_stops_the_run_without_a_hang(failing, tmp_path):
    config = dict(cell="gru", hidden=16, batch_size=6, seq_len=16, steps=10, device="cpu")
    result = torchrun("tests/distributed_probe.py", str(ROOT / "corpora" / "shakespeare"),
                      json.dumps(config), str(tmp_path / "grads.safetensors"), failing,
                      ok=False)
    assert result.returncode != 0
    rank = failing.split(":")[0]
    assert f"probe: rank {rank} fails" in result.stdout + result.stderr


@pytest.mark.parametrize("error, calls", [
    (None, ["barrier", "destroy"]),
    (UsageError("a mistake every process finds"), ["barrier", "destroy"]),
    (RuntimeError("this process crashed alone"), []),  # the others would never come
])
def test_processes_leave_together_unless_one_crashes_alone(error, calls, monkeypatch):
    seen = []
    monkeypatch.setattr(distributed, "current_world", lambda device: World(rank=0, size=2))
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(distributed.dist, "barrier", lambda device_ids: seen.append("barrier"))
    monkeypatch.setattr(distributed.dist, "destroy_process_group",
                        lambda: seen.append("destroy"))
    raised = pytest.raises(type(error), match=str(error)) if error else nullcontext()
    with raised, joined_world("cpu"):
        if error:
            raise error
    assert seen == calls


@pytest.mark.slow
def test_train_resume_and_sample_across_world_sizes(tiny_corpus, tmp_path):
    """Runs of 2 processes, resumed by 2 or by 1, end where the same run in 1 process does."""
    # fp32: sums in any order agree closely; bf16 rounding differs with the order
    args = [str(tiny_corpus), "--cell", "lstm", "--hidden", "16", "--batch-size", "4",
            "--seq-len", "8", "--eval-interval", "3", "--log-interval", "1", "--dropout", "0",
            "--device", "cpu", "--precision", "fp32", "--steps", "5"]
    first = torchrun("-m", "seqgen", "train", *args, "--out", str(tmp_path / "two"))
    assert first.stdout.count("done: step 5") == 1  # only the main process prints
    shutil.copytree(tmp_path / "two", tmp_path / "two-then-one")
    torchrun("-m", "seqgen", "train", "--resume", str(tmp_path / "two"), "--steps", "8")
    with pytest.warns(UserWarning, match="resuming a run of 2 process"):
        regrown = runner.invoke(app, ["train", "--resume", str(tmp_path / "two-then-one"),
                                      "--steps", "8"])
    assert regrown.exit_code == 0, regrown.output
    for command in (["train", *args, "--out", str(tmp_path / "one")],
                    ["train", "--resume", str(tmp_path / "one"), "--steps", "8"]):
        assert runner.invoke(app, command).exit_code == 0

    reference = load_file(tmp_path / "one" / "last" / "model.safetensors")
    for run in ("two", "two-then-one"):
        weights = load_file(tmp_path / run / "last" / "model.safetensors")
        for key, value in reference.items():
            torch.testing.assert_close(weights[key], value, rtol=1e-4, atol=1e-5)

    sampled = runner.invoke(app, ["sample", str(tmp_path / "two"), "--length", "40",
                                  "--seed", "1", "--device", "cpu"])
    assert sampled.exit_code == 0 and len(sampled.stdout) > 40


def test_each_process_of_a_gpu_run_trains_on_its_own_gpu():
    gpu_world = World(rank=1, size=2, local_rank=1, device="cuda:1")
    assert process_device("cuda:0", gpu_world) == process_device("auto", gpu_world) == "cuda:1"
    assert process_device("cpu", World(rank=1, size=2, local_rank=1)) == "cpu"


def test_nproc_passes_on_every_other_argument():
    args = ["train", "c.txt", "--nproc", "2", "--steps", "5", "--nproc=3"]
    assert without_option(args, "--nproc") == ["train", "c.txt", "--steps", "5"]
    with pytest.raises(UsageError, match="--nproc must be at least 1, not 0"):
        launch_here(0, [])


@pytest.mark.slow
def test_nproc_trains_and_a_mistake_is_one_line(tiny_corpus, tmp_path):
    seqgen = [sys.executable, "-m", "seqgen", "train"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*seqgen, str(tiny_corpus), "--hidden", "8", "--batch-size", "4",
                           "--steps", "4", "--eval-interval", "2", "--device", "cpu", "--out",
                           str(tmp_path / "run"), "--nproc", "2"], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("done: step 4") == 1
    assert (tmp_path / "run" / "last" / "trainer.json").exists()
    mistake = subprocess.run([*seqgen, str(tmp_path / "none.txt"), "--nproc", "2"],
                             capture_output=True, text=True, env=env, timeout=300)
    assert mistake.returncode == 2
    assert "corpus not found" in one_line_error(mistake.stdout + mistake.stderr)


def test_nproc_under_torchrun_is_an_error(tiny_corpus, monkeypatch):
    for name, value in dict(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="localhost",
                            MASTER_PORT="29999").items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["train", str(tiny_corpus), "--nproc", "2"])
    assert result.exit_code == 2
    assert "under torchrun leave it out" in one_line_error(result.output)
