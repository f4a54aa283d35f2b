"""The minimal gated unit (Zhou et al. 2016) as a seqgen plugin: one gate instead of GRU's two.

    f  = sigmoid(W_f x + U_f h + b_f)
    n  = tanh(W_n x + U_n (f * h) + b_n)
    h' = (1 - f) * h + f * n

Only ``init_state`` and ``step`` are required; seqgen stacks, unrolls and samples it.
``forward`` is overridden to show the usual speed-up: the input projection of every time
step is one matrix multiply before the loop.
"""

import torch
from torch import Tensor, nn

import seqgen


class MGU(seqgen.StepCell):
    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 1.0) -> None:
        super().__init__(input_size, hidden_size)
        self.input = nn.Linear(input_size, 2 * hidden_size)
        self.forget = nn.Linear(hidden_size, hidden_size, bias=False)
        self.candidate = nn.Linear(hidden_size, hidden_size, bias=False)
        with torch.no_grad():
            self.input.bias[:hidden_size].fill_(forget_bias)

    def init_state(self, batch_size: int, device=None, dtype=None) -> Tensor:
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        return self.recur(self.input(x), state)

    def recur(self, projected: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        f_in, n_in = projected.chunk(2, dim=-1)
        f = torch.sigmoid(f_in + self.forget(h))
        n = torch.tanh(n_in + self.candidate(f * h))
        h = (1 - f) * h + f * n
        return h, h

    def forward(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        outputs = []
        for projected in self.input(x).unbind(1):
            y, state = self.recur(projected, state)
            outputs.append(y)
        return torch.stack(outputs, 1), state
