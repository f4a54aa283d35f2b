"""A learned map from a vector to a recurrent state: where a generator's state starts.

A one-to-many model starts from its label's embedding (or from a learned state); an
encoder-decoder's decoder starts from the encoder's final states (the bridge).
"""

import torch
from torch import Tensor, nn

from seqgen.nn.cells import State, flatten_state, unflatten_state


class StartState(nn.Module):
    """A learned initial state, for every tensor of a cell's state: a projection of a vector
    of ``label_size`` (a label's embedding; an encoder's final states), or, with no vector
    (``label_size`` 0), a learned start."""

    def __init__(self, template: State, label_size: int) -> None:
        super().__init__()
        tensors, self.spec = flatten_state(template)
        self.shapes = [t.shape[1:] for t in tensors]
        sizes = [t[0].numel() for t in tensors]
        if label_size:
            self.projections = nn.ModuleList(nn.Linear(label_size, n) for n in sizes)
        else:
            self.starts = nn.ParameterList(nn.Parameter(torch.zeros(n)) for n in sizes)

    def forward(self, batch_size: int, label_vectors: Tensor | None) -> State:
        if label_vectors is not None:
            parts = [p(label_vectors).view(batch_size, *shape)
                     for p, shape in zip(self.projections, self.shapes, strict=True)]
        else:
            parts = [p.view(1, *shape).expand(batch_size, *shape)
                     for p, shape in zip(self.starts, self.shapes, strict=True)]
        return unflatten_state(parts, self.spec)
