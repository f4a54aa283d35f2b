"""Encoder-decoder benchmarks, each measured beside its reference in this process.

- Training tokens per second (target tokens) of seqgen's encoder-decoder against a plain
  PyTorch encoder-decoder loop with the same shapes: a bidirectional fused ``nn.LSTM``
  encoder over the padded sources (letting padding into the backward direction, which seqgen
  does not: the fastest plain loop), a linear bridge, an ``nn.LSTM`` decoder and the same
  Luong general attention; and what the plain loop costs with packed sequences, the correct
  way to keep padding out of its bidirectional module.
- What input feeding costs in training (it makes the decoder a loop over steps).
- Beam search against greedy decoding (a beam of 1), the same sources and number of steps:
  the beams of every source step together as one batch.
- The bundled ``checkpoints/numbers``: exact match per magnitude band (1-9, 10-99, 100,
  101-999, 1000-9999), greedy against a beam of 5, and over its whole validation split (what
  ``seqgen eval`` reports). A band with held-out pairs is scored on those; one with none (1 to
  100 are all in training, see corpora/numbers/SOURCE.md) on its training pairs, as the row
  says. The smoke size decodes 2 pairs a band.

Pairs: ``corpora/numbers/pairs.tsv`` when it is there, else numbers and their digits in words.
Run ``python -m benchmarks seq2seq`` alone (``--quick``: the smoke size, tiny models).
"""

import random
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmarks.common import ROOT, Row, median_interleaved, timed
from seqgen.config import TrainConfig
from seqgen.data.pairs import load_pairs
from seqgen.data.splits import PairData
from seqgen.nn.beam import beam_search
from seqgen.nn.build import build_model
from seqgen.nn.constraints import Constraints
from seqgen.nn.model import chunk_forward, next_token_loss
from seqgen.nn.seq2seq import Decoding
from seqgen.training.checkpoint import load_checkpoint
from seqgen.training.devices import evaluation_precision
from seqgen.training.evaluation import decoding_scores
from seqgen.training.trainer import make_optimizer

NUMBERS = ROOT / "corpora" / "numbers" / "pairs.tsv"
NUMBERS_MODEL = ROOT / "checkpoints" / "numbers"
BANDS = ((1, 9), (10, 99), (100, 100), (101, 999), (1000, 9999))  # the numbers model's
BEAM = 5
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def pair_corpus(folder: Path):
    """The numbers corpus, or 3,000 made-up pairs of like lengths (digits in words)."""
    if NUMBERS.is_file():
        return load_pairs(NUMBERS)
    rng = random.Random(0)
    lines = []
    for _ in range(3000):
        number = str(rng.randrange(100_000))
        lines.append(f"{number}\t{' '.join(DIGITS[int(d)] for d in reversed(number))}\n")
    (folder / "pairs.tsv").write_text("".join(lines), encoding="utf-8")
    return load_pairs(folder / "pairs.tsv")


class PlainSeq2Seq(nn.Module):
    """The plain PyTorch encoder-decoder: the same shapes as seqgen's with ``--cell lstm``."""

    def __init__(self, source_vocab: int, vocab: int, hidden: int, packed: bool) -> None:
        super().__init__()
        self.hidden, self.packed = hidden, packed
        self.source_embedding = nn.Embedding(source_vocab, hidden)
        self.encoder = nn.LSTM(hidden, hidden // 2, 2, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(hidden, 4 * hidden)  # h and c of both decoder layers
        self.embedding = nn.Embedding(vocab, hidden)
        self.decoder = nn.LSTM(hidden, hidden, 2, batch_first=True)
        self.key = nn.Linear(hidden, hidden, bias=False)
        self.combine = nn.Linear(2 * hidden, hidden)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, source, lengths, inputs):
        x = self.source_embedding(source)
        if self.packed:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            memory = pad_packed_sequence(self.encoder(packed)[0], batch_first=True,
                                         total_length=x.size(1))[0]
        else:
            memory = self.encoder(x)[0]
        mask = torch.arange(source.size(1)) < lengths[:, None]
        memory = memory * mask[..., None]
        half = self.hidden // 2
        final = torch.cat([memory[torch.arange(len(lengths)), lengths - 1, :half],
                           memory[:, 0, half:]], -1)
        h, c = self.bridge(final).view(-1, 2, 2, self.hidden).permute(1, 2, 0, 3).unbind(0)
        y, _ = self.decoder(self.embedding(inputs), (h.contiguous(), c.contiguous()))
        scores = y @ self.key(memory).transpose(1, 2)
        weights = scores.masked_fill(~mask[:, None], float("-inf")).softmax(-1)
        return self.head(torch.tanh(self.combine(torch.cat([weights @ memory, y], -1))))


def train_step(model, optimizer, forward) -> None:
    optimizer.zero_grad(set_to_none=True)
    forward().backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()


def rate(chunks, step) -> callable:
    """A function that trains once over ``chunks`` and returns target tokens per second."""
    tokens = sum(int((c.targets >= 0).sum()) for c in chunks)

    def run() -> float:
        return tokens / timed(lambda: [step(chunk) for chunk in chunks])

    return run


def seqgen_trainer(corpus, hidden: int, **options):
    torch.manual_seed(0)
    config = TrainConfig(arch="encoder-decoder", hidden=hidden, layers=2, dropout=0.0, **options)
    model = build_model(config.model_config(corpus.codec.size, 0, corpus.source_codec.size))
    optimizer = make_optimizer(model, config)

    def step(chunk) -> None:
        train_step(model, optimizer, lambda: next_token_loss(
            chunk_forward(model, chunk, None)[0], chunk.targets))

    return model, step


def plain_trainer(corpus, hidden: int, packed: bool):
    torch.manual_seed(0)
    model = PlainSeq2Seq(corpus.source_codec.size, corpus.codec.size, hidden, packed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)

    def step(chunk) -> None:
        train_step(model, optimizer, lambda: F.cross_entropy(
            model(chunk.source, chunk.source_lengths, chunk.inputs).flatten(0, 1),
            chunk.targets.flatten()))

    return step


def training_rows(corpus, hidden: int, batches: int, repeats: int) -> list[Row]:
    train, _ = corpus.split(0.1)
    chunks = list(train.batches(64, 10_000, epoch=0, seed=0, train=True))[:batches]
    _, ours = seqgen_trainer(corpus, hidden)
    _, fed = seqgen_trainer(corpus, hidden, input_feeding=True)
    plain, packed = plain_trainer(corpus, hidden, False), plain_trainer(corpus, hidden, True)
    ours_rate, plain_rate, packed_rate, fed_rate = median_interleaved(
        [rate(chunks, ours), rate(chunks, plain), rate(chunks, packed), rate(chunks, fed)],
        repeats)
    name = f"train encoder-decoder lstm 2x{hidden}, batch 64"
    return [
        Row(f"{name} (vs plain PyTorch loop)", ours_rate, plain_rate, "tokens/s", ">= 0.9",
            ours_rate / plain_rate, ours_rate / plain_rate >= 0.9),
        Row("  the plain loop with packed sequences (padding kept out)", ours_rate,
            packed_rate, "tokens/s", "report", ours_rate / packed_rate, True),
        Row("  input feeding (a step loop) vs none", fed_rate, ours_rate, "tokens/s",
            "report", fed_rate / ours_rate, True)]


def decoding_rows(corpus, hidden: int, sources: int, length: int, beam: int,
                  repeats: int) -> list[Row]:
    model, _ = seqgen_trainer(corpus, hidden)
    _, val = corpus.split(0.1)
    decoding = Decoding(model, val.sources[:sources])
    prompt = torch.tensor([corpus.codec.BOS])

    def search(width: int) -> callable:
        return lambda: timed(lambda: beam_search(decoding, prompt, length, width, sources,
                                                 constraints=Constraints(banned=[0, 1])))

    beam_s, greedy_s = median_interleaved([search(beam), search(1)], repeats)
    return [Row(f"beam {beam} vs greedy: {sources} inputs, {length} steps", beam_s, greedy_s,
                "s", f"<= {beam}", beam_s / greedy_s, beam_s / greedy_s <= beam)]


def band_name(lowest: int, highest: int) -> str:
    return str(lowest) if lowest == highest else f"{lowest}-{highest}"


def number_bands(pairs: PairData) -> dict[tuple[int, int], PairData]:
    """The pairs of each of ``BANDS`` (by the number in the source, ``de 4721``)."""
    chosen: dict[tuple[int, int], list[int]] = {band: [] for band in BANDS}
    for i, source in enumerate(pairs.sources):
        number = int(pairs.source_codec.decode(source).split()[-1])
        for lowest, highest in BANDS:
            if lowest <= number <= highest:
                chosen[lowest, highest].append(i)
    return {band: PairData([pairs.sources[i] for i in indices],
                           [pairs.targets[i] for i in indices], pairs.codec, pairs.source_codec)
            for band, indices in chosen.items()}


def band_rows(quick: bool, checkpoint: Path = NUMBERS_MODEL,
              corpus: Path | None = NUMBERS) -> list[Row]:
    """Exact match of the numbers model per magnitude band, greedy vs a beam of ``BEAM``:
    a band's held-out pairs, or its training pairs where none are held out; then the whole
    validation split (the held-out bands together)."""
    ckpt = load_checkpoint(checkpoint, "cpu")
    precision = evaluation_precision(ckpt.training_config().precision, torch.device("cpu"))
    train, val = ckpt.split(ckpt.load_corpus(corpus))
    held_out, trained = number_bands(val), number_bands(train)
    rows, scored = [], []  # scored: (pairs, greedy, beam) of the held-out bands
    for band in BANDS:
        pairs, where = held_out[band], "held out"
        if not pairs.targets:
            pairs, where = trained[band], "all in training"
        if not pairs.targets:
            continue
        if quick:
            pairs = PairData(pairs.sources[:2], pairs.targets[:2], pairs.codec,
                             pairs.source_codec)
        scores = decoding_scores(ckpt.model, ckpt.codec, pairs, BEAM, precision)
        greedy, beam = scores["greedy"]["exact match"], scores[f"beam {BEAM}"]["exact match"]
        if where == "held out":
            scored.append((len(pairs.targets), greedy, beam))
        rows.append(band_row(f"{band_name(*band)}: {count_of(pairs)}, {where}", greedy, beam))
    count = sum(n for n, _, _ in scored)
    if count:
        rows.append(band_row(
            f"the validation split (as seqgen eval): {count:,} pairs",
            sum(n * g for n, g, _ in scored) / count, sum(n * b for n, _, b in scored) / count))
    return rows


def count_of(pairs: PairData) -> str:
    count = len(pairs.targets)
    return f"{count:,} pair{'s' * (count != 1)}"


def band_row(what: str, greedy: float, beam: float) -> Row:
    return Row(f"numbers model, exact match greedy (vs beam {BEAM}), {what}", greedy, beam,
               "%", ">= 99% greedy", greedy / beam if beam else 0.0, greedy >= 99)


def seq2seq_rows(quick: bool) -> list[Row]:
    with tempfile.TemporaryDirectory() as folder:
        corpus = pair_corpus(Path(folder))
        hidden = 32 if quick else 256
        return (training_rows(corpus, hidden, 2 if quick else 12, 1 if quick else 3)
                + decoding_rows(corpus, hidden, 8 if quick else 64, 10 if quick else 40, 5,
                                1 if quick else 3)
                + band_rows(quick))
