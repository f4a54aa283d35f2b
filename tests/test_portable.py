"""Portable: sampling and evaluating import nothing that exists only on POSIX systems (Windows
has no fcntl, termios, resource, pwd, grp, nor SIGUSR1), and the run folder's lock, made
with filelock, names the process that holds it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from seqgen.errors import SeqgenError
from seqgen.training.checkpoint import run_lock

POSIX_ONLY = ("fcntl", "termios", "resource", "pwd", "grp")
# seqgen's command line as on Windows: importing a POSIX-only module fails, and there is no
# SIGUSR1 (the standard library and torch import some of them, guarded, as on Windows)
AS_ON_WINDOWS = f"""
import signal, sys
for name in {POSIX_ONLY!r}:
    sys.modules[name] = None
del signal.SIGUSR1
from seqgen.cli import main
sys.argv = ["seqgen", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("command", [["sample", "--length", "20", "--seed", "1"], ["eval"]])
def test_sample_and_eval_need_no_posix_only_module(command, trained_run):
    done = subprocess.run([sys.executable, "-c", AS_ON_WINDOWS, command[0], str(trained_run),
                           *command[1:], "--device", "cpu"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_the_run_lock_names_its_holder(tmp_path):
    holder = rf"being written by another seqgen train \(pid {os.getpid()}\)"
    with run_lock(tmp_path / "run"), pytest.raises(SeqgenError, match=holder), \
            run_lock(tmp_path / "run"):
        pass
    assert not (tmp_path / "run").exists()  # made for the lock alone: removed with it
