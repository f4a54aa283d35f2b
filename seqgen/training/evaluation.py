"""Validation loss of a model: nats per token, bits per token, perplexity, bits per character
of the text (for any text codec); per label, and with wrong labels to show how much a
conditioned model uses its label."""

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from seqgen import threads
from seqgen.config import TrainConfig, at_least
from seqgen.data.batching import IGNORE, Batches
from seqgen.data.codecs.base import TextCodec
from seqgen.data.splits import ItemData, PairData, StreamData
from seqgen.errors import UsageError
from seqgen.files import read_json
from seqgen.media.text_stats import output_scores
from seqgen.nn.model import chunk_forward
from seqgen.nn.sampling import generate_targets
from seqgen.nn.seq2seq import Seq2Seq
from seqgen.training.checkpoint import RULES, Checkpoint, load_checkpoint
from seqgen.training.devices import autocast, evaluation_precision, resolve_device
from seqgen.training.distributed import ONE_PROCESS, World


class EvalProgress(Protocol):
    """Told how far a long part of an evaluation has got: ``done`` of ``total`` (``what``)."""

    def __call__(self, done: int, total: int, what: str) -> None: ...


@dataclass
class Evaluation:
    """Loss of a model on held-out tokens, overall and per label."""

    loss: float  # nats per token
    tokens: int
    per_label: dict[str, float] = field(default_factory=dict)  # nats per token, by label
    wrong_label_loss: float | None = None  # the same tokens with each item's label changed
    free_controls_loss: float | None = None  # a model of music controls: with every one free
    unit: str = "token"  # what a token is: "char" for a character-level model
    loss_per: str = "token"  # what the loss is counted per: a target token, or a label
    chars: int | None = None  # characters of text the tokens stand for (text codecs)
    seconds: float | None = None  # seconds of music the tokens stand for (codecs of time)
    # an encoder-decoder of text: per decoding ("greedy", "beam 5"), exact match and chrF (%)
    decoding: dict[str, dict[str, float]] = field(default_factory=dict)
    pairs: int = 0  # the validation pairs decoded
    # an encoder-decoder with learnt rule weights (rules.json): the loss with them
    ruled_loss: float | None = None
    precision: str = "fp32"  # what these figures were computed in
    # what training recorded for this snapshot on its own validation split (None for another
    # corpus): the loss, its precision, and the same loss in fp32 where the run was not
    recorded_loss: float | None = None
    recorded_precision: str | None = None
    recorded_fp32_loss: float | None = None
    recorded_ruled_loss: float | None = None  # rules.json's loss with the weights
    classes: Any = None  # a classifier: its Confusion on the validation items

    @property
    def bits_per_token(self) -> float:
        """Bits per token: bits per character for a character-level model."""
        return self.loss / math.log(2)

    @property
    def bits_per_char(self) -> float | None:
        """The loss summed over the tokens, in bits, over the characters of their text: what
        models of different codecs share (None without text)."""
        return self.loss * self.tokens / self.chars / math.log(2) if self.chars else None

    @property
    def nats_per_second(self) -> float | None:
        """The loss summed over the tokens, in nats, per second of the music they stand for:
        what models of different music codecs share (None where tokens keep no time)."""
        if not self.seconds or self.loss_per != "token":
            return None
        return self.loss * self.tokens / self.seconds

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)


@torch.no_grad()
def evaluate_batches(model: nn.Module, batches: Batches, label_names: tuple[str, ...] = (),
                     label_shift: int = 0, world: World = ONE_PROCESS,
                     precision: str = "fp32") -> Evaluation:
    """Mean next-token loss over every real target of ``batches``, per label too, computed in
    ``precision``.

    ``label_shift`` gives every item the label ``shift`` places further on (a wrong one).
    In a run of several processes, ``batches`` are this process's rows, and the sums are
    taken over every process's.
    """
    was_training = model.training
    model.eval()
    device = batches.device or torch.device("cpu")
    total = torch.zeros((), device=device, dtype=torch.float64)
    per_label = torch.zeros(max(1, len(label_names)), 2, device=device, dtype=torch.float64)
    state = None
    for chunk in batches:
        threads.adapt()
        labels = chunk.labels
        if labels is not None and label_shift:
            labels = (labels + label_shift) % len(label_names)
        given = replace(chunk, labels=labels)
        with autocast(device, precision):
            state = model.chunk_state(given, state)
            logits, state = chunk_forward(model, given, state)
        losses = F.cross_entropy(logits.transpose(1, 2), chunk.targets, ignore_index=IGNORE,
                                 reduction="none").double()
        total += losses.sum()
        if chunk.labels is not None:
            rows = torch.stack([losses.sum(1), (chunk.targets != IGNORE).sum(1).double()], 1)
            per_label.index_add_(0, chunk.labels, rows)
    model.train(was_training)
    total, per_label = world.sum(total), world.sum(per_label)
    count = world.total(batches.num_targets)
    by_label = {name: (s / n) for name, (s, n) in zip(label_names, per_label.tolist(),
                                                      strict=False) if n}
    return Evaluation(total.item() / count, count, by_label, precision=precision)


def validation_batches(val: StreamData | ItemData | PairData, config: TrainConfig) -> Batches:
    """What a run validates: the first ``max_val_tokens`` of the validation split, in rows of
    its batch size (fewer when the split has fewer) and chunks of its length."""
    val = val.limit(config.max_val_tokens)
    if val.max_rows() < 1:
        raise UsageError("the validation split is too small to evaluate; use a larger corpus "
                         "or a larger --val-fraction")
    return val.batches(min(config.batch_size, val.max_rows()), config.seq_len)


def validation_chars(val: StreamData | ItemData, config: TrainConfig) -> int | None:
    """The characters of text the targets of ``validation_batches`` stand for (None for a
    codec of files)."""
    val = val.limit(config.max_val_tokens)
    return val.target_chars(min(config.batch_size, val.max_rows()))


def evaluate_checkpoint(checkpoint: str | Path, corpus: str | Path | None = None,
                        device: str = "auto", beam: int = 5,
                        progress: EvalProgress | None = None) -> Evaluation:
    """Loss of a checkpoint on what its run validated: the validation split of its corpus (or
    of another corpus) with the run's cap, batch layout and precision (fp32 where the device
    does not compute the run's bf16), beside what training recorded; and what its task reports
    beyond the loss (a conditioned model's loss with wrong labels, a model of music controls'
    loss with every control free; an encoder-decoder's exact
    match and chrF, greedy and with a ``beam``; a classifier's accuracy and F1). ``progress``
    is told how far its long parts (decoding) have got."""
    at_least(1, beam=beam)
    dev = resolve_device(device)
    ckpt = load_checkpoint(checkpoint, dev)
    config = ckpt.training_config()
    _, val = ckpt.split(ckpt.load_corpus(corpus))
    batches = validation_batches(val, config).to(dev)
    precision = evaluation_precision(config.precision, dev)
    result = evaluate_batches(ckpt.model, batches, ckpt.label_names, precision=precision)
    ckpt.task.evaluate(ckpt, val, batches, precision, beam, result, progress)
    if ckpt.controls is not None:
        free = validation_batches(val.steered(ckpt.controls, 1.0), config).to(dev)
        result.free_controls_loss = evaluate_batches(ckpt.model, free, ckpt.label_names,
                                                     precision=precision).loss
    result.unit, result.loss_per = ckpt.codec.unit, ckpt.task.loss_per
    result.chars = validation_chars(val, config)
    result.seconds = val.limit(config.max_val_tokens).target_seconds()
    if corpus is None:
        record_training_figures(result, ckpt, config.precision)
    return result


def record_training_figures(result: Evaluation, ckpt: Checkpoint, precision: str) -> None:
    """Put beside ``result`` what training recorded for the checkpoint's own validation
    split: its loss, in the run's precision and (a run not in fp32) in fp32, and the loss with
    learnt rule weights."""
    result.recorded_loss = ckpt.trainer.get("val_loss")
    result.recorded_precision = precision
    result.recorded_fp32_loss = ckpt.trainer.get("val_loss_fp32")
    if ckpt.rule_weights is not None:
        result.recorded_ruled_loss = read_json(ckpt.path / RULES)["val_loss"][1]


def scoring_limit(references: list) -> int:
    """The most tokens an output scored against ``references`` may have: twice the longest,
    at least 200 (an output longer than that is wrong whatever follows)."""
    return max(200, 2 * max(t.numel() for t in references))


def decoding_scores(model: Seq2Seq, codec: TextCodec, val: PairData, beam: int,
                    precision: str = "fp32",
                    progress: EvalProgress | None = None) -> dict[str, dict[str, float]]:
    """Exact match and chrF of the model's outputs for the pairs ``val``, greedy (a beam of
    1) and with a beam of ``beam``, computed in ``precision``; ``progress`` is told the pairs
    decoded of each."""
    references = [codec.decode(t) for t in val.targets]
    limit = scoring_limit(val.targets)
    scores = {}
    for name, width in (("greedy", 1), (f"beam {beam}", beam)):
        told = counting(progress, len(val.sources), f"decoding the validation pairs, {name}")
        with autocast(model.head.weight.device, precision):
            outputs = generate_targets(model, codec, val.sources, limit, beam=width,
                                       progress=told)
        scores[name] = output_scores([codec.decode(row[0]) for row in outputs], references)
    return scores


def counting(progress: EvalProgress | None, total: int,
             what: str) -> Callable[[int], None] | None:
    """A callback told how much is done that tells ``progress`` it is so much of ``total``
    (``what``); none without a ``progress``."""
    if progress is None:
        return None
    return lambda done: progress(done, total, what)
