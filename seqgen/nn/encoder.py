"""The encoder of an encoder-decoder: it reads a whole source, forwards and (by default)
backwards, so that each position's output knows what comes before and after it.

Any registered cell encodes, layer by layer: a layer of the cell reads the source forwards,
and a second one reads it reversed, each item reversed within its own length, so padding never
enters either direction; the next layer reads both. A built-in cell runs each direction of a
layer as one fused kernel call. (Packed sequences would let the fused bidirectional module run
both at once, but on a CPU its packed path, forwards and backwards, took 4-5 times as long as
two calls on padded rows for sources of 180 tokens, and as long for sources of 8.)
"""

import torch
from torch import Tensor, nn

from seqgen.config import ModelConfig
from seqgen.nn.model import make_stack


def reverse_within(x: Tensor, lengths: Tensor) -> Tensor:
    """Each row of ``x`` [batch, time, ...] reversed within its length; padding stays put."""
    time = torch.arange(x.size(1), device=x.device)
    lengths = lengths.to(x.device)[:, None]
    index = torch.where(time < lengths, lengths - 1 - time, time)
    return x.gather(1, index.view(*index.shape, *[1] * (x.dim() - 2)).expand_as(x))


class Encoder(nn.Module):
    """Source embedding and recurrent layers of the config's cell, each layer reading both
    directions of the one below when bidirectional."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        directions = 2 if config.bidirectional else 1
        # by default as wide as the decoder, both directions together (as OpenNMT-py's brnn)
        size = config.encoder_hidden or max(1, config.hidden_size // directions)
        layers = config.encoder_layers or config.num_layers
        embedding_size = config.embedding_size or config.hidden_size
        self.embedding = nn.Embedding(config.source_vocab_size, embedding_size)
        self.dropout = nn.Dropout(config.dropout)
        inputs = [embedding_size + config.clock_size] + [size * directions] * (layers - 1)
        self.forwards = nn.ModuleList(make_stack(config, n, size, 1) for n in inputs)
        self.backwards = nn.ModuleList(make_stack(config, n, size, 1) for n in inputs) \
            if config.bidirectional else None
        self.hidden_size = size
        self.output_size = size * directions

    def forward(self, source: Tensor, lengths: Tensor,
                clock: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Outputs [batch, time, output size] (zeros at padding), the mask of real positions
        and each item's final states [batch, output size], for ``source`` [batch, time] padded
        after each item's ``lengths`` (on the CPU); the ``clock`` features [batch, time,
        clock size] of its times are joined to the embeddings where the model has them."""
        x = self.embedding(source)
        if clock is not None:
            x = torch.cat([x, clock.to(x.dtype)], -1)
        for layer, forwards in enumerate(self.forwards):
            x = self.dropout(x)
            outputs = self.run(forwards, x)
            if self.backwards is not None:
                backwards = self.run(self.backwards[layer], reverse_within(x, lengths))
                outputs = torch.cat([outputs, reverse_within(backwards, lengths)], -1)
            x = outputs
        lengths = lengths.to(source.device)
        mask = torch.arange(source.size(1), device=source.device) < lengths[:, None]
        outputs = x * mask[..., None]
        last = (lengths - 1).clamp(min=0)
        final = outputs[torch.arange(source.size(0), device=source.device), last,
                        : self.hidden_size]
        if self.backwards is not None:
            final = torch.cat([final, outputs[:, 0, self.hidden_size :]], -1)
        return outputs, mask, final

    def run(self, stack: nn.Module, x: Tensor) -> Tensor:
        """One layer's outputs in one direction, from a fresh state (padding comes after
        each item, so it never reaches them)."""
        state = stack.init_state(x.size(0), device=x.device, dtype=self.embedding.weight.dtype)
        return stack(x, state)[0]
