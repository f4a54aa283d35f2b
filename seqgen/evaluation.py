"""Validation loss of a model: nats per token, bits per token, perplexity; per label, and with
wrong labels to show how much a conditioned model uses its label."""

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from seqgen.batching import IGNORE, Batches
from seqgen.checkpoint import load_checkpoint
from seqgen.corpus import load_recorded_corpus
from seqgen.devices import resolve_device
from seqgen.distributed import ONE_PROCESS, World
from seqgen.errors import UsageError
from seqgen.model import Generator


@dataclass
class Evaluation:
    """Loss of a model on held-out tokens, overall and per label."""

    loss: float  # nats per token
    tokens: int
    per_label: dict[str, float] = field(default_factory=dict)  # nats per token, by label
    wrong_label_loss: float | None = None  # the same tokens with each item's label changed
    unit: str = "token"  # what a token is: "char" for a character-level model

    @property
    def bits_per_token(self) -> float:
        """Bits per token: bits per character for a character-level model."""
        return self.loss / math.log(2)

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)


@torch.no_grad()
def evaluate_batches(model: Generator, batches: Batches, label_names: tuple[str, ...] = (),
                     label_shift: int = 0, world: World = ONE_PROCESS) -> Evaluation:
    """Mean next-token loss over every real target of ``batches``, per label too.

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
        labels = chunk.labels
        if labels is not None and label_shift:
            labels = (labels + label_shift) % len(label_names)
        state = model.chunk_state(replace(chunk, labels=labels), state)
        logits, state = model(chunk.inputs, state, labels)
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
    return Evaluation(total.item() / count, count, by_label)


def validation_rows(max_rows: int, batch_size: int) -> int:
    if max_rows < 1:
        raise UsageError("the validation split is too small to evaluate; use a larger corpus "
                         "or a larger validation fraction")
    return min(batch_size, max_rows)


def evaluate_checkpoint(checkpoint: str | Path, corpus: str | Path | None = None,
                        device: str = "auto") -> Evaluation:
    """Loss of a checkpoint on the validation split of its corpus (or of another corpus);
    for a model conditioned on labels, also per label and with wrong labels."""
    dev = resolve_device(device)
    ckpt = load_checkpoint(checkpoint, dev)
    recorded = ckpt.config.get("corpus", {})
    training = ckpt.config.get("training", {})
    loaded = load_recorded_corpus(ckpt.config, corpus)
    label_names = tuple(ckpt.config.get("labels", ()))
    _, val = loaded.split(recorded.get("val_fraction", 0.1), codec=ckpt.codec,
                          label_names=label_names)
    rows = validation_rows(val.max_rows(), training.get("batch_size", 64))
    batches = val.batches(rows, training.get("seq_len", 128)).to(dev)
    result = evaluate_batches(ckpt.model, batches, label_names)
    result.unit = "char" if ckpt.codec.name == "char" else "token"
    if len(label_names) > 1:
        result.wrong_label_loss = evaluate_batches(ckpt.model, batches, label_names, 1).loss
    return result
