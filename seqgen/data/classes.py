"""A classifier's data: labelled items, each item the input and its label the one target.

``LabelledItems`` wraps a corpus of items with labels (text lines or files, MIDI pieces: any
codec) and splits it as the items are split (the last part of each label's items is
validated), into ``ClassData``. A batch is a group of items of like lengths, carried as the
sources of a chunk (padded, with their lengths), whose single target position holds each
item's label id: the loss of that position is the classifier's cross-entropy.
"""

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from seqgen.data.batching import Batches, pair_batches
from seqgen.data.splits import ItemData, Layout


@dataclass
class ClassData:
    """Items to classify and their labels: training or validation data of a classifier."""

    items: ItemData  # with labels

    @property
    def codec(self):
        return self.items.codec

    @property
    def labels(self) -> Tensor:
        return self.items.labels

    @property
    def num_tokens(self) -> int:
        """The targets: one label per item."""
        return len(self.items.items)

    def max_rows(self) -> int:
        return self.items.max_rows()

    def layout(self, batch_size: int | None, seq_len: int | None) -> Layout:
        """Rows per batch as for items; an item is read whole (``seq_len`` does not cut it)."""
        layout = self.items.layout(batch_size, None)
        return Layout(layout.rows, 1, layout.note)

    def limit(self, tokens: int) -> "ClassData":
        """The first items, up to about ``tokens`` tokens of them (at least one item)."""
        return ClassData(self.items.limit(tokens))

    def target_chars(self, rows: int) -> None:
        """A label stands for no characters of text."""
        return None

    def target_seconds(self) -> None:
        """A label stands for no time."""
        return None

    def batches(self, rows: int, seq_len: int, epoch: int = 0, seed: int = 0,
                train: bool = False) -> Batches:
        items, labels, generator = self.items.draw(epoch, seed, train)
        targets = [torch.stack([label.new_zeros(()), label]) for label in labels]
        return pair_batches(items, targets, rows, 1, self.codec.PAD, generator)


class LabelledItems:
    """A corpus of labelled items, split into ``ClassData``; everything else (its path, codec,
    label names, files) is the item corpus's own."""

    def __init__(self, corpus: Any) -> None:
        self.corpus = corpus

    def __getattr__(self, name: str) -> Any:
        if name == "corpus":  # not set yet (a copy being made)
            raise AttributeError(name)
        return getattr(self.corpus, name)

    def split(self, val_fraction: float, codec: Any = None,
              label_names: tuple[str, ...] | None = None, augmentation: Any = None,
              label_balance: float = 0.0, **_: object) -> tuple[ClassData, ClassData]:
        train, val = self.corpus.split(val_fraction, codec, label_names, augmentation,
                                       label_balance)
        return ClassData(train), ClassData(val)
