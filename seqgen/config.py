"""The settings of a model and of a training run: plain dataclasses, no torch.

The command line reads its defaults from here without importing torch, and checkpoints store
both as JSON.
"""

import math
from dataclasses import dataclass, field

from seqgen.errors import UsageError

PRECISIONS = ("fp32", "bf16")


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
    arch: str = "many-to-many"  # or one-to-many
    num_labels: int = 0  # 0: not conditioned on a label
    label_size: int = 32  # size of a label's embedding

    @property
    def input_size(self) -> int:
        """What the cell stack reads per step: the token embedding, and a label's in a
        conditioned many-to-many model."""
        joined = self.label_size if self.num_labels and self.arch == "many-to-many" else 0
        return (self.embedding_size or self.hidden_size) + joined


ARCHITECTURES = ("many-to-many", "one-to-many")


@dataclass
class TrainConfig:
    """Every setting of a training run. Stored in the checkpoint; ``--resume`` reuses it."""

    cell: str = "lstm"
    layers: int = 2
    hidden: int = 256
    embedding: int | None = None  # None: the hidden size
    dropout: float = 0.1
    tie_weights: bool = False
    cell_options: dict[str, object] = field(default_factory=dict)
    arch: str = "many-to-many"  # or one-to-many
    format: str | None = None  # text or midi; None: declared in seqgen.json or detected
    items: str | None = None  # text: lines, files or stream; None: declared or detected
    label_from: str | None = None  # stem, folder or a CSV/JSON file; None: declared or none
    label_size: int = 32
    codec_options: dict[str, object] = field(default_factory=dict)
    augment: bool = True  # MIDI: random transposition and time stretch of training pieces
    transpose: int = 3  # semitones either way
    stretch: float = 0.05  # time stretched by a factor in [1 - stretch, 1 + stretch]
    batch_size: int = 64
    seq_len: int = 128  # the truncation length k of truncated BPTT
    steps: int | None = None  # None: from epochs, or 2000 when neither is given
    epochs: float | None = None
    lr: float = 2e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    clip: float = 1.0  # global gradient-norm limit; 0 turns clipping off
    compile: bool = False  # torch.compile the time loop of StepCell layers
    precision: str = "fp32"  # fp32, or bf16 (autocast; CPUs with bf16 units and recent GPUs)
    curves: bool = True  # draw curves.png beside metrics.jsonl (needs matplotlib)
    eval_interval: int = 200
    log_interval: int = 10
    val_fraction: float = 0.1
    max_val_tokens: int = 1_000_000  # validate on at most this many tokens of the split
    seed: int = 1337
    device: str = "auto"

    def model_config(self, vocab_size: int, num_labels: int = 0) -> ModelConfig:
        return ModelConfig(vocab_size, self.cell, self.hidden, self.layers, self.embedding,
                           self.dropout, self.tie_weights, dict(self.cell_options), self.arch,
                           num_labels, self.label_size)

    def total_steps(self, chunks_per_epoch: int) -> int:
        if self.epochs is not None:
            return max(1, math.ceil(self.epochs * chunks_per_epoch))
        return self.steps if self.steps is not None else 2000

    def check(self) -> None:
        """Reject values no run can use, with the flag to fix."""
        positive = {"layers": "--layers", "hidden": "--hidden", "batch_size": "--batch-size",
                    "seq_len": "--seq-len", "eval_interval": "--eval-interval",
                    "log_interval": "--log-interval"}
        for name, flag in positive.items():
            if getattr(self, name) < 1:
                raise UsageError(f"{flag} must be at least 1, not {getattr(self, name)}")
        if self.steps is not None and self.epochs is not None:
            raise UsageError("give --steps or --epochs, not both")
        if (self.steps is not None and self.steps < 1) or (self.epochs is not None
                                                           and self.epochs <= 0):
            raise UsageError("--steps and --epochs must be positive")
        if not 0 <= self.dropout < 1:
            raise UsageError(f"--dropout must be in [0, 1), not {self.dropout}")
        if self.lr <= 0 or self.clip < 0:
            raise UsageError("--lr must be positive and --clip at least 0")
        if self.precision not in PRECISIONS:
            raise UsageError(f"unknown --precision {self.precision!r}; use "
                             f"{' or '.join(PRECISIONS)}")
