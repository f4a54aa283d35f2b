"""What the benchmarks share: rows, timing, the bundled corpora, and the training steps timed.

It imports no other benchmark module, so imports run one way: ``benchmarks.__main__`` (the
registry of suites) -> the suites and scripts -> this module.
"""

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from seqgen.data.batching import Chunk
from seqgen.nn.cells import detach_state
from seqgen.nn.model import next_token_loss
from seqgen.training.devices import autocast

ROOT = Path(__file__).resolve().parent.parent
SHAKESPEARE = ROOT / "corpora" / "shakespeare"
CHORALES = ROOT / "corpora" / "bach-chorales"
CPU = torch.device("cpu")
SMOKE_CHARS = 50_000  # the slice of tiny-shakespeare the smoke size trains on

Step = Callable[[Chunk, object], object]  # (chunk, carried state) -> the state to carry on


@dataclass
class Row:
    name: str
    seqgen: float
    reference: float
    unit: str
    target: str
    ratio: float
    passed: bool

    def as_dict(self) -> dict:
        return asdict(self)


def median_interleaved(fns: list[Callable[[], float]], repeats: int) -> list[float]:
    """Run each function once per round, ``repeats`` rounds, in turn forwards and backwards (a
    machine that drifts during a round favours no one); the median of each one's results."""
    results: list[list[float]] = [[] for _ in fns]
    for round_ in range(repeats):
        order = range(len(fns)) if round_ % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            results[i].append(fns[i]())
    return [statistics.median(r) for r in results]


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (a GPU runs asynchronously to the clock)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device = CPU) -> float:
    """Seconds ``fn`` takes, the work it queued on ``device`` included."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


# ---- training steps ----------------------------------------------------------------------------


def seqgen_step(model, optimizer, chunk: Chunk, state, precision: str = "fp32"):
    """One truncated-BPTT training step as seqgen's trainer takes it; returns the new state."""
    with autocast(chunk.inputs.device, precision):
        state = model.chunk_state(chunk, state)
        logits, state = model(chunk.inputs, state)
        loss = next_token_loss(logits, chunk.targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return detach_state(state)


class PlainModel(nn.Module):
    """The minimal plain-PyTorch char model: embedding, a fused torch.nn module, linear head."""

    def __init__(self, rnn_class: type[nn.RNNBase], vocab: int, hidden: int,
                 layers: int = 2) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, hidden)
        self.rnn = rnn_class(hidden, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state):
        y, state = self.rnn(self.embedding(x), state)
        return self.head(y), state


def plain_step(model: PlainModel, optimizer: torch.optim.Optimizer, precision: str = "fp32",
               clip: float = 1.0) -> Step:
    """The plain loop's training step (the state carried, gradients clipped to ``clip``)."""

    def step(chunk: Chunk, state):
        with autocast(chunk.inputs.device, precision):
            logits, state = model(chunk.inputs, state)
            loss = F.cross_entropy(logits.flatten(0, 1), chunk.targets.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()

    return step


def train_rate(step: Step, chunks: list[Chunk]) -> Callable[[], float]:
    """A function that trains once over ``chunks`` (on their device), the state carried from
    chunk to chunk, and returns tokens per second."""
    device = chunks[0].inputs.device

    def run() -> float:
        state = None

        def train() -> None:
            nonlocal state
            for chunk in chunks:
                state = step(chunk, state)

        return sum(c.targets.numel() for c in chunks) / timed(train, device)

    return run


# ---- smaller corpora for the smoke sizes ---------------------------------------------------------


@contextmanager
def shakespeare(quick: bool) -> Iterator[Path]:
    """tiny-shakespeare, or at the smoke size its first ``SMOKE_CHARS`` characters."""
    if not quick:
        yield SHAKESPEARE
        return
    with tempfile.TemporaryDirectory() as folder:
        yield text_slice(SHAKESPEARE, SMOKE_CHARS, Path(folder))


def text_slice(path: Path, chars: int, folder: Path) -> Path:
    """The first ``chars`` characters of a text corpus (a folder's ``input.txt``) as a file in
    ``folder``, cut after a line break."""
    text = (path / "input.txt" if path.is_dir() else path).read_text(encoding="utf-8")
    sliced = folder / f"{path.stem}-{chars}.txt"
    sliced.write_text(text[:text.rfind("\n", 0, chars) + 1], encoding="utf-8")
    return sliced


def first_files(path: Path, count: int, folder: Path, suffix: str = ".mid") -> Path:
    """A folder in ``folder`` with copies of the first ``count`` ``suffix`` files of ``path``."""
    sliced = folder / f"{path.name}-{count}"
    sliced.mkdir()
    for file in sorted(path.glob(f"*{suffix}"))[:count]:
        shutil.copy(file, sliced / file.name)
    return sliced
