"""Attention of a decoder over its encoder's outputs, masked to each source's length.

Scores of a decoder output (the query) against every encoder output, as in Luong et al.
(2015), "Effective approaches to attention-based neural machine translation":

- ``general``: q . W m (the default);
- ``dot``: q . m (the encoder's outputs as wide as the decoder's);
- ``additive``: v . tanh(W m + U q), the score of Bahdanau et al. (2015).

The softmax of the scores over the real positions weighs the encoder outputs into a context
vector. Keys (the ``W m`` part) are computed once per source, not once per decoder step.
"""

import torch
from torch import Tensor, nn


class Attention(nn.Module):
    """Scores, weights and context vectors of queries [batch, rows, query size] over a
    memory [batch, source time, memory size]."""

    def __init__(self, kind: str, query_size: int, memory_size: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "dot" and query_size != memory_size:
            raise ValueError(f"dot attention needs queries ({query_size}) as wide as the "
                             f"memory ({memory_size})")
        self.key = None if kind == "dot" else nn.Linear(memory_size, query_size, bias=False)
        if kind == "additive":
            self.query = nn.Linear(query_size, query_size)
            self.score = nn.Linear(query_size, 1, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        """What queries are scored against, once per source: [batch, time, query size]."""
        return memory if self.key is None else self.key(memory)

    def forward(self, query: Tensor, keys: Tensor, memory: Tensor,
                mask: Tensor) -> tuple[Tensor, Tensor]:
        """Context vectors [batch, rows, memory size] and attention weights [batch, rows,
        source time] (zero where ``mask`` [batch, source time] is False)."""
        if self.kind == "additive":
            scores = self.score(torch.tanh(keys[:, None] + self.query(query)[:, :, None]))
            scores = scores.squeeze(-1)
        else:
            scores = query @ keys.transpose(1, 2)
        weights = scores.masked_fill(~mask[:, None], float("-inf")).softmax(-1)
        return weights @ memory, weights
