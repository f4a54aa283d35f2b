"""Training and validation data: a corpus split, ready to make an epoch of ``Batches``."""

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from seqgen.batching import Batches, item_batches, stream_batches
from seqgen.errors import UsageError
from seqgen.midi import MidiCodec


def check_fraction(val_fraction: float) -> None:
    if not 0 < val_fraction < 1:
        raise UsageError(f"the validation fraction must be between 0 and 1, not {val_fraction}")


@dataclass
class StreamData:
    """One token stream (text): cut into parallel rows, state carried along each row."""

    ids: Tensor

    @property
    def num_tokens(self) -> int:
        return self.ids.numel()

    def max_rows(self) -> int:
        return max(0, (self.ids.numel() - 1) // 2)

    def limit(self, tokens: int) -> "StreamData":
        """The first ``tokens`` of the stream."""
        return StreamData(self.ids[:tokens])

    def batches(self, rows: int, seq_len: int, epoch: int = 0, seed: int = 0,
                train: bool = False) -> Batches:
        return stream_batches(self.ids, rows, seq_len)


def split_stream(ids: Tensor, val_fraction: float) -> tuple[Tensor, Tensor]:
    """(train, validation): the validation split is the last ``val_fraction`` of the stream."""
    check_fraction(val_fraction)
    num_val = math.ceil(ids.numel() * val_fraction)
    return ids[:-num_val], ids[-num_val:]


@dataclass
class Augmentation:
    """MIDI: random transposition (semitones either way) and time stretch (factor 1 +- stretch)."""

    transpose: int = 3
    stretch: float = 0.05

    def apply(self, codec: MidiCodec, tokens: Tensor, generator: torch.Generator) -> Tensor:
        semitones = int(torch.randint(-self.transpose, self.transpose + 1, (),
                                      generator=generator))
        factor = 1 + self.stretch * (2 * float(torch.rand((), generator=generator)) - 1)
        return codec.stretch(codec.transpose(tokens, semitones), factor)


@dataclass
class ItemData:
    """Separate sequences (lines, files, pieces), each wrapped in start and end tokens, with
    optional labels. For training, shuffled and (with an augmentation) augmented each epoch."""

    items: list[Tensor]
    codec: object  # a codec with PAD, BOS and EOS
    labels: Tensor | None = None  # [items] label ids
    augmentation: Augmentation | None = None

    @property
    def num_tokens(self) -> int:
        return sum(t.numel() + 2 for t in self.items)

    def max_rows(self) -> int:
        return len(self.items)

    def limit(self, tokens: int) -> "ItemData":
        """The first items, up to about ``tokens`` tokens (at least one item)."""
        total, count = 0, 0
        for item in self.items:
            if count and total + item.numel() + 2 > tokens:
                break
            total, count = total + item.numel() + 2, count + 1
        labels = None if self.labels is None else self.labels[:count]
        return ItemData(self.items[:count], self.codec, labels, self.augmentation)

    def batches(self, rows: int, seq_len: int, epoch: int = 0, seed: int = 0,
                train: bool = False) -> Batches:
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch) if train else None
        bos, eos = torch.tensor([self.codec.BOS]), torch.tensor([self.codec.EOS])
        sequences = []
        for tokens in self.items:
            if generator is not None and self.augmentation is not None:
                tokens = self.augmentation.apply(self.codec, tokens, generator)
            sequences.append(torch.cat([bos, tokens.long(), eos]))
        return item_batches(sequences, rows, seq_len, self.codec.PAD, self.labels, generator)


def split_items(num_items: int, labels: Tensor | None,
                val_fraction: float) -> tuple[list[int], list[int]]:
    """Indices of (train, validation) items: the last ``val_fraction`` of the items, or of each
    label's items when there are labels (so every label is validated)."""
    check_fraction(val_fraction)
    groups = [list(range(num_items))] if labels is None else \
        [torch.nonzero(labels == label).flatten().tolist() for label in labels.unique()]
    train, val = [], []
    for group in groups:
        num_val = max(1, round(len(group) * val_fraction)) if len(group) > 1 else 0
        train += group[: len(group) - num_val]
        val += group[len(group) - num_val :]
    if not train or not val:
        raise UsageError(f"{num_items} items cannot be split into training and validation; "
                         "the corpus needs at least 2 items")
    return sorted(train), sorted(val)


def item_split(items: list[Tensor], codec: object, labels: Tensor | None, val_fraction: float,
               augmentation: Augmentation | None = None) -> tuple[ItemData, ItemData]:
    """Training and validation ``ItemData``; only the training data is ever augmented."""
    train, val = split_items(len(items), labels, val_fraction)

    def subset(indices: list[int], aug: Augmentation | None) -> ItemData:
        return ItemData([items[i] for i in indices], codec,
                        None if labels is None else labels[indices], aug)

    return subset(train, augmentation), subset(val, None)
