import os
import re
from pathlib import Path

import pytest
import torch

import seqgen
from seqgen.config import TrainConfig
from seqgen.plugins import pm
from seqgen.training.runs import train

ROOT = Path(__file__).resolve().parent.parent
SHAKESPEARE = ROOT / "corpora" / "shakespeare"
PRETRAINED = ROOT / "checkpoints" / "shakespeare-lstm"
BACH = ROOT / "checkpoints" / "bach"
NAMES = ROOT / "corpora" / "names"
NAMES_MODEL = ROOT / "checkpoints" / "names"
CLASSIFIER = ROOT / "checkpoints" / "names-classifier"
NUMBERS_MODEL = ROOT / "checkpoints" / "numbers"
HARMONIZER = ROOT / "checkpoints" / "harmonizer"
CHORALES = ROOT / "corpora" / "bach-chorales"

TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\nFirst Citizen:\nYou are all resolved rather to die than to famish?\n"
)


@pytest.fixture(autouse=True, scope="session")
def cache_dir(tmp_path_factory):
    """Keep the corpus cache of every test out of the user's home."""
    path = tmp_path_factory.mktemp("cache")
    os.environ["SEQGEN_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(autouse=True, scope="session")
def fixed_threads():
    """Every test computes with the thread count it started with, whatever else the machine
    runs: on some CPUs another count rounds a few sums differently, and tests compare weights
    bit for bit (tests/test_threads.py checks the setting that follows the load)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the workers share the cores: one thread each
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))


# The CLI's consoles are made when it is first imported, perhaps while tests are collected:
# they see this terminal too.
os.environ.update(NO_COLOR="1", COLUMNS="200")


@pytest.fixture(autouse=True)
def plain_terminal(monkeypatch):
    """Plain output with no colour codes, as in a CI log."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def tiny_corpus(tmp_path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(TEXT * 2, encoding="utf-8")
    return path


TINY_CONFIG = dict(cell="lstm", layers=2, hidden=16, batch_size=4, seq_len=8, steps=12,
                   eval_interval=5, log_interval=1, warmup_steps=2, device="cpu", curves=False)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A tiny run trained once for every test that only reads a checkpoint."""
    folder = tmp_path_factory.mktemp("trained")
    corpus = folder / "tiny.txt"
    corpus.write_text(TEXT * 2, encoding="utf-8")
    train(corpus, TrainConfig(**TINY_CONFIG), folder / "run")
    return folder / "run"


@pytest.fixture
def register_plugin():
    """Register plugin objects for one test, as a pip-installed plugin would be."""
    names = []

    def register(plugin, name):
        pm.register(plugin, name=name)
        names.append(name)

    yield register
    for name in names:
        pm.unregister(name=name)


class TinyCell(seqgen.StepCell):
    """A StepCell as a third-party plugin writes one: h' = tanh(gain * (W [x, h] + b))."""

    def __init__(self, input_size: int, hidden_size: int, gain: float = 1.0) -> None:
        super().__init__(input_size, hidden_size)
        self.linear = torch.nn.Linear(input_size + hidden_size, hidden_size)
        self.gain = gain

    def init_state(self, batch_size, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def step(self, x, h):
        h = torch.tanh(self.gain * self.linear(torch.cat([x, h], -1)))
        return h, h


class TinyCellPlugin:
    """A plugin registering ``TinyCell`` as the cell ``tiny``."""

    @staticmethod
    @seqgen.hookimpl
    def register_cells(register):
        register("tiny", TinyCell, description="a tiny test StepCell")


@pytest.fixture
def tiny_cell(register_plugin) -> str:
    """The cell ``tiny`` registered for one test by the plugin ``tiny-plugin``; its name."""
    register_plugin(TinyCellPlugin, "tiny-plugin")
    return "tiny"


def one_line_error(output: str) -> str:
    """The error a command printed: exactly one line starting with 'error:', no traceback."""
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, output
    return re.sub(r"\s+", " ", errors[0])
