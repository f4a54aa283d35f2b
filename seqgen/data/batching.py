"""Token sequences to batches for truncated BPTT.

An epoch is a list of chunks, each ``[batch, <= seq_len]`` inputs, their next-token targets,
whether the state starts fresh at the chunk, and the rows' labels. Two layouts:

- a **stream** (a text corpus read as one sequence) is cut into ``batch_size`` contiguous rows,
  as in char-rnn and word_language_model; the state is carried from chunk to chunk along a row
  and starts fresh only at the start of the epoch;
- **items** (lines, files, MIDI pieces), laid out so that padding stays small:
  - short items (median no longer than a chunk) are sorted by length and grouped
    ``batch_size`` at a time; a group is padded to its longest item and cut into chunks, the
    state fresh at its first chunk and carried through the rest;
  - long items are packed end to end in ``batch_size`` rows (longest first onto the row with
    the fewest chunks), each starting on a chunk boundary; a row's state starts fresh where
    its next item starts, and is carried through the chunks of an item.

  Padded targets are ``IGNORE``d by the loss, and padding comes after an item's end, so it
  never changes the state of a real item.
"""

import os
from dataclasses import dataclass, replace

import torch
from torch import Tensor

IGNORE = -100  # target value the loss skips (torch's cross_entropy default ignore_index)


@dataclass
class Chunk:
    inputs: Tensor  # [batch, time] token ids
    targets: Tensor  # [batch, time] next tokens, IGNORE where there is none
    reset: Tensor  # [batch] bool, on the CPU: rows whose state starts fresh at this chunk
    labels: Tensor | None = None  # [batch] label ids of the rows' items
    source: Tensor | None = None  # pairs: [batch, source time] the rows' sources, padded
    source_lengths: Tensor | None = None  # pairs: [batch] on the CPU, each source's length
    controls: Tensor | None = None  # [batch, time, controls] each step's control ids

    def to(self, device: torch.device | None) -> "Chunk":
        """On ``device``, as int64 ids (stored chunks may be views of a compact token array)."""
        def moved(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device, torch.long)

        return Chunk(self.inputs.to(device, torch.long), self.targets.to(device, torch.long),
                     self.reset, moved(self.labels), moved(self.source), self.source_lengths,
                     moved(self.controls))

    def select_rows(self, rows: slice) -> "Chunk":
        """The chunk's ``rows`` only (views): one process's share of a global batch."""
        def part(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[rows]

        return Chunk(self.inputs[rows], self.targets[rows], self.reset[rows], part(self.labels),
                     part(self.source), part(self.source_lengths), part(self.controls))

    def sources(self) -> tuple[Tensor, Tensor] | tuple[()]:
        """What a model reads beside the chunk's inputs: its rows' sources and their lengths
        (pairs, items to classify), or nothing."""
        return () if self.source is None else (self.source, self.source_lengths)

    def steering(self) -> dict[str, Tensor]:
        """The keyword a model of controls reads them by, or nothing."""
        return {} if self.controls is None else {"controls": self.controls}

    @property
    def fresh(self) -> bool:
        """Every row starts fresh here."""
        return bool(self.reset.all())


@dataclass
class Batches:
    """One epoch of chunks, in training order. A chunk is moved to ``device`` (and made int64)
    when it is taken, so an epoch over a large corpus stays a view of its compact token array."""

    chunks: list[Chunk]
    device: torch.device | None = None

    def __len__(self) -> int:
        return len(self.chunks)

    def chunk(self, index: int) -> Chunk:
        return self.chunks[index].to(self.device)

    def __iter__(self):
        return (self.chunk(i) for i in range(len(self)))

    def to(self, device: torch.device) -> "Batches":
        return Batches(self.chunks, device)

    def shard(self, rows: slice) -> "Batches":
        """Every chunk's ``rows`` only: one process's share of the epoch."""
        return Batches([c.select_rows(rows) for c in self.chunks], self.device)

    @property
    def num_targets(self) -> int:
        return sum(int((c.targets != IGNORE).sum()) for c in self.chunks)

    @property
    def num_positions(self) -> int:
        return sum(c.targets.numel() for c in self.chunks)


# Token arrays mapped from cache files: storage address -> (file, byte offset of that address).
# Chunks of such arrays are read with pread instead of through the mapping: touching a mapped
# file faults in whole (2 MB) page-cache folios per row, which would count in the process's
# resident memory as if the corpus were loaded.
_FILE_BACKED: dict[int, tuple[str, int]] = {}


def register_file_backed(tokens: Tensor, path: str, offset: int) -> None:
    """Note that ``tokens`` is a memory map of ``path`` starting at byte ``offset``."""
    _FILE_BACKED[tokens.untyped_storage().data_ptr()] = (path, offset)


def read_rows(rows: Tensor, start: int, end: int) -> Tensor | None:
    """``rows[:, start:end]`` read from the file behind a mapped token array, or None."""
    origin = _FILE_BACKED.get(rows.untyped_storage().data_ptr())
    if origin is None or rows.stride(1) != 1:
        return None
    path, base = origin
    size = rows.element_size()
    first = base + (rows.data_ptr() - rows.untyped_storage().data_ptr())
    out = torch.empty(rows.size(0), end - start, dtype=rows.dtype)
    with open(path, "rb", buffering=0) as f:
        for r in range(rows.size(0)):
            position = first + (r * rows.stride(0) + start) * size
            out[r] = torch.frombuffer(bytearray(os.pread(f.fileno(), (end - start) * size,
                                                         position)), dtype=rows.dtype)
    return out


class StreamBatches(Batches):
    """The chunks of a stream cut into rows, made when taken: an epoch over a huge corpus
    holds one view of its token array, not a view per chunk."""

    def __init__(self, rows: Tensor, seq_len: int, device: torch.device | None = None) -> None:
        super().__init__([], device)
        self.rows, self.seq_len = rows, seq_len

    def __len__(self) -> int:
        return -(-(self.rows.size(1) - 1) // self.seq_len)

    def chunk(self, index: int) -> Chunk:
        start = index * self.seq_len
        end = min(start + self.seq_len, self.rows.size(1) - 1)
        reset = torch.full((self.rows.size(0),), index == 0)
        window = read_rows(self.rows, start, end + 1)
        if window is None:
            window = self.rows[:, start : end + 1]
        return Chunk(window[:, :-1], window[:, 1:], reset).to(self.device)

    def to(self, device: torch.device) -> "StreamBatches":
        return StreamBatches(self.rows, self.seq_len, device)

    def shard(self, rows: slice) -> "StreamBatches":
        return StreamBatches(self.rows[rows], self.seq_len, self.device)

    @property
    def num_targets(self) -> int:
        return self.rows.size(0) * (self.rows.size(1) - 1)

    @property
    def num_positions(self) -> int:
        return self.num_targets


def stream_batches(ids: Tensor, batch_size: int, seq_len: int) -> StreamBatches:
    """Cut a token stream into ``batch_size`` contiguous rows; the last chunk may be shorter."""
    length = ids.numel() // batch_size
    return StreamBatches(ids[: length * batch_size].view(batch_size, length), seq_len)


def item_batches(items: list[Tensor], batch_size: int, seq_len: int, pad: int,
                 labels: Tensor | None = None,
                 generator: torch.Generator | None = None,
                 controls: list[Tensor] | None = None) -> Batches:
    """Batches of whole items (each already wrapped in start and end tokens): grouped by length
    when they are short, packed into rows when they are long. With a ``generator``, the order
    of equal-length items and of the batches is shuffled. ``controls``: each item's control
    ids at each input step [len(item) - 1, controls]."""
    lengths = torch.tensor([item.numel() for item in items])
    order = length_order(lengths, generator)
    if lengths.median() - 1 > seq_len:
        return packed_batches(items, order.flip(0).tolist(), batch_size, seq_len, pad, labels,
                              controls)
    chunks = []
    for group in length_groups(order, batch_size, generator):
        members = group.tolist()
        chunks += group_chunks([items[i] for i in members], seq_len, pad,
                               None if labels is None else labels[group],
                               None if controls is None else [controls[i] for i in members])
    return Batches(chunks)


def length_order(lengths: Tensor, generator: torch.Generator | None) -> Tensor:
    """Indices sorted by length; with a ``generator``, equal lengths in a random order."""
    if generator is None:
        return torch.argsort(lengths, stable=True)
    shuffled = torch.randperm(len(lengths), generator=generator)
    return shuffled[torch.argsort(lengths[shuffled], stable=True)]


def length_groups(order: Tensor, batch_size: int,
                  generator: torch.Generator | None) -> list[Tensor]:
    """``order`` cut into groups of ``batch_size``; with a ``generator``, in a random order."""
    groups = list(torch.split(order, batch_size))
    if generator is not None:
        groups = [groups[i] for i in torch.randperm(len(groups), generator=generator)]
    return groups


def pair_batches(sources: list[Tensor], targets: list[Tensor], batch_size: int, seq_len: int,
                 pad: int, generator: torch.Generator | None = None,
                 controls: list[Tensor] | None = None) -> Batches:
    """Batches of pairs: grouped by length (the target's, then the source's) as short items
    are, each group's targets (already wrapped in start and end tokens) padded and cut into
    chunks, and every chunk of a group carrying the group's sources, padded, and their
    lengths. ``controls``: each target's control ids at each input step."""
    longest_source = max(s.numel() for s in sources)
    lengths = torch.tensor([t.numel() * (longest_source + 1) + s.numel()
                            for s, t in zip(sources, targets, strict=True)])
    chunks = []
    for group in length_groups(length_order(lengths, generator), batch_size, generator):
        members = group.tolist()
        source_lengths = torch.tensor([sources[i].numel() for i in members])
        source = torch.full((len(members), int(source_lengths.max())), pad, dtype=torch.long)
        for row, i in enumerate(members):
            source[row, : sources[i].numel()] = sources[i]
        chunks += [replace(chunk, source=source, source_lengths=source_lengths)
                   for chunk in group_chunks([targets[i] for i in members], seq_len, pad, None,
                                             None if controls is None
                                             else [controls[i] for i in members])]
    return Batches(chunks)


def group_chunks(items: list[Tensor], seq_len: int, pad: int, labels: Tensor | None,
                 controls: list[Tensor] | None = None) -> list[Chunk]:
    """A group of items padded to its longest and cut into chunks of ``seq_len``."""
    width = max(item.numel() for item in items) - 1
    inputs = torch.full((len(items), width), pad, dtype=torch.long)
    targets = torch.full_like(inputs, IGNORE)
    steering = control_rows(controls, len(items), width)
    for row, item in enumerate(items):
        inputs[row, : item.numel() - 1] = item[:-1]
        targets[row, : item.numel() - 1] = item[1:]
        if steering is not None:
            steering[row, : item.numel() - 1] = controls[row]
    return [Chunk(inputs[:, start : start + seq_len], targets[:, start : start + seq_len],
                  torch.full((len(items),), start == 0), labels,
                  controls=None if steering is None else steering[:, start : start + seq_len])
            for start in range(0, width, seq_len)]


def control_rows(controls: list[Tensor] | None, rows: int, width: int) -> Tensor | None:
    """Room for ``rows`` of ``width`` steps of control ids (0 where a row is padding, whose
    targets are ignored), or None without controls."""
    if controls is None:
        return None
    return torch.zeros(rows, width, controls[0].size(-1), dtype=torch.long)


def packed_batches(items: list[Tensor], order: list[int], batch_size: int, seq_len: int,
                   pad: int, labels: Tensor | None,
                   controls: list[Tensor] | None = None) -> Batches:
    """Items in ``order`` dealt to the row with the fewest chunks so far, each item starting
    on a chunk boundary; a row's state resets where an item starts."""
    rows: list[list[int]] = [[] for _ in range(min(batch_size, len(items)))]
    row_chunks = [0] * len(rows)
    for index in order:
        row = min(range(len(rows)), key=row_chunks.__getitem__)
        rows[row].append(index)
        row_chunks[row] += -(-(items[index].numel() - 1) // seq_len)
    width = max(row_chunks)
    inputs = torch.full((len(rows), width * seq_len), pad, dtype=torch.long)
    targets = torch.full_like(inputs, IGNORE)
    resets = torch.zeros(len(rows), width, dtype=torch.bool)
    chunk_labels = torch.zeros(len(rows), width, dtype=torch.long)
    steering = control_rows(controls, len(rows), width * seq_len)
    for r, row in enumerate(rows):
        chunk = 0
        for index in row:
            item, start = items[index], chunk * seq_len
            inputs[r, start : start + item.numel() - 1] = item[:-1]
            targets[r, start : start + item.numel() - 1] = item[1:]
            if steering is not None:
                steering[r, start : start + item.numel() - 1] = controls[index]
            resets[r, chunk] = True
            span = -(-(item.numel() - 1) // seq_len)
            if labels is not None:
                chunk_labels[r, chunk : chunk + span] = labels[index]
            chunk += span
        resets[r, chunk:] = True  # an empty tail starts fresh too
    return Batches([Chunk(inputs[:, c * seq_len : (c + 1) * seq_len],
                          targets[:, c * seq_len : (c + 1) * seq_len], resets[:, c],
                          None if labels is None else chunk_labels[:, c],
                          controls=None if steering is None
                          else steering[:, c * seq_len : (c + 1) * seq_len])
                    for c in range(width)])


def padding_fraction(batches: Batches) -> float:
    """Share of input positions that hold no real target."""
    return 1 - batches.num_targets / batches.num_positions
