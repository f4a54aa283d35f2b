"""Do 2-process runs exit cleanly? Train under torchrun N times in a row and count crashes.

Each run is ``torchrun --standalone --nproc-per-node 2 -m seqgen train corpora/shakespeare
--cell gru --layers 1 --hidden 64 --steps 20 --device cpu`` with ``OMP_NUM_THREADS=1``; a run
crashed if it exited nonzero, printed ``terminate called`` (gloo aborting a process that left
the group while the other still used it) or did not end within the timeout. ``--launcher
nproc`` runs the same training through ``seqgen train --nproc 2`` (the elastic launcher
inside seqgen) instead.
Run it alone: python -m benchmarks.ddp_exit --runs 50
The smoke size (``--quick``): one run of 2 steps.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from benchmarks.common import ROOT, SHAKESPEARE

TIMEOUT = 300  # seconds: a run that has not ended by then hangs
LAUNCHERS = {"torchrun": [sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc-per-node=2", "-m", "seqgen"],
             "nproc": [sys.executable, "-m", "seqgen"]}


def one_run(launcher: str, out: Path, steps: int = 20) -> tuple[int | str, str]:
    """Train ``steps`` in 2 processes: the exit code (or "timeout") and the output."""
    command = [*LAUNCHERS[launcher], "train", str(SHAKESPEARE), "--cell", "gru", "--layers",
               "1", "--hidden", "64", "--steps", str(steps), "--device", "cpu", "--out",
               str(out)]
    if launcher == "nproc":
        command += ["--nproc", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT,
                              timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return "timeout", ""
    return done.returncode, done.stdout + done.stderr


def main(argv: list[str] | None = None) -> int:
    """Count the crashes of the runs; the exit code: 1 where any run crashed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ddp_exit",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--launcher", choices=list(LAUNCHERS), default="torchrun")
    parser.add_argument("--quick", action="store_true", help="the smoke size: one run, 2 steps")
    args = parser.parse_args(argv)
    runs, steps = (1, 2) if args.quick else (args.runs, 20)
    codes: Counter = Counter()
    crashes = 0
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            code, output = one_run(args.launcher, Path(tmp) / f"run{run}", steps)
            crashed = code != 0 or "terminate called" in output
            codes[code] += 1
            crashes += crashed
            print(f"run {run + 1}/{runs}: exit code {code}{', crashed' if crashed else ''}",
                  flush=True)
            if crashed:
                print("\n".join(output.splitlines()[-20:]), flush=True)
    seen = ", ".join(f"{code}: {n}" for code, n in sorted(codes.items(), key=str))
    print(f"{crashes} of {runs} runs crashed; exit codes seen (code: runs): {seen}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
