"""The settings of a model and of a training run: plain dataclasses, no torch.

The command line reads its defaults from here without importing torch, and checkpoints store
both as JSON.
"""

import math
from dataclasses import MISSING, dataclass, field, fields

from seqgen.errors import UsageError

PRECISIONS = ("auto", "fp32", "bf16")
ATTENTIONS = ("general", "dot", "additive", "none")
POOLINGS = ("attention", "mean", "last")  # a classifier's; the first is the default
CLOCK_SIZE = 32  # the features of a token's time that --clock gives an encoder-decoder


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
    arch: str = "many-to-many"  # the task (a registered name): many-to-many, one-to-many...
    num_labels: int = 0  # 0: not conditioned on a label (a classifier: the labels it scores)
    label_size: int = 32  # size of a label's embedding
    context_size: int = 0  # a vector joined to every input step (an attentional decoder's)
    # encoder-decoder: the encoder and the attention (the fields above are the decoder's)
    source_vocab_size: int = 0
    encoder_layers: int | None = None  # None: num_layers
    encoder_hidden: int | None = None  # per direction; None: hidden_size over the directions
    bidirectional: bool = True
    attention: str = "general"  # general, dot, additive or none
    input_feeding: bool = False
    clock_size: int = 0  # features of each token's time (a timed codec's pairs); 0: none
    pool: str = "attention"  # a classifier's pooling of its encoder's outputs
    # music controls added to every step's token embedding: each one's ids (bins, none, free)
    control_sizes: tuple[int, ...] = ()


ITEM_KINDS = ("lines", "files", "stream")
DEFAULT_LAYERS = 2
DEFAULT_HIDDEN = 256
# The model a time budget trains best, measured on a 2-core CPU with bf16 (docs/performance.md):
# (budgets up to this many seconds, layers, hidden units); beyond the last, the last.
BUDGET_SIZES = ((600, 2, 256), (math.inf, 2, 512))
DEFAULT_BATCH_SIZE = 64
DEFAULT_SEQ_LEN = 128
MAX_SEED = 2**32 - 1
MAX_LAYERS = 1000
MAX_WIDTH = 2**20  # hidden, embedding and label sizes (memory is checked when a run starts)
MAX_ROWS = 2**20
MAX_SEQ_LEN = 2**24
MAX_CONTROL_BINS = 32
# the music controls (seqgen.data.controls measures them)
CONTROL_NAMES = ("density", "key", "register", "dynamics")
DEFAULT_CONTROL_BINS = 4  # bins of a control of numbers
DEFAULT_CONTROL_FREE = 0.7  # the chance that training leaves a control free for an item
DEFAULT_GUIDANCE = 5.0  # how far sampling follows the controls set (1: as the model gives them)


@dataclass
class TrainConfig:
    """Every setting of a training run, checked when made. Stored in the checkpoint;
    ``--resume`` reuses it."""

    cell: str = "lstm"
    layers: int | None = None  # None: DEFAULT_LAYERS, or the size for the time budget
    hidden: int | None = None  # None: DEFAULT_HIDDEN, or the size for the time budget
    embedding: int | None = None  # None: the hidden size
    dropout: float = 0.1
    tie_weights: bool = False
    cell_options: dict[str, object] = field(default_factory=dict)
    arch: str = "many-to-many"  # the task: a registered name (seqgen.task)
    format: str | None = None  # text or midi; None: declared in seqgen.json or detected
    items: str | None = None  # text: lines, files or stream; None: declared or detected
    label_from: str | None = None  # stem, folder or a CSV/JSON file; None: declared or none
    label_size: int = 32
    label_balance: float = 0.0  # 0: labels as often as in the corpus; 1: all equally often
    codec_options: dict[str, object] = field(default_factory=dict)
    augment: bool = True  # MIDI: random transposition and time stretch of training pieces
    transpose: int = 3  # semitones either way
    stretch: float = 0.05  # time stretched by a factor in [1 - stretch, 1 + stretch]
    batch_size: int | None = None  # None: DEFAULT_BATCH_SIZE, or fewer rows to fit the corpus
    seq_len: int | None = None  # truncated-BPTT length; None: DEFAULT_SEQ_LEN, or what fits
    steps: int | None = None  # None: from epochs or time, or 2000 when none is given
    epochs: float | None = None
    time: float | None = None  # a budget of seconds of training, instead of steps or epochs
    lr: float = 5e-3
    warmup_steps: int = 100
    decay_fraction: float = 0.2  # the last part of the run, in which the rate decays
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    clip: float = 1.0  # global gradient-norm limit; 0 turns clipping off
    compile: bool = False  # torch.compile the time loop of StepCell layers
    precision: str = "auto"  # bf16 autocast where the device computes bf16 natively, else fp32
    curves: bool = True  # draw curves.png beside metrics.jsonl (needs matplotlib)
    eval_interval: int = 200
    log_interval: int = 10
    val_fraction: float = 0.1
    max_val_tokens: int = 1_000_000  # validate on at most this many tokens of the split
    seed: int = 1337
    device: str = "auto"
    # encoder-decoder (--arch encoder-decoder): pairs of a source and a target
    encoder_layers: int | None = None  # None: --layers
    encoder_hidden: int | None = None  # per direction; None: --hidden over the directions
    bidirectional: bool = True
    attention: str = "general"
    input_feeding: bool = False
    clock: bool | None = None  # time features; None: on where the codec keeps time (MIDI)
    source_track: str | None = None  # file codecs: the source's track; the rest is the target
    shared_vocab: bool = False  # text pairs: one vocabulary for both sides
    # many-to-one (--arch many-to-one): an item in, its label out
    pool: str | None = None  # last, mean or attention; None: the task's default
    # music controls measured from the training pieces (seqgen.data.controls); ("all",): all
    # the codec measures that vary in the corpus
    controls: tuple[str, ...] = ()
    control_bins: int = DEFAULT_CONTROL_BINS  # of each control of numbers, at its quantiles
    control_free: float = DEFAULT_CONTROL_FREE  # the chance a control is free for an item

    def __post_init__(self) -> None:
        self.controls = tuple(self.controls)  # a list, read back from JSON
        self.check()

    def model_size(self) -> tuple[int, int]:
        """(layers, hidden units): as given; for a time budget with neither given, the size
        that budget trains best (``size_for_budget``); else 2 x 256."""
        if self.layers is None and self.hidden is None and self.time is not None:
            return size_for_budget(self.time)
        return self.layers or DEFAULT_LAYERS, self.hidden or DEFAULT_HIDDEN

    def model_config(self, vocab_size: int, num_labels: int = 0, source_vocab_size: int = 0,
                     control_sizes: tuple[int, ...] = ()) -> ModelConfig:
        """The model of this run (``clock`` resolved: see ``resolve_clock``; the inputs of
        each control of its scheme, ``control_sizes``)."""
        layers, hidden = self.model_size()
        return ModelConfig(vocab_size, self.cell, hidden, layers, self.embedding,
                           self.dropout, self.tie_weights, dict(self.cell_options), self.arch,
                           num_labels, self.label_size, source_vocab_size=source_vocab_size,
                           encoder_layers=self.encoder_layers,
                           encoder_hidden=self.encoder_hidden, bidirectional=self.bidirectional,
                           attention=self.attention, input_feeding=self.input_feeding,
                           clock_size=CLOCK_SIZE if self.clock else 0,
                           control_sizes=tuple(control_sizes))

    def resolve_clock(self, timed: bool) -> bool:
        """Whether the model gets time features: as asked, else where the pairs' codec keeps
        time; asked for without time, a usage error."""
        if self.clock and not timed:
            raise UsageError("--clock needs pairs whose codec keeps time (MIDI): drop --clock")
        return timed if self.clock is None else self.clock

    def total_steps(self, chunks_per_epoch: int) -> int | None:
        """The run's steps; None for a run with a time budget (it ends when the time is up)."""
        if self.time is not None:
            return None
        if self.epochs is not None:
            return max(1, math.ceil(self.epochs * chunks_per_epoch))
        return self.steps if self.steps is not None else 2000

    def check(self) -> None:
        """Reject values no run can use, naming the flag to fix."""
        at_least(1, layers=self.layers, hidden=self.hidden, embedding=self.embedding,
                 label_size=self.label_size, batch_size=self.batch_size, seq_len=self.seq_len,
                 steps=self.steps, eval_interval=self.eval_interval,
                 log_interval=self.log_interval, max_val_tokens=self.max_val_tokens)
        at_least(0, transpose=self.transpose, warmup_steps=self.warmup_steps,
                 clip=self.clip, weight_decay=self.weight_decay)
        at_most(MAX_LAYERS, layers=self.layers)
        at_most(MAX_WIDTH, hidden=self.hidden, embedding=self.embedding,
                label_size=self.label_size)
        at_most(MAX_ROWS, batch_size=self.batch_size)
        at_most(MAX_SEQ_LEN, seq_len=self.seq_len)
        within(0, 1, dropout=self.dropout, stretch=self.stretch)
        if not 0 <= self.label_balance <= 1:
            raise UsageError(f"--label-balance must be from 0 to 1, not {self.label_balance}")
        if not 0 <= self.decay_fraction <= 1:
            raise UsageError(f"decay_fraction must be in [0, 1], not {self.decay_fraction}")
        between(0, 1, val_fraction=self.val_fraction)
        lengths = [flag(n) for n in ("steps", "epochs", "time") if getattr(self, n) is not None]
        if len(lengths) > 1:
            raise UsageError(f"give one of --steps, --epochs and --time, not "
                             f"{' and '.join(lengths)}")
        if self.time is not None and not (math.isfinite(self.time) and self.time > 0):
            raise UsageError(f"--time must be a positive duration, not {self.time}")
        if self.epochs is not None and not (math.isfinite(self.epochs) and self.epochs > 0):
            raise UsageError(f"--epochs must be a positive number, not {self.epochs}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise UsageError(f"--lr must be a positive number, not {self.lr}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise UsageError(f"min_lr_ratio must be in [0, 1], not {self.min_lr_ratio}")
        at_most(127, transpose=self.transpose)
        check_seed(self.seed)
        one_of(PRECISIONS, precision=self.precision)
        if self.items is not None:
            one_of(ITEM_KINDS, items=self.items)
        at_least(1, encoder_layers=self.encoder_layers, encoder_hidden=self.encoder_hidden)
        at_most(MAX_LAYERS, encoder_layers=self.encoder_layers)
        at_most(MAX_WIDTH, encoder_hidden=self.encoder_hidden)
        one_of(ATTENTIONS, attention=self.attention)
        if self.pool is not None:
            one_of(POOLINGS, pool=self.pool)
        self.check_controls()
        self.check_task()

    def check_controls(self) -> None:
        """The controls are known by name (or ``all``), their bins and free chance usable."""
        if self.controls:
            parse_control_names(",".join(self.controls))
        at_least(1, control_bins=self.control_bins)
        at_most(MAX_CONTROL_BINS, control_bins=self.control_bins)
        if not 0 <= self.control_free < 1:
            raise UsageError(f"--control-free must be at least 0 and below 1, "
                             f"not {self.control_free}")

    def check_task(self) -> None:
        """The task is a registered one, and every setting given (away from its default)
        suits it: a setting that only other tasks take is an error naming the flag and the
        tasks it is for."""
        from seqgen.task import get_task  # the registry loads the plugins

        defaults = {f.name: f.default for f in fields(self) if f.default is not MISSING}
        check_task_settings(self.arch, {name: getattr(self, name) for name in defaults
                                        if getattr(self, name) != defaults[name]})
        get_task(self.arch).check_settings(self)


def check_task_settings(arch: str, given: dict[str, object]) -> None:
    """The settings ``given`` (name: value; a command passes those its user gave, defaults
    included) suit the task ``arch``: one that only other tasks take (their ``own_settings``)
    is a usage error naming its flag and the architectures that take it."""
    from seqgen.task import get_task, tasks  # the registry loads the plugins

    task = get_task(arch)
    takers: dict[str, list[str]] = {}
    for spec in tasks().values():
        for name in spec.cls.own_settings:
            takers.setdefault(name, []).append(spec.name)
    wrong: dict[tuple[str, ...], list[str]] = {}
    for name, value in given.items():
        if name in takers and name not in task.own_settings:
            wrong.setdefault(tuple(takers[name]), []).append(given_flag(name, value))
    if wrong:
        parts = [f"{listed(flags)} {'is' if len(flags) == 1 else 'are'} for --arch "
                 f"{listed(list(names), 'or')}" for names, flags in wrong.items()]
        raise UsageError(f"{'; '.join(parts)}, not {arch}: drop "
                         f"{'it' if sum(map(len, wrong.values())) == 1 else 'them'}")


def parse_control_names(text: str, flag: str = "--controls") -> tuple[str, ...]:
    """``density,key,register``: the controls named (each once), or ``all`` (every one the
    codec measures); else a usage error."""
    names = [part.strip().casefold() for part in text.split(",") if part.strip()]
    if not names:
        raise UsageError(f"{flag}: give controls by name, comma-separated "
                         f"({','.join(CONTROL_NAMES)}), or all")
    if names == ["all"]:
        return ("all",)
    unknown = [name for name in names if name not in CONTROL_NAMES]
    if unknown:
        raise UsageError(f"{flag}: no control {unknown[0]!r}: give any of "
                         f"{', '.join(CONTROL_NAMES)}, or all")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UsageError(f"{flag}: {', '.join(twice)} named twice: give each control once")
    return tuple(names)


def size_for_budget(seconds: float) -> tuple[int, int]:
    """(layers, hidden units) of the model that trains best in ``seconds`` (``BUDGET_SIZES``)."""
    return next((layers, hidden) for most, layers, hidden in BUDGET_SIZES if seconds <= most)


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """``"90"`` or ``"90s"`` -> 90.0 seconds, ``"5m"`` -> 300.0, ``"1.5h"`` -> 5400.0."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in DURATION_UNITS else (text, "s")
    try:
        seconds = float(number) * DURATION_UNITS[unit]
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 < seconds <= 365 * 86400):
        raise UsageError(f"bad --time {text!r}: give a duration such as 90s, 5m or 1h")
    return seconds


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def listed(names: list[str], conjunction: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c`` (or another ``conjunction``)."""
    return names[0] if len(names) == 1 else \
        f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


def given_flag(name: str, value: object) -> str:
    """The flag that gave a setting this value: ``--no-NAME`` for a switch turned off."""
    return f"--no-{name.replace('_', '-')}" if value is False else flag(name)


def at_least(low: float, **values: float | None) -> None:
    """Each value given (not None) is at least ``low``."""
    for name, value in values.items():
        if value is not None and not value >= low:
            raise UsageError(f"{flag(name)} must be at least {low}, not {value}")


def at_most(high: float, **values: float | None) -> None:
    """Each value given (not None) is at most ``high``."""
    for name, value in values.items():
        if value is not None and not value <= high:
            raise UsageError(f"{flag(name)} must be at most {high}, not {value}")


def within(low: float, high: float, **values: float) -> None:
    """Each value is in [low, high)."""
    for name, value in values.items():
        if not low <= value < high:
            raise UsageError(f"{flag(name)} must be at least {low} and below {high}, "
                             f"not {value}")


def between(low: float, high: float, **values: float) -> None:
    """Each value is strictly between ``low`` and ``high``."""
    for name, value in values.items():
        if not low < value < high:
            raise UsageError(f"{flag(name)} must be between {low} and {high}, not {value}")


def check_seed(seed: int | None) -> None:
    """A random seed is a number from 0 to ``MAX_SEED`` (or None: a random one)."""
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed must be from 0 to {MAX_SEED}, not {seed}")


def one_of(choices: tuple[str, ...], **values: str) -> None:
    for name, value in values.items():
        if value not in choices:
            raise UsageError(f"unknown {flag(name)} {value!r}; use {', '.join(choices)}")
