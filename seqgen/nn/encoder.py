"""The encoder of an encoder-decoder: it reads a whole source, forwards and (by default)
backwards, so that each position's output knows what comes before and after it.

Any registered cell encodes. The built-in cells run their fused bidirectional kernels over
packed sequences; any other stack (a StepCell plugin's) is run forwards, and a second one
over the reversed source, each item reversed within its own length, so padding never enters
either direction.
"""

import torch
from torch import Tensor, nn

from seqgen.config import ModelConfig
from seqgen.nn.fused import FusedStack
from seqgen.nn.model import make_stack


def reverse_within(x: Tensor, lengths: Tensor) -> Tensor:
    """Each row of ``x`` [batch, time, ...] reversed within its length; padding stays put."""
    time = torch.arange(x.size(1), device=x.device)
    lengths = lengths.to(x.device)[:, None]
    index = torch.where(time < lengths, lengths - 1 - time, time)
    return x.gather(1, index.view(*index.shape, *[1] * (x.dim() - 2)).expand_as(x))


class Encoder(nn.Module):
    """Source embedding and a recurrent stack of the config's cell, bidirectional or not."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        size = config.encoder_hidden or config.hidden_size
        layers = config.encoder_layers or config.num_layers
        embedding_size = config.embedding_size or config.hidden_size
        self.embedding = nn.Embedding(config.source_vocab_size, embedding_size)
        self.dropout = nn.Dropout(config.dropout)
        self.forwards = make_stack(config, embedding_size, size, layers)
        self.fused = config.bidirectional and isinstance(self.forwards, FusedStack) and \
            self.forwards.run_both_ways()
        self.backwards = make_stack(config, embedding_size, size, layers) \
            if config.bidirectional and not self.fused else None
        self.hidden_size = size
        self.output_size = size * (2 if config.bidirectional else 1)

    def forward(self, source: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Outputs [batch, time, output size] (zeros at padding), the mask of real positions
        and each item's final states [batch, output size], for ``source`` [batch, time] padded
        after each item's ``lengths`` (on the CPU)."""
        x = self.dropout(self.embedding(source))
        if self.fused:
            outputs = self.forwards.forward_packed(x, lengths)
        else:
            outputs = self.run(self.forwards, x)
            if self.backwards is not None:
                backwards = self.run(self.backwards, reverse_within(x, lengths))
                outputs = torch.cat([outputs, reverse_within(backwards, lengths)], -1)
        lengths = lengths.to(source.device)
        mask = torch.arange(source.size(1), device=source.device) < lengths[:, None]
        outputs = outputs * mask[..., None]
        last = (lengths - 1).clamp(min=0)
        final = outputs[torch.arange(source.size(0), device=source.device), last,
                        : self.hidden_size]
        if self.output_size > self.hidden_size:
            final = torch.cat([final, outputs[:, 0, self.hidden_size :]], -1)
        return outputs, mask, final

    def run(self, stack: nn.Module, x: Tensor) -> Tensor:
        """One direction's outputs, from a fresh state (padding comes after each item)."""
        state = stack.init_state(x.size(0), device=x.device, dtype=self.embedding.weight.dtype)
        return stack(x, state)[0]
