"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?") as a seqgen plugin.

    z_t  = sigmoid(W_z x_t + b_z)
    h~_t = g(W_h x_t + b_h)            g(k) = k + 0.5 if k >= 0 else sigmoid(k)
    h_t  = (1 - z_t) * h_{t-1} + z_t * h~_t

The gates see only the input, never h, so a whole chunk is the linear recurrence
h_t = a_t * h_{t-1} + b_t with a_t = 1 - z_t and b_t = z_t * h~_t, whose solution is

    h_t = A_t * h_0 + sum_{k <= t} (A_t / A_k) * b_k,      A_t = a_1 * ... * a_t.

``forward`` computes it for every t at once in log space (Heinsen 2023): with
a*_t = cumsum(log a)_t, the sum is exp(a*_t + logcumsumexp(log b - a*)_t). Every b_t is
positive (g > 0), so log b is defined; h_0 is any real number (seqgen starts it at zero and
carries it between chunks), so its term exp(a*_t) * h_0 is added outside the logarithm.
``step`` is the same recurrence one token at a time, for sampling, and ``parallel=False``
trains through seqgen's step-by-step unroll instead of the scan.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import seqgen


def g(k: Tensor) -> Tensor:
    """The candidate activation: continuous, increasing and always positive."""
    return torch.where(k >= 0, k + 0.5, torch.sigmoid(k))


def log_g(k: Tensor) -> Tensor:
    """log g(k), never taking the log of the unused branch's negative values."""
    return torch.where(k >= 0, torch.log(F.relu(k) + 0.5), F.logsigmoid(k))


def scan(log_a: Tensor, log_b: Tensor, h: Tensor, block: int) -> Tensor:
    """Every h_t of h_t = a_t * h_{t-1} + b_t, from log a, log b [batch, time, hidden] and h_0.

    The log-space scan runs on blocks of ``block`` steps, each starting from the last state of
    the one before. In float32, a*_t + logcumsumexp(...) cancels two numbers as large as
    |a*_t|, which grows with t; blocks bound that error whatever the chunk's length.
    """
    outputs = []
    for log_a_block, log_b_block in zip(log_a.split(block, 1), log_b.split(block, 1),
                                        strict=True):
        a_star = log_a_block.cumsum(dim=1)  # log A_t, counted from the block's start
        from_inputs = torch.exp(a_star + torch.logcumsumexp(log_b_block - a_star, dim=1))
        outputs.append(from_inputs + torch.exp(a_star) * h.unsqueeze(1))
        h = outputs[-1][:, -1]
    return torch.cat(outputs, dim=1)


class MinGRU(seqgen.StepCell):
    """One minGRU layer: the gate and candidate are one input projection, no recurrent matrix."""

    scan_block = 64  # time steps per log-space scan (see `scan`)

    def __init__(self, input_size: int, hidden_size: int, parallel: bool = True) -> None:
        super().__init__(input_size, hidden_size)
        self.parallel = parallel
        self.input = nn.Linear(input_size, 2 * hidden_size)  # [gate logits k_z | candidate k_h]

    def init_state(self, batch_size: int, device=None, dtype=None) -> Tensor:
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def step(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        k_z, k_h = self.input(x).chunk(2, dim=-1)
        # 1 - sigmoid(k) as sigmoid(-k): no rounding to 0 where z rounds to 1
        h = torch.sigmoid(-k_z) * h + torch.sigmoid(k_z) * g(k_h)
        return h, h

    def forward(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """The chunk ``x`` [batch, time, input] by the parallel scan, or step by step."""
        if not self.parallel:
            return super().forward(x, h)
        k_z, k_h = self.input(x).chunk(2, dim=-1)
        log_a = -F.softplus(k_z)  # log(1 - z)
        log_b = F.logsigmoid(k_z) + log_g(k_h)  # log(z * h~)
        outputs = scan(log_a, log_b, h, self.scan_block)
        return outputs, outputs[:, -1]
