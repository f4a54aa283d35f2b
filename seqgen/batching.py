"""Token sequences to batches for truncated BPTT.

Two layouts, one ``Batches`` type:

- a **stream** (a text corpus) is cut into ``batch_size`` contiguous parallel rows, as in
  char-rnn and word_language_model; the state is carried from chunk to chunk along a row and
  starts fresh only at the start of the epoch;
- **items** (MIDI pieces) are laid end to end in rows, each item starting on a chunk boundary
  and padded to a whole number of chunks; the state of a row starts fresh wherever an item
  starts, so no item ever sees another's state, and padded targets are ignored by the loss.

Each chunk is ``seq_len`` inputs, their next-token targets, and the rows whose state resets.
"""

from dataclasses import dataclass

import torch
from torch import Tensor

IGNORE = -100  # target value the loss skips (torch's cross_entropy default ignore_index)


@dataclass
class Chunk:
    inputs: Tensor  # [batch, time] token ids
    targets: Tensor  # [batch, time] next tokens, IGNORE where there is none
    reset: Tensor  # [batch] bool: rows whose state starts fresh at this chunk


@dataclass
class Batches:
    """One epoch of chunks: inputs and targets [batch, chunks * seq_len], resets [batch, chunks]."""

    inputs: Tensor
    targets: Tensor
    resets: Tensor
    seq_len: int

    def __len__(self) -> int:
        return self.resets.size(1)

    def chunk(self, index: int) -> Chunk:
        span = slice(index * self.seq_len, (index + 1) * self.seq_len)
        return Chunk(self.inputs[:, span], self.targets[:, span], self.resets[:, index])

    def to(self, device: torch.device) -> "Batches":
        return Batches(self.inputs.to(device), self.targets.to(device), self.resets.to(device),
                       self.seq_len)

    @property
    def num_targets(self) -> int:
        return int((self.targets != IGNORE).sum())


def stream_batches(ids: Tensor, batch_size: int, seq_len: int) -> Batches:
    """Cut a token stream into ``batch_size`` contiguous rows; the last chunk may be shorter."""
    length = ids.numel() // batch_size
    rows = ids[: length * batch_size].long().view(batch_size, length)
    chunks = -(-(length - 1) // seq_len)
    resets = torch.zeros(batch_size, chunks, dtype=torch.bool)
    resets[:, 0] = True
    return Batches(rows[:, :-1], rows[:, 1:], resets, seq_len)


def item_batches(items: list[Tensor], batch_size: int, seq_len: int, pad: int) -> Batches:
    """Lay whole items (each already wrapped in start and end tokens) out in parallel rows.

    Items are dealt longest first to the row with the fewest chunks so far, which keeps the
    rows even; the order within a row follows the order of ``items``.
    """
    rows: list[list[int]] = [[] for _ in range(min(batch_size, len(items)))]
    row_chunks = [0] * len(rows)
    for index in sorted(range(len(items)), key=lambda i: -items[i].numel()):
        row = min(range(len(rows)), key=row_chunks.__getitem__)
        rows[row].append(index)
        row_chunks[row] += chunks_of(items[index], seq_len)
    for row in rows:
        row.sort()
    width = max(row_chunks)
    inputs = torch.full((len(rows), width * seq_len), pad, dtype=torch.long)
    targets = torch.full_like(inputs, IGNORE)
    resets = torch.zeros(len(rows), width, dtype=torch.bool)
    for r, row in enumerate(rows):
        chunk = 0
        for index in row:
            item = items[index].long()
            start = chunk * seq_len
            inputs[r, start : start + item.numel() - 1] = item[:-1]
            targets[r, start : start + item.numel() - 1] = item[1:]
            resets[r, chunk] = True
            chunk += chunks_of(item, seq_len)
    return Batches(inputs, targets, resets, seq_len)


def chunks_of(item: Tensor, seq_len: int) -> int:
    """Chunks an item takes: its inputs (all but the last token) over ``seq_len``."""
    return -(-(item.numel() - 1) // seq_len)


def padding_fraction(batches: Batches) -> float:
    """Share of input positions that hold no real target."""
    return 1 - batches.num_targets / batches.targets.numel()
