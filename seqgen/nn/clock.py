"""Time as an input: where a timed sequence (MIDI events) has got to, in seconds.

In an event encoding time passes only at TIME_SHIFT tokens, so a decoder harmonising a melody
would have to count shifts to know which melody note it is under, and one miscounted shift puts
every later chord under the wrong note. A clock adds up each token's seconds (the codec's
``token_seconds``) and gives the time at every position as sines and cosines of periods from
0.1 to 100 seconds (the Transformer's position features, in seconds instead of steps). The
encoder-decoder joins them to the encoder's inputs and outputs and to the decoder's inputs and
attention queries, so attention can line up target and source by time and the decoder knows
where the source ends.
"""

import math

import torch
from torch import Tensor, nn

SHORTEST, LONGEST = 0.1, 100.0  # periods of the features, in seconds


class Clock(nn.Module):
    """Times of token sequences and their ``size`` sinusoidal features."""

    def __init__(self, token_seconds: Tensor, size: int) -> None:
        super().__init__()
        if size < 2 or size % 2:
            raise ValueError(f"a clock's size must be an even number of at least 2, not {size}")
        self.register_buffer("token_seconds", token_seconds.float())
        periods = torch.logspace(math.log10(SHORTEST), math.log10(LONGEST), size // 2)
        self.register_buffer("frequencies", 2 * math.pi / periods, persistent=False)

    def times(self, tokens: Tensor, start: Tensor) -> Tensor:
        """Seconds [batch, time] after each of ``tokens`` [batch, time], counted from
        ``start`` [batch] (the time before the first)."""
        return start[:, None] + self.token_seconds[tokens].cumsum(1)

    def forward(self, times: Tensor) -> Tensor:
        """Features [..., size] of times [...] in seconds."""
        angles = times[..., None] * self.frequencies
        return torch.cat([angles.sin(), angles.cos()], -1)
