"""Validation loss of a model: nats per token, bits per token, perplexity."""

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from seqgen.batching import IGNORE, Batches
from seqgen.cells import reset_rows
from seqgen.checkpoint import load_checkpoint
from seqgen.corpus import load_corpus
from seqgen.devices import resolve_device
from seqgen.errors import SeqgenError, UsageError
from seqgen.model import Generator


@dataclass
class Evaluation:
    """Loss of a model on held-out tokens."""

    loss: float  # nats per token
    tokens: int

    @property
    def bits_per_token(self) -> float:
        """Bits per token: bits per character for a character-level model."""
        return self.loss / math.log(2)

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)


@torch.no_grad()
def evaluate_batches(model: Generator, batches: Batches) -> Evaluation:
    """Mean next-token loss over every real target of ``batches``, state carried along rows."""
    was_training = model.training
    model.eval()
    rows, device = batches.inputs.size(0), batches.inputs.device
    fresh = model.init_state(rows, device)
    state = fresh
    total = torch.zeros((), device=device)
    for index in range(len(batches)):
        chunk = batches.chunk(index)
        state = reset_rows(state, chunk.reset, fresh)
        logits, state = model(chunk.inputs, state)
        total += F.cross_entropy(logits.flatten(0, 1), chunk.targets.flatten(),
                                 ignore_index=IGNORE, reduction="sum")
    model.train(was_training)
    return Evaluation(total.item() / batches.num_targets, batches.num_targets)


def validation_rows(max_rows: int, batch_size: int) -> int:
    if max_rows < 1:
        raise UsageError("the validation split is too small to evaluate; use a larger corpus "
                         "or a larger validation fraction")
    return min(batch_size, max_rows)


def evaluate_checkpoint(checkpoint: str | Path, corpus: str | Path | None = None,
                        device: str = "auto") -> Evaluation:
    """Loss of a checkpoint on the validation split of its corpus (or of another corpus)."""
    dev = resolve_device(device)
    ckpt = load_checkpoint(checkpoint, dev)
    recorded = ckpt.config.get("corpus", {})
    training = ckpt.config.get("training", {})
    corpus_path = Path(corpus or recorded.get("path", ""))
    if corpus is None and not corpus_path.exists():
        raise SeqgenError(f"the corpus this checkpoint was trained on ({corpus_path}) is not "
                          "there; pass --corpus PATH")
    loaded = load_corpus(corpus_path, recorded.get("format", "text"),
                         training.get("codec_options", {}))
    _, val = loaded.split(recorded.get("val_fraction", 0.1), codec=ckpt.codec)
    rows = validation_rows(val.max_rows(), training.get("batch_size", 64))
    batches = val.batches(rows, training.get("seq_len", 128)).to(dev)
    return evaluate_batches(ckpt.model, batches)
