"""The quality suite (``python -m benchmarks quality``): seqgen's validation loss beside a
reference trained in the same run, on the same tiny-shakespeare split (the last 10%).

- 150 steps of a 1x128 LSTM (batch 32, seq 64): seqgen's defaults against a plain PyTorch loop
  (AdamW 2e-3, constant, clipping 1.0, the same batches);
- one epoch of a 2x256 LSTM (batch 64, seq 128): the same two, as in pytorch/examples'
  word_language_model with AdamW;
- 60 s and 5 minutes of training: ``seqgen train --time`` with every default against nanoGPT's
  CPU recipe for its README's character model (4 layers, 4 heads, 128 wide, block 64, batch
  12, AdamW 1e-3, warmup then cosine to a tenth over the iterations the same time buys);
- the precision ``auto`` picks (bf16 on a CPU with AMX or AVX512-BF16) against fp32: the
  5-minute run against the same model trained as many steps in fp32;
- which codec to start with (``codec_quality_rows``, also ``python -m benchmarks
  codec-quality`` alone): BPE 1024 and words against characters, each ``seqgen train --time``
  with every default for the same 5 minutes, in bits per character of the validation text
  (the last 10% of the bytes; a codec learnt from the text cuts it at the line break after).

Losses are nats per character over every position of the validation split (the transformer's
windows overlap by half, so every position it is scored on sees at least 32 characters).
"""

import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.suite import SHAKESPEARE, Row
from seqgen.config import TrainConfig
from seqgen.data.batching import IGNORE, Batches
from seqgen.data.corpus import load_corpus
from seqgen.data.subwords import UNKNOWN
from seqgen.training.devices import resolve_precision
from seqgen.training.evaluation import validation_batches
from seqgen.training.runs import train

PLAIN_LR = 2e-3


def seqgen_loss(config: TrainConfig) -> tuple[float, int, float]:
    """Train seqgen on tiny-shakespeare: (final validation loss, steps, seconds of training)."""
    with tempfile.TemporaryDirectory() as folder:
        result = train(SHAKESPEARE, config, Path(folder) / "run")
    return result.val_loss, result.step, result.seconds


# ---- the plain recurrent loop ----------------------------------------------------------------


class PlainLSTM(nn.Module):
    def __init__(self, vocab: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, hidden)
        self.rnn = nn.LSTM(hidden, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x: torch.Tensor, state: tuple | None) -> tuple[torch.Tensor, tuple]:
        y, state = self.rnn(self.embedding(x), state)
        return self.head(y), state


def plain_loss(hidden: int, layers: int, rows: int, seq_len: int, steps: int | None) -> float:
    """The plain loop on seqgen's batches (``steps``, or one epoch for None): its validation
    loss on seqgen's validation layout."""
    torch.manual_seed(0)
    corpus = load_corpus(SHAKESPEARE)
    train_data, val_data = corpus.split(0.1)
    model = PlainLSTM(corpus.codec.size, hidden, layers)
    optimizer = torch.optim.AdamW(model.parameters(), lr=PLAIN_LR)
    epoch, chunks = 0, iter(())
    for _ in range(steps or len(train_data.batches(rows, seq_len))):
        chunk = next(chunks, None)
        if chunk is None:
            chunks, state = iter(train_data.batches(rows, seq_len, epoch)), None
            epoch, chunk = epoch + 1, next(chunks)
        logits, state = model(chunk.inputs, state)
        loss = F.cross_entropy(logits.flatten(0, 1), chunk.targets.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        state = tuple(s.detach() for s in state)
    config = TrainConfig(batch_size=rows, seq_len=seq_len)
    return recurrent_loss(model, validation_batches(val_data, config))


@torch.no_grad()
def recurrent_loss(model: nn.Module, batches: Batches) -> float:
    total, count, state = 0.0, 0, None
    for chunk in batches:
        logits, state = model(chunk.inputs, state)
        total += float(F.cross_entropy(logits.flatten(0, 1), chunk.targets.flatten(),
                                       ignore_index=IGNORE, reduction="sum"))
        count += int((chunk.targets != IGNORE).sum())
    return total / count


# ---- nanoGPT's CPU recipe ----------------------------------------------------------------------


class Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(),
                                 nn.Linear(4 * width, width))
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2)
                   for z in self.qkv(self.ln1(x)).split(c, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    """nanoGPT's model at the size of its README's CPU recipe: tied input and output weights,
    weights drawn from N(0, 0.02) (the residual projections scaled by 1/sqrt(2 layers)).
    PyTorch's default N(0, 1) embedding, tied to the head, trains far slower."""

    def __init__(self, vocab: int, block: int = 64, layers: int = 4, heads: int = 4,
                 width: int = 128) -> None:
        super().__init__()
        self.tokens, self.positions = nn.Embedding(vocab, width), nn.Embedding(block, width)
        self.blocks = nn.Sequential(*(Block(width, heads) for _ in range(layers)))
        self.ln = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        self.head.weight = self.tokens.weight
        for name, parameter in self.named_parameters():  # nanoGPT's initialisation
            if name.endswith("bias"):
                nn.init.zeros_(parameter)
            elif parameter.dim() >= 2:
                scaled = name.endswith(("proj.weight", "mlp.2.weight"))
                nn.init.normal_(parameter, 0.0, 0.02 / (2 * layers) ** 0.5 if scaled else 0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tokens(idx) + self.positions(torch.arange(idx.size(1)))
        return self.head(self.ln(self.blocks(x)))


def transformer_loss(seconds: float, block: int = 64, batch: int = 12) -> tuple[float, int]:
    """nanoGPT's recipe trained for about ``seconds``: (validation loss, iterations). The
    iterations come from the speed of iterations 20 to 50 (the first ones carry one-time
    costs); the rate warms up over 100 and decays (cosine) to a tenth over them."""
    torch.manual_seed(0)
    corpus = load_corpus(SHAKESPEARE)
    train_data, val_data = corpus.split(0.1)
    ids = train_data.ids.long()
    model = TinyGPT(corpus.codec.size, block)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                   {"params": others, "weight_decay": 0.0}], lr=1e-3,
                                  betas=(0.9, 0.99))

    def step(iteration: int, iterations: int) -> None:
        rate = 1e-3 * min(1.0, (iteration + 1) / 100)
        if iteration >= 100:
            progress = (iteration - 100) / max(1, iterations - 100)
            rate = 1e-4 + 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))) * 9e-4
        for group in optimizer.param_groups:
            group["lr"] = rate
        starts = torch.randint(len(ids) - block - 1, (batch,))
        x = torch.stack([ids[s:s + block] for s in starts])
        y = torch.stack([ids[s + 1:s + block + 1] for s in starts])
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    start = time.perf_counter()
    for iteration in range(20):
        step(iteration, 10**9)
    timed = time.perf_counter()
    for iteration in range(20, 50):
        step(iteration, 10**9)
    now = time.perf_counter()
    iterations = 50 + max(0, int((seconds - (now - start)) / ((now - timed) / 30)))
    for iteration in range(50, iterations):
        step(iteration, iterations)
    return windowed_loss(model, val_data.ids.long(), block), iterations


@torch.no_grad()
def windowed_loss(model: nn.Module, ids: torch.Tensor, block: int) -> float:
    """Mean loss over every position of ``ids`` by windows of ``block`` overlapping by half:
    each position is scored once, with at least half a window of context (but the first)."""
    model.eval()
    half, total, count = block // 2, 0.0, 0
    for start in range(0, len(ids) - 1 - half, half):
        x = ids[start:start + block][None]
        y = ids[start + 1:start + block + 1][None]
        losses = F.cross_entropy(model(x[:, :y.size(1)]).flatten(0, 1), y.flatten(),
                                 reduction="none")
        scored = losses if start == 0 else losses[half:]
        total, count = total + float(scored.sum()), count + scored.numel()
    return total / count


# ---- the rows --------------------------------------------------------------------------------


def row(name: str, ours: float, reference: float, target: str,
        passed: Callable[[float, float], bool]) -> Row:
    return Row(name, ours, reference, "nats/char", target, ours / reference,
               passed(ours, reference))


def quality_rows(quick: bool) -> list[Row]:
    steps, budgets = (20, (5.0, 10.0)) if quick else (150, (60.0, 300.0))
    rows = []
    short = TrainConfig(layers=1, hidden=128, batch_size=32, seq_len=64, steps=steps,
                        eval_interval=steps, device="cpu", curves=False)
    rows.append(row(f"{steps} steps, 1x128 LSTM, batch 32, seq 64: seqgen defaults vs a plain "
                    "loop (AdamW 2e-3, constant)", seqgen_loss(short)[0],
                    plain_loss(128, 1, 32, 64, steps), "ratio <= 1.01",
                    lambda ours, ref: ours <= 1.01 * ref))
    epoch = TrainConfig(layers=2, hidden=128 if quick else 256, epochs=0.05 if quick else 1.0,
                        eval_interval=10**6, device="cpu", curves=False)
    rows.append(row("one epoch, 2x256 LSTM, batch 64, seq 128: seqgen defaults vs "
                    "word_language_model's loop (AdamW 2e-3)", seqgen_loss(epoch)[0],
                    plain_loss(epoch.hidden, 2, 64, 128, 12 if quick else None), "<= 2.05",
                    lambda ours, ref: quick or ours <= 2.05))
    for budget, target in zip(budgets, (1.85, 1.45), strict=True):
        timed = TrainConfig(time=budget, device="cpu", curves=False)
        ours, taken, seconds = seqgen_loss(timed)
        reference, iterations = transformer_loss(seconds)
        rows.append(row(f"{budget:g} s of training: seqgen --time, defaults ({taken} steps) vs "
                        f"nanoGPT's CPU recipe (transformer, {iterations} iterations)", ours,
                        reference, f"<= {target}",
                        lambda ours, ref, t=target: quick or ours <= t))
    layers, hidden = timed.model_size()
    fp32 = TrainConfig(steps=taken, precision="fp32", layers=layers, hidden=hidden,
                       eval_interval=10**6, device="cpu", curves=False)
    rows.append(row(f"precision {resolve_precision('auto', torch.device('cpu'))} (auto) vs fp32: "
                    f"the {budgets[1]:g} s run above against the same model trained its "
                    f"{taken} steps in fp32", ours, seqgen_loss(fp32)[0], "ratio within 1%",
                    lambda ours, ref: abs(ours / ref - 1) <= 0.01))
    return rows + codec_quality_rows(quick)


CODEC_RUNS = (("bpe", {"vocab_size": 1024}, "BPE 1024"), ("words", {"min_count": 2}, "words"))


def codec_bits_per_char(format: str, options: dict, seconds: float) -> tuple[float, int]:
    """Train ``seconds`` with every default on tiny-shakespeare with a codec: (validation bits
    per character, steps)."""
    config = TrainConfig(time=seconds, format=format, codec_options=options, device="cpu",
                         curves=False)
    with tempfile.TemporaryDirectory() as folder:
        result = train(SHAKESPEARE, config, Path(folder) / "run")
    return result.val_bits_per_char, result.step


def codec_quality_rows(quick: bool) -> list[Row]:
    """BPE 1024 and words against characters after the same training time (see above)."""
    seconds = 5.0 if quick else 300.0
    char, char_steps = codec_bits_per_char("char", {}, seconds)
    rows = []
    for format, options, name in CODEC_RUNS:
        ours, steps = codec_bits_per_char(format, options, seconds)
        unknown = unknown_share(format, options)
        note = f"; {unknown:.1%} of the validation text is unknown words, their spelling " \
            "not charged" if unknown else ""
        rows.append(Row(f"{seconds:g} s of training, defaults: {name} ({steps} steps{note}) vs "
                        f"char ({char_steps} steps)", ours, char, "bits/char", "report",
                        ours / char, True))
    return rows


def unknown_share(format: str, options: dict) -> float:
    """The share of the validation text's characters that the words codec writes as its
    unknown token (0 for the other codecs, which have none)."""
    if format != "words":
        return 0.0
    corpus = load_corpus(SHAKESPEARE, format, options)
    _, val = corpus.split(0.1)
    unknown = corpus.codec.tokenizer.token_to_id(UNKNOWN)
    return float(val.chars[val.ids == unknown].sum() / val.chars.sum())
