"""The classifier: many-to-one, a whole sequence in and one label out.

An encoder (``seqgen.nn.encoder``, any registered cell, bidirectional by default) reads the
item; pooling makes one vector of its outputs; a linear head scores the labels. Pooling:

- ``last``: each direction's final state (the forward layer's at the item's last token, the
  backward layer's at its first): what the encoder-decoder's bridge reads;
- ``mean``: the mean of the outputs over the item's tokens;
- ``attention``: a learned weighting of the outputs, v . tanh(W h) scored at each token and
  softmaxed over the item (Yang et al. 2016, "Hierarchical attention networks").
"""

from dataclasses import replace

import torch
from torch import Tensor, nn

from seqgen.config import ModelConfig
from seqgen.data.batching import Chunk
from seqgen.nn.cells import State
from seqgen.nn.encoder import Encoder


class Pooling(nn.Module):
    """One vector [batch, size] of an encoder's outputs [batch, time, size]."""

    def __init__(self, kind: str, size: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "attention":
            self.project = nn.Linear(size, size)
            self.score = nn.Linear(size, 1, bias=False)

    def forward(self, outputs: Tensor, mask: Tensor, final: Tensor) -> Tensor:
        if self.kind == "last":
            return final
        if self.kind == "mean":
            counts = mask.sum(1, keepdim=True).clamp(min=1).to(outputs.dtype)
            return outputs.sum(1) / counts
        scores = self.score(torch.tanh(self.project(outputs))).squeeze(-1)
        weights = scores.masked_fill(~mask, float("-inf")).softmax(-1)
        return (weights[..., None] * outputs).sum(1)


class Classifier(nn.Module):
    """Encoder, pooling, dropout and a head over the labels (``config.num_labels``)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(replace(config, source_vocab_size=config.vocab_size))
        self.pool = Pooling(config.pool, self.encoder.output_size)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(self.encoder.output_size, config.num_labels)

    def chunk_state(self, chunk: Chunk, carried: State | None) -> None:
        """Every item is read whole: no state carries between chunks."""
        return None

    def forward(self, tokens: Tensor, state: State | None, labels: Tensor | None = None,
                source: Tensor | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, State]:
        """Logits [batch, 1, labels] of the items ``source`` [batch, time], padded after
        their ``lengths`` (the chunk's ``tokens`` hold only where each label goes)."""
        return self.classify(source, lengths)[:, None], ()

    def classify(self, items: Tensor, lengths: Tensor) -> Tensor:
        """Logits [batch, labels] of padded items [batch, time] of ``lengths``."""
        outputs, mask, final = self.encoder(items, lengths)
        return self.head(self.dropout(self.pool(outputs, mask, final)))
