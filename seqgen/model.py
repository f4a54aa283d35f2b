"""The generator: embedding, a stack of recurrent cells, dropout, and a linear head."""

import inspect
from dataclasses import dataclass, field

import torch.nn.functional as F
from torch import Tensor, nn

from seqgen.batching import IGNORE
from seqgen.cells import StackCell, State, build_stack, check_stack
from seqgen.errors import UsageError
from seqgen.options import check_option_names
from seqgen.plugins import CellSpec, get_cell


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model's architecture."""

    vocab_size: int
    cell: str = "lstm"
    hidden_size: int = 256
    num_layers: int = 2
    embedding_size: int | None = None  # None: the hidden size
    dropout: float = 0.0
    tie_weights: bool = False
    cell_options: dict[str, object] = field(default_factory=dict)


class Generator(nn.Module):
    """Many-to-many next-token model: reads tokens, predicts the next one at every step."""

    def __init__(self, config: ModelConfig, stack: StackCell) -> None:
        super().__init__()
        self.config = config
        embedding_size = config.embedding_size or config.hidden_size
        self.embedding = nn.Embedding(config.vocab_size, embedding_size)
        self.stack = stack
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        if config.tie_weights:
            self.head.weight = self.embedding.weight

    def init_state(self, batch_size: int, device=None) -> State:
        return self.stack.init_state(batch_size, device=device, dtype=self.head.weight.dtype)

    def forward(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """tokens [batch, time] -> logits [batch, time, vocab], through the fused path."""
        x = self.dropout(self.embedding(tokens))
        y, state = self.stack(x, state)
        return self.head(self.dropout(y)), state

    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """tokens [batch] -> logits [batch, vocab], one step through the cell path."""
        y, state = self.stack.step(self.dropout(self.embedding(tokens)), state)
        return self.head(self.dropout(y)), state

    def loss(self, tokens: Tensor, targets: Tensor, state: State) -> tuple[Tensor, State]:
        """Mean cross-entropy (nats per token) of predicting ``targets`` (IGNORE: skipped)."""
        logits, state = self(tokens, state)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        return loss, state


def check_cell_options(spec: CellSpec, options: dict[str, object]) -> None:
    """Unknown option names are an error, unless the constructor takes ``**options``."""
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD
                    for p in inspect.signature(spec.cls.__init__).parameters.values())
    if not takes_any:
        check_option_names(options, spec.options, f"cell {spec.name!r}")


def build_model(config: ModelConfig) -> Generator:
    """Build a model from its config, with the cell from the plugin registry."""
    spec = get_cell(config.cell)
    check_cell_options(spec, config.cell_options)
    embedding_size = config.embedding_size or config.hidden_size
    if config.tie_weights and embedding_size != config.hidden_size:
        raise UsageError(f"tied weights need the embedding size ({embedding_size}) to equal "
                         f"the hidden size ({config.hidden_size}); drop --embedding or --tie")
    try:
        stack = build_stack(spec.cls, embedding_size, config.hidden_size, config.num_layers,
                            config.dropout, config.cell_options)
        check_stack(stack)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"cell {spec.name!r}: {exc}") from None
    return Generator(config, stack)
