"""Token sequences to batches for truncated BPTT.

An epoch is a list of chunks, each ``[batch, <= seq_len]`` inputs, their next-token targets,
whether the state starts fresh at the chunk, and the rows' labels. Two layouts:

- a **stream** (a text corpus read as one sequence) is cut into ``batch_size`` contiguous rows,
  as in char-rnn and word_language_model; the state is carried from chunk to chunk along a row
  and starts fresh only at the start of the epoch;
- **items** (lines, files, MIDI pieces) are sorted by length and grouped ``batch_size`` at a
  time, so items of a batch have similar lengths and padding stays small; a group is padded to
  its longest item and cut into chunks, the state starting fresh at its first chunk and carried
  through the rest. Padded targets are ``IGNORE``d by the loss, and padding comes after an
  item's end, so it never changes the state of a real item.
"""

from dataclasses import dataclass

import torch
from torch import Tensor

IGNORE = -100  # target value the loss skips (torch's cross_entropy default ignore_index)


@dataclass
class Chunk:
    inputs: Tensor  # [batch, time] token ids
    targets: Tensor  # [batch, time] next tokens, IGNORE where there is none
    fresh: bool  # the state starts fresh here (an epoch's or an item group's first chunk)
    labels: Tensor | None = None  # [batch] label ids of the rows' items

    def to(self, device: torch.device) -> "Chunk":
        labels = None if self.labels is None else self.labels.to(device)
        return Chunk(self.inputs.to(device), self.targets.to(device), self.fresh, labels)


@dataclass
class Batches:
    """One epoch of chunks, in training order."""

    chunks: list[Chunk]

    def __len__(self) -> int:
        return len(self.chunks)

    def chunk(self, index: int) -> Chunk:
        return self.chunks[index]

    def to(self, device: torch.device) -> "Batches":
        return Batches([c.to(device) for c in self.chunks])

    @property
    def num_targets(self) -> int:
        return sum(int((c.targets != IGNORE).sum()) for c in self.chunks)

    @property
    def num_positions(self) -> int:
        return sum(c.targets.numel() for c in self.chunks)


def stream_batches(ids: Tensor, batch_size: int, seq_len: int) -> Batches:
    """Cut a token stream into ``batch_size`` contiguous rows; the last chunk may be shorter."""
    length = ids.numel() // batch_size
    rows = ids[: length * batch_size].long().view(batch_size, length)
    chunks = []
    for start in range(0, length - 1, seq_len):
        end = min(start + seq_len, length - 1)
        chunks.append(Chunk(rows[:, start:end], rows[:, start + 1 : end + 1], start == 0))
    return Batches(chunks)


def item_batches(items: list[Tensor], batch_size: int, seq_len: int, pad: int,
                 labels: Tensor | None = None,
                 generator: torch.Generator | None = None) -> Batches:
    """Group whole items (each already wrapped in start and end tokens) by length.

    With a ``generator``, items of equal length and the order of the groups are shuffled.
    """
    lengths = torch.tensor([item.numel() for item in items])
    if generator is None:
        order = torch.argsort(lengths, stable=True)
    else:
        shuffled = torch.randperm(len(items), generator=generator)
        order = shuffled[torch.argsort(lengths[shuffled], stable=True)]
    groups = list(torch.split(order, batch_size))
    if generator is not None:
        groups = [groups[i] for i in torch.randperm(len(groups), generator=generator)]
    chunks = []
    for group in groups:
        chunks += group_chunks([items[i] for i in group], seq_len, pad,
                               None if labels is None else labels[group])
    return Batches(chunks)


def group_chunks(items: list[Tensor], seq_len: int, pad: int,
                 labels: Tensor | None) -> list[Chunk]:
    """A group of items padded to its longest and cut into chunks of ``seq_len``."""
    width = max(item.numel() for item in items) - 1
    inputs = torch.full((len(items), width), pad, dtype=torch.long)
    targets = torch.full_like(inputs, IGNORE)
    for row, item in enumerate(items):
        inputs[row, : item.numel() - 1] = item[:-1]
        targets[row, : item.numel() - 1] = item[1:]
    return [Chunk(inputs[:, start : start + seq_len], targets[:, start : start + seq_len],
                  start == 0, labels)
            for start in range(0, width, seq_len)]


def padding_fraction(batches: Batches) -> float:
    """Share of input positions that hold no real target."""
    return 1 - batches.num_targets / batches.num_positions
