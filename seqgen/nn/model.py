"""The generator: embedding, a stack of recurrent cells, dropout, and a linear head.

Two shapes, from the same code:

- **continuing** (many-to-many): the model reads a sequence and predicts the next token at
  every step; with labels, the label's embedding is joined to every input step;
- **starting from a label** (one-to-many, ``starts``): the single input (a label, or nothing but
  the start token) sets the initial state: a learned projection of the label embedding into
  every layer's state, or a learned start state without labels; the model then feeds back its
  own outputs until the end token.

A model of music controls (``config.control_sizes``) adds each control's embedding to every
step's token embedding: its bin's, none's, or nothing where the control is free (the last
id, and what a control not given is). The embeddings start at zero, so a model of controls
starts as the model without them, and with every control free it is that model.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgen.config import ModelConfig
from seqgen.data.batching import IGNORE, Chunk
from seqgen.errors import PluginError, UsageError
from seqgen.nn.bridge import StartState
from seqgen.nn.cells import (
    ContractError,
    StackCell,
    State,
    build_stack,
    check_stack,
    get_cell,
    reset_rows,
)
from seqgen.plugins import Spec, check_options


class Generator(nn.Module):
    """Next-token model over a cell stack, optionally labelled; ``starts``: the label (or a
    learned start) sets the first state instead of joining every input."""

    def __init__(self, config: ModelConfig, stack: StackCell, starts: bool = False) -> None:
        super().__init__()
        self.config = config
        embedding_size = config.embedding_size or config.hidden_size
        self.embedding = nn.Embedding(config.vocab_size, embedding_size)
        self.label_embedding = (nn.Embedding(config.num_labels, config.label_size)
                                if config.num_labels else None)
        self.stack = stack
        self.start = (StartState(stack.init_state(1), config.label_size if config.num_labels
                                 else 0) if starts else None)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        if config.tie_weights:
            self.head.weight = self.embedding.weight
        # made last, at zero, the free id (the last) kept at zero: with every control free the
        # model is, weight for weight, the one a run without controls starts from and trains
        self.control_embeddings = nn.ModuleList(
            nn.Embedding(size, embedding_size, padding_idx=size - 1)
            for size in config.control_sizes)
        for embedding in self.control_embeddings:
            nn.init.zeros_(embedding.weight)

    def init_state(self, batch_size: int, device=None, labels: Tensor | None = None) -> State:
        """The state an item starts from: zeros, or for one-to-many the learned start state
        (of each row's label)."""
        if self.start is None:
            return self.stack.init_state(batch_size, device=device, dtype=self.head.weight.dtype)
        return self.start(batch_size, self.label_vectors(labels))

    def chunk_state(self, chunk: Chunk, carried: State | None) -> State:
        """The state a chunk starts from: carried along each row, fresh where an item starts."""
        rows, device = chunk.inputs.size(0), chunk.inputs.device
        if carried is None or chunk.fresh:
            return self.init_state(rows, device, chunk.labels)
        if not chunk.reset.any():
            return carried
        fresh = self.init_state(rows, device, chunk.labels)
        return reset_rows(carried, chunk.reset.to(device), fresh)

    def label_vectors(self, labels: Tensor | None) -> Tensor | None:
        if self.label_embedding is None:
            return None
        if labels is None:
            raise UsageError("this model is conditioned on a label: give one (--condition)")
        return self.label_embedding(labels)

    def token_vectors(self, tokens: Tensor, controls: Tensor | None) -> Tensor:
        """The embedding of each of ``tokens``, plus each music control's at its step
        (``controls``: ids [*tokens shape, controls]; none given: every control free)."""
        x = self.embedding(tokens)
        if controls is not None:
            for embedding, ids in zip(self.control_embeddings, controls.unbind(-1), strict=True):
                x = x + embedding(ids)
        return x

    def inputs(self, tokens: Tensor, labels: Tensor | None,
               context: Tensor | None = None, controls: Tensor | None = None) -> Tensor:
        """Token embeddings (with their music ``controls``' added, in a model of controls),
        joined with the label's at every step in a conditioned many-to-many model, and with a
        ``context`` vector (an attentional decoder's) where the model has one
        (``config.context_size``)."""
        parts = [self.token_vectors(tokens, controls)]
        if self.label_embedding is not None and self.start is None:
            vectors = self.label_vectors(labels)
            if tokens.dim() == 2:
                vectors = vectors[:, None].expand(-1, tokens.size(1), -1)
            parts.append(vectors)
        if self.config.context_size:
            parts.append(context)
        x = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]
        return self.dropout(x) if self.training else x

    def forward(self, tokens: Tensor, state: State, labels: Tensor | None = None,
                controls: Tensor | None = None) -> tuple[Tensor, State]:
        """tokens [batch, time] -> logits [batch, time, vocab], through the fused path."""
        y, state = self.stack(self.inputs(tokens, labels, controls=controls), state)
        return self.head(self.dropout(y)), state

    def step(self, tokens: Tensor, state: State, labels: Tensor | None = None,
             controls: Tensor | None = None) -> tuple[Tensor, State]:
        """tokens [batch] -> logits [batch, vocab], one step through the cell path."""
        y, state = self.stack.step(self.inputs(tokens, labels, controls=controls), state)
        return self.head(self.dropout(y) if self.training else y), state


def next_token_loss(logits: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy of ``logits`` [batch, time, vocab] against ``targets`` (IGNORE: skipped)."""
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE,
                           reduction=reduction)


def chunk_forward(forward: Callable[..., tuple[Tensor, State]], chunk: Chunk,
                  state: State | None) -> tuple[Tensor, State]:
    """Logits [batch, time, vocab] of a chunk through ``forward`` (a model, or its DDP
    wrapper); a chunk of pairs hands the model its sources too, and a chunk of music controls
    its controls."""
    return forward(chunk.inputs, state, chunk.labels, *chunk.sources(), **chunk.steering())


def check_cell_options(spec: Spec, options: dict[str, object]) -> None:
    """Unknown option names are an error, unless the constructor takes ``**options``."""
    check_options(spec, options, f"cell {spec.name!r}")


def make_stack(config: ModelConfig, input_size: int, hidden_size: int,
               num_layers: int) -> StackCell:
    """A stack of the config's cell (from the plugin registry) with its options, checked
    against the cell contract."""
    spec = get_cell(config.cell)
    check_cell_options(spec, config.cell_options)
    try:
        stack = build_stack(spec.cls, input_size, hidden_size, num_layers, config.dropout,
                            config.cell_options)
    except (TypeError, ValueError) as exc:  # the options given do not suit the cell
        raise UsageError(f"cell {spec.name!r}: {exc}") from None
    try:
        check_stack(stack)
    except ContractError as exc:
        raise PluginError(f"the cell {spec.name!r} of {spec.distribution} {spec.version} "
                          f"breaks the cell contract: {exc}") from None
    return stack


def input_size(config: ModelConfig, starts: bool) -> int:
    """What a generator's stack reads per step: the token embedding (music controls are added
    to it), a label's where the label joins every step (not where it ``starts`` the item), and
    a context vector where there is one."""
    joined = config.label_size if config.num_labels and not starts else 0
    return (config.embedding_size or config.hidden_size) + joined + config.context_size


def build_generator(config: ModelConfig, starts: bool = False) -> Generator:
    """A generator from its config, with the cell from the plugin registry (``starts``: as in
    ``Generator``)."""
    embedding_size = config.embedding_size or config.hidden_size
    if config.tie_weights and embedding_size != config.hidden_size:
        raise UsageError(f"tied weights need the embedding size ({embedding_size}) to equal "
                         f"the hidden size ({config.hidden_size}); drop --embedding or "
                         "--tie-weights")
    stack = make_stack(config, input_size(config, starts), config.hidden_size,
                       config.num_layers)
    return Generator(config, stack, starts)
