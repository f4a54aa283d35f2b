"""Validation loss of a model on a token stream: nats per token, bits per token, perplexity."""

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from seqgen.batching import batchify, get_chunk, num_chunks
from seqgen.checkpoint import load_checkpoint
from seqgen.corpus import load_text_corpus, split_stream
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


def eval_batch(ids: Tensor, batch_size: int) -> Tensor:
    """Batchify a validation stream, with fewer rows if it is too short for ``batch_size``."""
    rows = max(1, min(batch_size, (ids.numel() - 1) // 2))
    if ids.numel() < 2:
        raise UsageError("the validation split holds fewer than 2 tokens; "
                         "use a larger corpus or a larger validation fraction")
    return batchify(ids, rows)


@torch.no_grad()
def evaluate_stream(model: Generator, data: Tensor, seq_len: int) -> Evaluation:
    """Mean next-token loss over batchified ``data``, state carried across chunks."""
    was_training = model.training
    model.eval()
    state = model.init_state(data.size(0), data.device)
    total = torch.zeros((), device=data.device)
    count = 0
    for index in range(num_chunks(data, seq_len)):
        x, y = get_chunk(data, index, seq_len)
        logits, state = model(x, state)
        total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum")
        count += y.numel()
    model.train(was_training)
    return Evaluation(total.item() / count, count)


def evaluate_checkpoint(checkpoint: str | Path, corpus: str | Path | None = None,
                        device: str = "auto", batch_size: int | None = None) -> Evaluation:
    """Loss of a checkpoint on the validation split of its corpus (or of another corpus)."""
    dev = resolve_device(device)
    ckpt = load_checkpoint(checkpoint, dev)
    recorded = ckpt.config.get("corpus", {})
    corpus_path = Path(corpus or recorded.get("path", ""))
    if corpus is None and not corpus_path.exists():
        raise SeqgenError(f"the corpus this checkpoint was trained on ({corpus_path}) is not "
                          "there; pass --corpus PATH")
    ids = load_text_corpus(corpus_path).ids_for(ckpt.codec)
    _, val = split_stream(ids, recorded.get("val_fraction", 0.1))
    training = ckpt.config.get("training", {})
    data = eval_batch(val, batch_size or training.get("batch_size", 64)).to(dev)
    return evaluate_stream(ckpt.model, data, training.get("seq_len", 128))
