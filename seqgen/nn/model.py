"""The generator: embedding, a stack of recurrent cells, dropout, and a linear head.

Two architectures (``arch``), from the same code:

- **many-to-many**: the model reads a sequence and predicts the next token at every step; with
  labels, the label's embedding is joined to every input step;
- **one-to-many**: the single input (a label, or nothing but the start token) sets the initial
  state: a learned projection of the label embedding into every layer's state, or a learned
  start state without labels; the model then feeds back its own outputs until the end token.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgen.config import ARCHITECTURES, ModelConfig, one_of
from seqgen.data.batching import IGNORE, Chunk
from seqgen.errors import PluginError, UsageError
from seqgen.nn.cells import (
    ContractError,
    StackCell,
    State,
    build_stack,
    check_stack,
    flatten_state,
    get_cell,
    reset_rows,
    unflatten_state,
)
from seqgen.plugins import Spec, check_option_names, takes_any_option


class StartState(nn.Module):
    """The learned initial state of a one-to-many model, for every tensor of the cell's state:
    a projection of the label embedding, or (without labels) a learned vector."""

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


class Generator(nn.Module):
    """Next-token model over a cell stack, many-to-many or one-to-many, optionally labelled."""

    def __init__(self, config: ModelConfig, stack: StackCell) -> None:
        super().__init__()
        self.config = config
        embedding_size = config.embedding_size or config.hidden_size
        self.embedding = nn.Embedding(config.vocab_size, embedding_size)
        self.label_embedding = (nn.Embedding(config.num_labels, config.label_size)
                                if config.num_labels else None)
        self.stack = stack
        self.start = (StartState(stack.init_state(1), config.label_size if config.num_labels
                                 else 0) if config.arch == "one-to-many" else None)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        if config.tie_weights:
            self.head.weight = self.embedding.weight

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

    def inputs(self, tokens: Tensor, labels: Tensor | None) -> Tensor:
        """Token embeddings, joined with the label's at every step in a conditioned
        many-to-many model."""
        x = self.embedding(tokens)
        if self.label_embedding is not None and self.start is None:
            vectors = self.label_vectors(labels)
            if x.dim() == 3:
                vectors = vectors[:, None].expand(-1, x.size(1), -1)
            x = torch.cat([x, vectors], dim=-1)
        return self.dropout(x) if self.training else x

    def forward(self, tokens: Tensor, state: State,
                labels: Tensor | None = None) -> tuple[Tensor, State]:
        """tokens [batch, time] -> logits [batch, time, vocab], through the fused path."""
        y, state = self.stack(self.inputs(tokens, labels), state)
        return self.head(self.dropout(y)), state

    def step(self, tokens: Tensor, state: State,
             labels: Tensor | None = None) -> tuple[Tensor, State]:
        """tokens [batch] -> logits [batch, vocab], one step through the cell path."""
        y, state = self.stack.step(self.inputs(tokens, labels), state)
        return self.head(self.dropout(y) if self.training else y), state


def next_token_loss(logits: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy of ``logits`` [batch, time, vocab] against ``targets`` (IGNORE: skipped)."""
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE,
                           reduction=reduction)


def check_cell_options(spec: Spec, options: dict[str, object]) -> None:
    """Unknown option names are an error, unless the constructor takes ``**options``."""
    if not takes_any_option(spec.cls.__init__):
        check_option_names(options, spec.options, f"cell {spec.name!r}")


def build_model(config: ModelConfig) -> Generator:
    """Build a model from its config, with the cell from the plugin registry."""
    spec = get_cell(config.cell)
    check_cell_options(spec, config.cell_options)
    embedding_size = config.embedding_size or config.hidden_size
    if config.tie_weights and embedding_size != config.hidden_size:
        raise UsageError(f"tied weights need the embedding size ({embedding_size}) to equal "
                         f"the hidden size ({config.hidden_size}); drop --embedding or "
                         "--tie-weights")
    one_of(ARCHITECTURES, arch=config.arch)
    try:
        stack = build_stack(spec.cls, config.input_size, config.hidden_size, config.num_layers,
                            config.dropout, config.cell_options)
    except (TypeError, ValueError) as exc:  # the options given do not suit the cell
        raise UsageError(f"cell {spec.name!r}: {exc}") from None
    try:
        check_stack(stack)
    except ContractError as exc:
        raise PluginError(f"the cell {spec.name!r} of {spec.distribution} {spec.version} "
                          f"breaks the cell contract: {exc}") from None
    return Generator(config, stack)
