"""Stopped by the system: SIGTERM and SIGUSR1 (what ``kill``, ``timeout`` and batch schedulers
send before they kill a job) save a resumable snapshot as Ctrl-C does, in one process and in
several, and exit with 128 + the signal's number; elsewhere they end the command with nothing
half-written; a folder a run left before its first snapshot says to start again."""

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqgen.cli import app
from seqgen.files import atomic_write
from seqgen.signals import Stopped, stop_on_signals
from seqgen.training.trainer import deferred_interrupt
from tests.conftest import one_line_error

pytestmark = pytest.mark.skipif(os.name != "posix", reason="sends POSIX signals")
runner = CliRunner()
SEQGEN = [sys.executable, "-m", "seqgen", "train"]
SMALL = ["--hidden", "16", "--batch-size", "4", "--seq-len", "8", "--steps", "1000000",
         "--log-interval", "1", "--eval-interval", "3", "--device", "cpu", "--no-curves"]


def one_thread() -> dict[str, str]:
    """This environment, with one thread per process (two processes share a small CPU)."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def stop_training(corpus: Path, run_dir: Path, signum: int, *options: str,
                  target: Callable[[subprocess.Popen], int] = lambda proc: proc.pid,
                  ) -> tuple[subprocess.Popen, str]:
    """Start ``seqgen train`` and, once its first validation is printed (a snapshot is saved,
    training is under way), send ``signum`` to ``target``; return the process, ended, and
    what it printed to stderr."""
    proc = subprocess.Popen([*SEQGEN, str(corpus), *SMALL, "--out", str(run_dir), *options],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=one_thread())
    # Only a safety net for a hung process, not a limit on speed: killing it ends the read.
    safety_net = threading.Timer(1200, proc.kill)
    safety_net.start()
    try:
        printed = []
        for line in proc.stdout:  # blocks until the process prints its next line
            printed.append(line)
            if "validation loss" in line:
                break
        else:
            pytest.fail(f"training ended before its first validation: {printed} "
                        f"{proc.communicate()}")
        os.kill(target(proc), signum)
        _, err = proc.communicate()
    finally:
        safety_net.cancel()
    return proc, err


def check_stopped_and_resumed(proc: subprocess.Popen, err: str, run_dir: Path,
                              name: str, signum: int) -> None:
    """The run stopped with 128 + ``signum`` and one line naming the signal, the step its
    ``last/`` snapshot holds and the command that resumes it; that command continues it."""
    assert proc.returncode == 128 + signum, err
    step = json.loads((run_dir / "last/trainer.json").read_text())["step"]
    assert step >= 3
    assert one_line_error(err) == (
        f"error: training stopped by {name} at step {step}; a resumable checkpoint is in "
        f"{run_dir}/last; resume with: seqgen train --resume {run_dir}")
    resumed = subprocess.run([*SEQGEN, "--resume", str(run_dir), "--steps", str(step + 2)],
                             capture_output=True, text=True, env=one_thread(), timeout=1200)
    assert resumed.returncode == 0, resumed.stderr
    assert f"done: step {step + 2}" in resumed.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", ["SIGTERM", "SIGUSR1"])
def test_a_signal_to_a_real_process_saves_and_the_run_resumes(name, tiny_corpus, tmp_path):
    signum = getattr(signal, name)
    proc, err = stop_training(tiny_corpus, tmp_path / "run", signum)
    check_stopped_and_resumed(proc, err, tmp_path / "run", name, signum)


@pytest.mark.slow
def test_sigterm_to_the_launcher_of_two_processes_saves_and_the_run_resumes(tiny_corpus,
                                                                            tmp_path):
    proc, err = stop_training(tiny_corpus, tmp_path / "run", signal.SIGTERM, "--nproc", "2")
    check_stopped_and_resumed(proc, err, tmp_path / "run", "SIGTERM", signal.SIGTERM)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds workers in /proc")
def test_sigterm_to_one_worker_of_two_stops_both_with_a_snapshot(tiny_corpus, tmp_path):
    # rank 1 alone is signalled: the processes agree at the next logging step
    proc, err = stop_training(tiny_corpus, tmp_path / "run", signal.SIGTERM, "--nproc", "2",
                              target=lambda launcher: worker_pid(launcher.pid, rank=1))
    check_stopped_and_resumed(proc, err, tmp_path / "run", "SIGTERM", signal.SIGTERM)


def worker_pid(launcher: int, rank: int) -> int:
    """The pid of the process of ``rank`` that the launcher ``launcher`` started (from
    Linux's /proc)."""
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            parent = f"\nPPid:\t{launcher}\n" in status.read_text()
            environment = (status.parent / "environ").read_bytes().split(b"\0")
        except OSError:  # ended meanwhile
            continue
        if parent and f"RANK={rank}".encode() in environment:
            return int(status.parent.name)
    raise AssertionError(f"no process of rank {rank} under {launcher}")


@pytest.fixture
def stop_signals():
    """SIGTERM and SIGUSR1 handled as the command line handles them, for one test."""
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGUSR1)}
    stop_on_signals()
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


def test_sigterm_outside_training_stops_with_nothing_half_written(stop_signals, tmp_path):
    with pytest.raises(Stopped, match="stopped by SIGTERM") as stopped, \
            atomic_write(tmp_path / "samples.txt") as tmp:
        tmp.write_text("half a sample", encoding="utf-8")
        os.kill(os.getpid(), signal.SIGTERM)
    assert stopped.value.exit_code == 143
    assert list(tmp_path.iterdir()) == []


def test_a_second_signal_stops_at_once_unless_it_repeats_sigterm(stop_signals):
    with deferred_interrupt() as received:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)  # as a scheduler and torchrun both send it
        assert received() == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    with deferred_interrupt() as received:
        os.kill(os.getpid(), signal.SIGUSR1)
        with pytest.raises(Stopped, match="stopped by SIGTERM"):
            os.kill(os.getpid(), signal.SIGTERM)


def test_a_sampling_command_stopped_by_sigterm_says_so_in_one_line(trained_run):
    proc = subprocess.Popen([sys.executable, "-m", "seqgen", "sample", str(trained_run),
                             "--length", "100000000", "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    safety_net = threading.Timer(600, proc.kill)
    safety_net.start()
    try:
        proc.stdout.read(1)  # it has loaded the model and streams text
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate()
    finally:
        safety_net.cancel()
    assert proc.returncode == 143
    assert one_line_error(err) == "error: stopped by SIGTERM"


@pytest.fixture
def stopped_before_a_snapshot(tmp_path) -> Path:
    """A run folder as a run killed before its first save leaves it."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text('{"event": "train", "step": 1}\n', encoding="utf-8")
    return run_dir


@pytest.mark.parametrize("command", ["train", "resume"])
def test_a_folder_without_a_snapshot_says_to_start_again(command, stopped_before_a_snapshot,
                                                         tiny_corpus):
    run_dir = stopped_before_a_snapshot
    args = ["train", str(tiny_corpus), "--out", str(run_dir)] if command == "train" \
        else ["train", "--resume", str(run_dir)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    line = one_line_error(result.output)
    assert line == (f"error: {run_dir} holds a run stopped before its first snapshot "
                    f"(metrics.jsonl, no best/ or last/): there is nothing to resume; start "
                    f"again with seqgen train CORPUS --out {run_dir} --overwrite, or pick "
                    "another --out")
    started_again = runner.invoke(app, ["train", str(tiny_corpus), "--out", str(run_dir),
                                        "--overwrite", "--steps", "2", "--hidden", "8",
                                        "--device", "cpu", "--no-curves"])
    assert started_again.exit_code == 0, started_again.output
