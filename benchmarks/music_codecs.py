"""Music codecs side by side: the built-in ``midi`` codec (Performance RNN's events) against
MidiTok's tokenizations through the ``seqgen-miditok`` plugin, on the same pieces, split and
training budget.

For each codec: how fast it encodes the corpus (seconds of music per second of wall time,
parsing included, the cache empty), how many tokens a second of music takes, and the
validation loss in **nats per second of music** after the same training time with every
other setting the default (``seqgen train CORPUS --format F --time T``). Tokens of different
codecs stand for different amounts of music, so the loss per token does not compare; the loss
summed over the validation pieces, divided by how long they last (read from the files, the
same for every codec), does. Each row's reference is the ``midi`` codec, measured in the same
run; the rows report, they set no target.

    python -m benchmarks music-codecs             # the bundled chorales, 180 s of training each
    python -m benchmarks music-codecs --quick     # 6 chorales, 3 steps of a tiny model

Without the plugin (``pip install -e plugins/seqgen-miditok``) the suite says so in one line and
measures nothing.
"""

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import CHORALES, Row, first_files
from seqgen.config import TrainConfig
from seqgen.data.codecs.base import codecs
from seqgen.data.codecs.midi import MidiOptions, read_notes
from seqgen.data.corpus import load_corpus
from seqgen.data.splits import split_items
from seqgen.training.checkpoint import load_checkpoint
from seqgen.training.evaluation import evaluate_checkpoint
from seqgen.training.runs import train

TIME = 180.0  # seconds of training per codec at the full size
QUICK_PIECES = 6
# (name in the rows, --format, --codec-opt)
CODECS = (("midi", "midi", {}),
          ("miditok REMI", "miditok", {"tokenizer": "REMI"}),
          ("miditok TSD", "miditok", {"tokenizer": "TSD"}))
QUICK = dict(cell="gru", layers=1, hidden=16, batch_size=2, seq_len=32, steps=3,
             eval_interval=3, precision="fp32")
INSTALL = "pip install -e plugins/seqgen-miditok"


@dataclass
class Measured:
    encode_rate: float  # seconds of music encoded per second
    tokens_per_second: float  # tokens per second of music
    nats_per_second: float  # validation loss per second of music
    steps: int


def music_codec_rows(quick: bool) -> list[Row]:
    """Rows of each MidiTok tokenization against the ``midi`` codec; none (and one line)
    without the plugin."""
    if "miditok" not in codecs():
        print(f"music-codecs: nothing measured, the seqgen-miditok plugin is not installed "
              f"({INSTALL})", file=sys.stderr)
        return []
    with tempfile.TemporaryDirectory() as folder:
        corpus = first_files(CHORALES, QUICK_PIECES, Path(folder)) if quick else CHORALES
        measured = {name: measure(corpus, fmt, options, quick, Path(folder) / name)
                    for name, fmt, options in CODECS}
    base = measured["midi"]
    length = "3 steps" if quick else f"{TIME:g} s of training each"
    rows = []
    for name, _, _ in CODECS[1:]:
        ours = measured[name]
        rows += [
            Row(f"music codecs: {name} vs midi, validation nats per second of music ({length}: "
                f"{ours.steps} and {base.steps} steps)", ours.nats_per_second,
                base.nats_per_second, "nats/s", "report",
                ours.nats_per_second / base.nats_per_second, True),
            Row(f"music codecs: {name} vs midi, tokens per second of music",
                ours.tokens_per_second, base.tokens_per_second, "tokens/s", "report",
                ours.tokens_per_second / base.tokens_per_second, True),
            Row(f"music codecs: {name} vs midi, encoding (seconds of music a second, the "
                f"cache empty)", ours.encode_rate, base.encode_rate, "x real time", "report",
                ours.encode_rate / base.encode_rate, True)]
    return rows


def measure(corpus: Path, fmt: str, options: dict, quick: bool, work: Path) -> Measured:
    """Encode ``corpus`` with a codec into an empty cache, train on it, score the run."""
    work.mkdir()
    start = time.perf_counter()
    read = load_corpus(corpus, fmt, options, cache_dir=work / "cache")
    encoding = time.perf_counter() - start
    tokens = sum(len(item) for item in read.pieces)
    music = sum(piece_seconds(file) for file in read.files)
    settings = dict(QUICK) if quick else dict(time=TIME)
    train(corpus, TrainConfig(format=fmt, codec_options=options, device="cpu", curves=False,
                              **settings), work / "run")
    return Measured(music / encoding, tokens / music, nats_per_second(work / "run"),
                    load_checkpoint(work / "run").trainer["step"])


def piece_seconds(file: Path) -> float:
    """How long a piece lasts: its last note's end (the same for every codec)."""
    return max(note.end for note in read_notes(file, MidiOptions()))


def nats_per_second(run: Path) -> float:
    """The run's validation loss summed over its validation pieces, per second of them."""
    result = evaluate_checkpoint(run, device="cpu")
    ckpt = load_checkpoint(run)
    files = ckpt.load_corpus().files
    _, val_ids = split_items(len(files), None, ckpt.training_config().val_fraction)
    return result.loss * result.tokens / sum(piece_seconds(files[i]) for i in val_ids)
