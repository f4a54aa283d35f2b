"""Autoregressive sampling: read the primer once, then one step per token with the state carried.

The cost is linear in the length: the prefix is never re-read. Sampling options follow
Hugging Face ``generate()``: ``temperature``, ``top_k``, ``top_p``.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from seqgen.codec import CharCodec
from seqgen.errors import UsageError
from seqgen.model import Generator


@dataclass
class SamplingOptions:
    temperature: float = 1.0
    top_k: int = 0  # 0: no top-k filtering
    top_p: float = 1.0  # 1.0: no nucleus filtering

    def check(self) -> None:
        if not self.temperature > 0:
            raise UsageError(f"--temperature must be greater than 0, not {self.temperature}")
        if self.top_k < 0:
            raise UsageError(f"--top-k must be 0 (off) or more, not {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise UsageError(f"--top-p must be in (0, 1], not {self.top_p}")


def filter_logits(logits: Tensor, options: SamplingOptions) -> Tensor:
    """Scale by temperature, then mask all but the top-k and the top-p nucleus with -inf."""
    logits = logits / options.temperature
    if 0 < options.top_k < logits.size(-1):
        kth = torch.topk(logits, options.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if options.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # drop a token when the tokens ranked above it already reach top_p
        drop_sorted = probs.cumsum(-1) - probs >= options.top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next(logits: Tensor, options: SamplingOptions, generator: torch.Generator) -> Tensor:
    """One token per row of ``logits`` [batch, vocab]."""
    probs = filter_logits(logits.float(), options).softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


@torch.inference_mode()
def generate(model: Generator, codec: CharCodec, primer: str = "", length: int = 500,
             num_samples: int = 1, options: SamplingOptions | None = None,
             seed: int | None = None,
             on_tokens: Callable[[Tensor], None] | None = None) -> list[str]:
    """Continue ``primer`` by ``length`` tokens, ``num_samples`` times as one batch.

    ``on_tokens`` gets each new step's tokens [num_samples] as they are drawn (for streaming).
    Returns the texts, each with its primer in front.
    """
    options = options or SamplingOptions()
    options.check()
    if length < 0 or num_samples < 1:
        raise UsageError("--length must be 0 or more and --num-samples at least 1")
    device = model.head.weight.device
    start = codec.encode(primer or codec.default_primer(), what="the primer").to(device)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else int(torch.seed()))
    model.eval()

    logits, state = model(start.expand(num_samples, -1), model.init_state(num_samples, device))
    logits = logits[:, -1]
    drawn = []
    for i in range(length):
        tokens = sample_next(logits, options, generator)
        drawn.append(tokens)
        if on_tokens is not None:
            on_tokens(tokens)
        if i + 1 < length:
            logits, state = model.step(tokens, state)
    generated = torch.stack(drawn, 1).tolist() if drawn else [[] for _ in range(num_samples)]
    return [primer + codec.decode(row) for row in generated]
