"""Training on a busy machine (``python -m benchmarks load``): tokens per second of ``seqgen
train`` (tiny-shakespeare, a 2x256 LSTM, every other default) alone and beside one busy
process (``python -c "while True: pass"``), with seqgen's thread setting (one thread per core,
one fewer for each core other processes keep busy) and with a fixed thread per core, as
torch has by default (``--threads`` set to the cores).

The rate is measured over steps 10 to 60, after the first logging window (in which the thread
setting first looks at the load); each figure is the median of 4 runs, interleaved in turn
forwards and backwards. Targets: beside the busy process at least 0.4x the rate alone; alone,
no more than 5% below the fixed setting.
"""

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import Row, median_interleaved, shakespeare
from seqgen import threads
from seqgen.config import TrainConfig
from seqgen.training.runs import train

BUSY = [sys.executable, "-c", "while True: pass"]


@contextmanager
def busy_process() -> Iterator[None]:
    """One other process keeping a core busy for the block."""
    process = subprocess.Popen(BUSY)
    try:
        yield
    finally:
        process.kill()
        process.wait()


def training_rate(corpus: Path, config: TrainConfig, count: int | None) -> float:
    """Training tokens per second after the first logging window, with ``count`` threads
    (None: seqgen's setting, which follows the load)."""
    threads.configure(count)
    events: list[dict] = []
    with tempfile.TemporaryDirectory() as folder:
        train(corpus, config, Path(folder) / "run", progress=events.append)
    logged = [e for e in events if e["event"] == "train"]
    first, last = logged[0], logged[-1]
    tokens = (last["step"] - first["step"]) * config.batch_size * config.seq_len
    return tokens / (last["elapsed"] - first["elapsed"])


def load_rows(quick: bool) -> list[Row]:
    with shakespeare(quick) as corpus:
        return measured_rows(corpus, quick)


def measured_rows(corpus: Path, quick: bool) -> list[Row]:
    """The rows of ``load_rows``, measured on ``corpus``."""
    config = TrainConfig(layers=2, hidden=16 if quick else 256, batch_size=64, seq_len=128,
                         steps=6 if quick else 60, log_interval=2 if quick else 10,
                         eval_interval=10**6, max_val_tokens=20_000, device="cpu", curves=False)
    cores, repeats = threads.configure().most, 1 if quick else 4
    runs = [lambda: training_rate(corpus, config, None),
            lambda: training_rate(corpus, config, cores)]
    alone = median_interleaved(runs, repeats)
    with busy_process():
        loaded = median_interleaved(runs, repeats)
    threads.configure()
    size = f"2x{config.hidden} LSTM"
    return [
        Row(f"train {size} beside one busy process vs alone (seqgen's thread setting)",
            loaded[0], alone[0], "tokens/s", ">= 0.4", loaded[0] / alone[0],
            loaded[0] / alone[0] >= 0.4),
        Row(f"  alone: seqgen's thread setting vs {cores} fixed threads (--threads {cores})",
            alone[0], alone[1], "tokens/s", ">= 0.95", alone[0] / alone[1],
            alone[0] / alone[1] >= 0.95),
        Row(f"  beside one busy process with {cores} fixed threads vs alone (torch's default)",
            loaded[1], alone[1], "tokens/s", "report", loaded[1] / alone[1], True)]
