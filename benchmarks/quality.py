"""The quality suite (``python -m benchmarks quality``): seqgen's validation loss beside
references trained in the same run, on the same tiny-shakespeare split (the last 10%). Each
row passes on its ratio to the reference measured beside it, never on an absolute loss:

- 150 steps of a 1x128 LSTM (batch 32, seq 64): seqgen's defaults against a plain PyTorch
  loop (AdamW at a constant rate, clipping 1.0, the same batches) at its best rate of 2e-3,
  5e-3 and 8e-3 (each trained from the same start on the same batches; the best by its own
  validation loss). Target: seqgen no worse than the tuned plain loop by more than 1%.
- one epoch of a 2x256 LSTM (batch 64, seq 128): the same against the tuned AdamW loop on
  pytorch/examples' word_language_model data layout (the stream cut into rows, the state
  carried from chunk to chunk), and against that example's own recipe (plain SGD at rate 20,
  clipping 0.25; its division of the rate by 4 when the validation loss stops improving acts
  between epochs, so not within the one). Target: no worse than either by more than 1%.
- 60 s and 5 minutes of training: ``seqgen train --time`` with every default against
  nanoGPT's CPU recipe for its README's character model (4 layers, 4 heads, 128 wide, block
  64, batch 12, AdamW 1e-3, warmup then cosine to a tenth) trained for the same wall time (the
  iterations that time buys here); and the 60 s run against the recipe as the README runs it,
  2,000 iterations with the rate decayed over them (about 60 s for nanoGPT on these machines;
  the row gives the seconds it took here). Target: seqgen at least as good.
- the precision ``auto`` picks (bf16 on a CPU with AMX or AVX512-BF16) against fp32: the
  5-minute run against the same model trained as many steps in fp32, within 1%;
- which codec to start with (``codec_quality_rows``, also ``python -m benchmarks
  codec-quality`` alone): BPE 1024 and words against characters, each ``seqgen train --time``
  with every default for the same 5 minutes, in bits per character of the validation text
  (the last 10% of the bytes; a codec learnt from the text cuts it at the line break after).

Losses are nats per character over every position of the validation split (the transformer's
windows overlap by half, so every position it is scored on sees at least 32 characters).

``--quick`` is the smoke size: every row on the first 50,000 characters of the corpus, with
1x16 and 2x16 LSTMs, a 1-layer transformer 32 wide, a few steps and iterations and budgets of
a fraction of a second: the comparisons run, their outcomes mean nothing.
"""

import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.common import PlainModel, Row, plain_step, shakespeare
from seqgen.config import TrainConfig
from seqgen.data.batching import IGNORE, Batches
from seqgen.data.codecs.subwords import UNKNOWN
from seqgen.data.corpus import load_corpus
from seqgen.training.devices import resolve_precision
from seqgen.training.evaluation import validation_batches
from seqgen.training.runs import train

PLAIN_RATES = (2e-3, 5e-3, 8e-3)  # the plain AdamW loop's rates; it gets its best
NANOGPT = {"layers": 4, "heads": 4, "width": 128}  # the README's CPU recipe
NANOGPT_ITERATIONS = 2000  # its --max_iters and --lr_decay_iters
SMOKE_GPT = {"layers": 1, "heads": 2, "width": 32}
SMOKE_LSTM = {"layers": 1, "hidden": 16}  # what --time runs at the smoke size (else its pick)

Optimizer = Callable[[list[nn.Parameter]], torch.optim.Optimizer]


def seqgen_loss(corpus: Path, config: TrainConfig) -> tuple[float, int, float]:
    """Train seqgen on ``corpus``: (final validation loss, steps, seconds of training)."""
    with tempfile.TemporaryDirectory() as folder:
        result = train(corpus, config, Path(folder) / "run")
    return result.val_loss, result.step, result.seconds


# ---- the plain recurrent loop ----------------------------------------------------------------


def plain_loss(corpus: Path, hidden: int, layers: int, rows: int, seq_len: int,
               steps: int | None, optimizer: Optimizer, clip: float = 1.0) -> float:
    """The plain loop on seqgen's batches (``steps``, or one epoch for None) with
    ``optimizer`` at a constant rate: its validation loss on seqgen's validation layout."""
    torch.manual_seed(0)
    loaded = load_corpus(corpus)
    train_data, val_data = loaded.split(0.1)
    model = PlainModel(nn.LSTM, loaded.codec.size, hidden, layers)
    step = plain_step(model, optimizer(list(model.parameters())), clip=clip)
    epoch, chunks, state = 0, iter(()), None
    for _ in range(steps or len(train_data.batches(rows, seq_len))):
        chunk = next(chunks, None)
        if chunk is None:
            chunks, state = iter(train_data.batches(rows, seq_len, epoch)), None
            epoch, chunk = epoch + 1, next(chunks)
        state = step(chunk, state)
    config = TrainConfig(batch_size=rows, seq_len=seq_len)
    return recurrent_loss(model, validation_batches(val_data, config))


def tuned_plain_loss(corpus: Path, hidden: int, layers: int, rows: int, seq_len: int,
                     steps: int | None) -> tuple[float, float]:
    """The AdamW plain loop at each of ``PLAIN_RATES``: (its best validation loss, that
    rate)."""
    losses = {lr: plain_loss(corpus, hidden, layers, rows, seq_len, steps,
                             lambda params, lr=lr: torch.optim.AdamW(params, lr=lr))
              for lr in PLAIN_RATES}
    best = min(losses, key=losses.__getitem__)
    return losses[best], best


def sgd_recipe_loss(corpus: Path, hidden: int, layers: int, rows: int, seq_len: int) -> float:
    """word_language_model's own recipe for one epoch: plain SGD at rate 20, clipping 0.25."""
    return plain_loss(corpus, hidden, layers, rows, seq_len, None,
                      lambda params: torch.optim.SGD(params, lr=20.0), clip=0.25)


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


def transformer_loss(corpus: Path, size: dict[str, int], *, seconds: float = 0.0,
                     iterations: int = 0, block: int = 64,
                     batch: int = 12) -> tuple[float, int, float]:
    """nanoGPT's recipe at ``size`` trained ``iterations``, or as many as about ``seconds``
    buy (from the speed of iterations 20 to 50: the first ones carry one-time costs):
    (validation loss, iterations, seconds of training). The rate warms up over 100 iterations
    and decays (cosine) to a tenth over the rest."""
    torch.manual_seed(0)
    loaded = load_corpus(corpus)
    train_data, val_data = loaded.split(0.1)
    ids = train_data.ids.long()
    model = TinyGPT(loaded.codec.size, block, **size)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                   {"params": others, "weight_decay": 0.0}], lr=1e-3,
                                  betas=(0.9, 0.99))

    def train_between(first: int, end: int, iterations: int) -> None:
        for iteration in range(first, end):
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

    start, done = time.perf_counter(), 0
    if not iterations:  # the rate does not depend on the total before iteration 100
        train_between(0, 20, 10**9)
        timed = time.perf_counter()
        train_between(20, 50, 10**9)
        now = time.perf_counter()
        iterations, done = 50 + max(0, int((seconds - (now - start)) / ((now - timed) / 30))), 50
    train_between(done, iterations, iterations)
    seconds = time.perf_counter() - start
    return windowed_loss(model, val_data.ids.long(), block), iterations, seconds


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


def ratio_row(name: str, ours: float, reference: float, most: float) -> Row:
    """A loss row that passes where seqgen's loss is at most ``most`` x the reference's."""
    return Row(name, ours, reference, "nats/char", f"ours <= {most:g} x reference",
               ours / reference, ours <= most * reference)


def rates(chosen: float) -> str:
    """The plain loop's rates tried and the one ``chosen``, for a row's name."""
    return f"best of {', '.join(f'{lr:g}' for lr in PLAIN_RATES)} by its validation loss: " \
        f"{chosen:g}"


def quality_rows(quick: bool) -> list[Row]:
    with shakespeare(quick) as corpus:
        return (recurrent_rows(corpus, quick) + transformer_rows(corpus, quick)
                + codec_comparison_rows(corpus, quick))


def recurrent_rows(corpus: Path, quick: bool) -> list[Row]:
    """seqgen's defaults against the plain loops: a few steps of a small LSTM, an epoch."""
    steps, short_hidden, hidden = (5, 16, 16) if quick else (150, 128, 256)
    short = TrainConfig(layers=1, hidden=short_hidden, batch_size=32, seq_len=64, steps=steps,
                        eval_interval=steps, device="cpu", curves=False)
    plain, lr = tuned_plain_loss(corpus, short_hidden, 1, 32, 64, steps)
    rows = [ratio_row(f"{steps} steps, 1x{short_hidden} LSTM, batch 32, seq 64: seqgen "
                      f"defaults vs a plain loop (AdamW, constant rate, {rates(lr)})",
                      seqgen_loss(corpus, short)[0], plain, 1.01)]
    epoch = TrainConfig(layers=2, hidden=hidden, epochs=1.0, eval_interval=10**6,
                        device="cpu", curves=False)
    ours = seqgen_loss(corpus, epoch)[0]
    plain, lr = tuned_plain_loss(corpus, hidden, 2, 64, 128, None)
    return rows + [
        ratio_row(f"one epoch, 2x{hidden} LSTM, batch 64, seq 128: seqgen defaults vs an AdamW "
                  "loop on word_language_model's data layout (rows of the stream, state "
                  f"carried; constant rate, {rates(lr)})", ours, plain, 1.01),
        ratio_row("  the same vs word_language_model's own recipe (SGD, rate 20, clipping "
                  "0.25; its rate / 4 on a validation plateau acts after the first epoch)",
                  ours, sgd_recipe_loss(corpus, hidden, 2, 64, 128), 1.01)]


def transformer_rows(corpus: Path, quick: bool) -> list[Row]:
    """``seqgen train --time`` against nanoGPT's CPU recipe at equal time (and at 2,000
    iterations beside the first budget), then the same run in fp32."""
    budgets, size = ((0.25, 0.5), SMOKE_GPT) if quick else ((60.0, 300.0), NANOGPT)
    recipe = 20 if quick else NANOGPT_ITERATIONS
    rows = []
    for budget in budgets:
        timed = TrainConfig(time=budget, device="cpu", curves=False,
                            **(SMOKE_LSTM if quick else {}))
        ours, taken, seconds = seqgen_loss(corpus, timed)
        reference, iterations, _ = transformer_loss(corpus, size, seconds=seconds)
        rows.append(ratio_row(f"{budget:g} s of training: seqgen --time, defaults ({taken} "
                              "steps) vs nanoGPT's CPU recipe at equal time (transformer, "
                              f"{iterations} iterations)", ours, reference, 1.0))
        if budget == budgets[0]:
            reference, _, recipe_seconds = transformer_loss(corpus, size, iterations=recipe)
            rows.append(ratio_row(f"  the same {budget:g} s run vs nanoGPT's CPU recipe as its "
                                  f"README runs it ({recipe:,} iterations, its rate schedule "
                                  f"over them: {recipe_seconds:.1f} s here)", ours, reference,
                                  1.0))
    layers, hidden = timed.model_size()
    fp32 = TrainConfig(steps=taken, precision="fp32", layers=layers, hidden=hidden,
                       eval_interval=10**6, device="cpu", curves=False)
    reference = seqgen_loss(corpus, fp32)[0]
    return rows + [Row(f"precision {resolve_precision('auto', torch.device('cpu'))} (auto) vs "
                       f"fp32: the {budgets[1]:g} s run above against the same model trained "
                       f"its {taken} steps in fp32", ours, reference, "nats/char",
                       "ratio within 1%", ours / reference, abs(ours / reference - 1) <= 0.01)]


CODEC_RUNS = (("bpe", {"vocab_size": 1024}, "BPE 1024"), ("words", {"min_count": 2}, "words"))


def codec_bits_per_char(corpus: Path, format: str, options: dict, seconds: float,
                        quick: bool) -> tuple[float, int]:
    """Train ``seconds`` with every default (but the model's size, at the smoke size) on
    ``corpus`` with a codec: (validation bits per character, steps)."""
    config = TrainConfig(time=seconds, format=format, codec_options=options, device="cpu",
                         curves=False, **(SMOKE_LSTM if quick else {}))
    with tempfile.TemporaryDirectory() as folder:
        result = train(corpus, config, Path(folder) / "run")
    return result.val_bits_per_char, result.step


def codec_quality_rows(quick: bool) -> list[Row]:
    """BPE 1024 and words against characters after the same training time (see above)."""
    with shakespeare(quick) as corpus:
        return codec_comparison_rows(corpus, quick)


def codec_comparison_rows(corpus: Path, quick: bool) -> list[Row]:
    """``codec_quality_rows`` on ``corpus``."""
    seconds = 0.25 if quick else 300.0
    char, char_steps = codec_bits_per_char(corpus, "char", {}, seconds, quick)
    rows = []
    for format, options, name in CODEC_RUNS:
        ours, steps = codec_bits_per_char(corpus, format, options, seconds, quick)
        unknown = unknown_share(corpus, format, options)
        note = f"; {unknown:.1%} of the validation text is unknown words, their spelling " \
            "not charged" if unknown else ""
        rows.append(Row(f"{seconds:g} s of training, defaults: {name} ({steps} steps{note}) vs "
                        f"char ({char_steps} steps)", ours, char, "bits/char", "report",
                        ours / char, True))
    return rows


def unknown_share(corpus: Path, format: str, options: dict) -> float:
    """The share of the validation text's characters that the words codec writes as its
    unknown token (0 for the other codecs, which have none)."""
    if format != "words":
        return 0.0
    loaded = load_corpus(corpus, format, options)
    _, val = loaded.split(0.1)
    unknown = loaded.codec.tokenizer.token_to_id(UNKNOWN)
    return float(val.chars[val.ids == unknown].sum() / val.chars.sum())
