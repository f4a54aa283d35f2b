"""The GPU check (``python -m benchmarks gpu [--json-out FILE]``): what a machine with a CUDA
GPU can tell that a CPU cannot, in a few minutes (at most 5 on one GPU):

- the CUDA tests (``tests/test_cuda.py``: training in fp32 and bf16, resuming, sampling and
  loading a run on the GPU), passed of collected;
- training tokens/s of seqgen's trainer step against a plain PyTorch loop on the GPU, the same
  chunks, in fp32 and (a GPU of compute capability 8.0 or later) bf16 autocast: the training
  rows of ``python -m benchmarks training`` on the GPU;
- sampling tokens/s against an ``nn.LSTMCell`` loop on the GPU: the sampling rows;
- ``torchrun --standalone --nproc-per-node 1 -m seqgen train corpora/shakespeare --steps 50
  --device cuda``: it exits 0 and writes a checkpoint; its seconds beside the same training in
  one plain process. In a world of one process seqgen joins no process group, so this checks
  the launch, not NCCL.

The rows go to the table and to ``gpu-results.json`` (``--json-out``). On a machine without a
CUDA GPU it prints one line saying so and measures nothing.
"""

import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import torch

from benchmarks.common import ROOT, SHAKESPEARE, Row
from benchmarks.suite import sampling_rows, training_rows
from seqgen.training.devices import bf16_native

CUDA_TESTS = "tests/test_cuda.py"  # every test that needs a CUDA GPU (skipped without one)
TIMEOUT = 240  # seconds for the CUDA tests, and for each training run


def gpu_rows(quick: bool) -> list[Row]:
    """Every row of the GPU check; none (and one line) without a CUDA GPU."""
    if not torch.cuda.is_available():
        print("gpu: nothing measured, there is no CUDA GPU here "
              "(torch.cuda.is_available() is False)", file=sys.stderr)
        return []
    device = torch.device("cuda")
    precisions = ("fp32", "bf16") if bf16_native(device) else ("fp32",)
    return [cuda_tests_row(),
            *(row for precision in precisions
              for row in training_rows(quick, device, precision)),
            *sampling_rows(quick, device),
            torchrun_row(quick)]


def cuda_tests_row() -> Row:
    """The CUDA tests run by pytest in a process of their own: passed of collected."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "cuda-tests.xml"
        run_quietly([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", CUDA_TESTS,
                     f"--junitxml={report}"])
        suite = ElementTree.parse(report).getroot().find("testsuite")
    collected = int(suite.get("tests"))
    passed = collected - sum(int(suite.get(key)) for key in ("failures", "errors", "skipped"))
    return Row(f"CUDA tests ({CUDA_TESTS}) on {torch.cuda.get_device_name()}: passed of "
               "collected", passed, collected, "tests", "all pass", passed / max(1, collected),
               collected > 0 and passed == collected)


def torchrun_row(quick: bool) -> Row:
    """Training under torchrun with one process on one GPU, against the same training in a
    plain process: seconds; passes where torchrun's exits 0 and writes a checkpoint."""
    steps = 5 if quick else 50
    with tempfile.TemporaryDirectory() as folder:
        runs = {name: Path(folder) / name for name in ("torchrun", "alone")}
        train = ["-m", "seqgen", "train", str(SHAKESPEARE), "--steps", str(steps), "--device",
                 "cuda", "--out"]
        code, seconds = run_quietly([sys.executable, "-m", "torch.distributed.run",
                                     "--standalone", "--nproc-per-node", "1", *train,
                                     str(runs["torchrun"])])
        alone_code, alone = run_quietly([sys.executable, *train, str(runs["alone"])])
        written = (runs["torchrun"] / "best" / "model.safetensors").is_file()
    return Row(f"torchrun --standalone --nproc-per-node 1, train {steps} steps on cuda (vs one "
               f"process, exit code {alone_code}): exit code {code}, checkpoint "
               f"{'written' if written else 'missing'}", seconds, alone, "s",
               "exit 0 and a checkpoint", seconds / alone, code == 0 and written)


def run_quietly(command: list[str]) -> tuple[int, float]:
    """Run a command in the repository, its output shown only if it fails: (exit code,
    seconds)."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    seconds = time.perf_counter() - start
    if done.returncode:
        print(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}"
              f"{done.stderr[-3000:]}", file=sys.stderr)
    return done.returncode, seconds
