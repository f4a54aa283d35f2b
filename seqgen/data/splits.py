"""Training and validation data: a corpus split, ready to make an epoch of ``Batches``."""

import math
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from seqgen.config import DEFAULT_BATCH_SIZE, DEFAULT_SEQ_LEN
from seqgen.data.batching import Batches, item_batches, pair_batches, stream_batches
from seqgen.data.codecs.base import Augmentation, Codec, TextCodec
from seqgen.data.controls import ControlScheme
from seqgen.errors import UsageError


@dataclass(frozen=True)
class Layout:
    """How training data is cut: rows per batch and tokens per chunk, and why, when that is
    not what the defaults or the flags say."""

    rows: int
    seq_len: int
    note: str = ""


def check_fraction(val_fraction: float) -> None:
    if not 0 < val_fraction < 1:
        raise UsageError(f"the validation fraction must be between 0 and 1, not {val_fraction}")


@dataclass
class StreamData:
    """One token stream (text): cut into parallel rows, state carried along each row. With its
    codec, it knows the characters its tokens stand for (``chars``, where the ids do not)."""

    ids: Tensor
    codec: TextCodec | None = None
    chars: Tensor | None = None  # characters per token, kept where the codec cannot tell

    @property
    def num_tokens(self) -> int:
        return self.ids.numel()

    def max_rows(self) -> int:
        return max(0, (self.ids.numel() - 1) // 2)

    def layout(self, batch_size: int | None, seq_len: int | None) -> Layout:
        """Rows and chunk length for this stream: the flags given, else the defaults, with
        fewer rows (then shorter chunks) where the stream is too short for them. A flag the
        stream cannot honour is an error."""
        tokens = self.ids.numel()
        if tokens < 2:
            raise UsageError(f"the training split has {tokens} token(s); training needs at "
                             "least 2: use a larger corpus")
        if batch_size is not None:
            if tokens // batch_size < 2:
                raise UsageError(f"--batch-size {batch_size} is too large: the training split "
                                 f"has {tokens:,} tokens, {tokens // 2:,} rows at most")
            longest = tokens // batch_size - 1
            if seq_len is not None and seq_len > longest:
                raise UsageError(f"--seq-len {seq_len} is longer than a row: {batch_size} rows "
                                 f"of the training split's {tokens:,} tokens hold {longest:,} "
                                 f"each; use --seq-len {longest} or less")
            if seq_len is None and longest < DEFAULT_SEQ_LEN:
                return Layout(batch_size, longest, f"chunks of {longest} tokens: a row of the "
                              f"training split ({tokens:,} tokens in {batch_size} rows) is "
                              "that long")
            return Layout(batch_size, seq_len or DEFAULT_SEQ_LEN)
        length = seq_len or DEFAULT_SEQ_LEN
        rows = min(DEFAULT_BATCH_SIZE, tokens // (length + 1))
        if rows >= 1:
            note = "" if rows == DEFAULT_BATCH_SIZE else (
                f"{rows} rows per batch, not {DEFAULT_BATCH_SIZE}: the training split has "
                f"{tokens:,} tokens, enough for {rows} rows of {length + 1}")
            return Layout(rows, length, note)
        if seq_len is not None:
            raise UsageError(f"--seq-len {seq_len} is longer than the training split "
                             f"({tokens:,} tokens); use --seq-len {tokens - 1} or less")
        return Layout(1, tokens - 1, f"1 row of {tokens - 1} tokens per chunk: the training "
                      f"split has only {tokens:,} tokens")

    def limit(self, tokens: int) -> "StreamData":
        """The first ``tokens`` of the stream."""
        return StreamData(self.ids[:tokens], self.codec,
                          None if self.chars is None else self.chars[:tokens])

    def target_chars(self, rows: int) -> int | None:
        """The characters of text the targets of ``batches(rows, ...)`` stand for (every
        token of the rows but each row's first), or None without a codec."""
        if self.codec is None:
            return None
        used = self.ids.numel() // rows * rows
        chars = self.codec.token_chars(self.ids[:used]) if self.chars is None \
            else self.chars[:used].long()
        return int(chars.view(rows, -1)[:, 1:].sum())

    def batches(self, rows: int, seq_len: int, epoch: int = 0, seed: int = 0,
                train: bool = False) -> Batches:
        return stream_batches(self.ids, rows, seq_len)

    def target_seconds(self) -> float | None:
        """A stream is text: it stands for no time."""
        return None

    def steered(self, scheme: ControlScheme, free: float) -> "StreamData":
        """A stream has no pieces to measure controls of."""
        raise UsageError("music controls are measured from separate pieces, not a stream: "
                         "drop --controls")


def split_stream(ids: Tensor, val_fraction: float) -> tuple[Tensor, Tensor]:
    """(train, validation): the validation split is the last ``val_fraction`` of the stream."""
    check_fraction(val_fraction)
    num_val = math.ceil(ids.numel() * val_fraction)
    return ids[:-num_val], ids[-num_val:]


@dataclass
class ItemData:
    """Separate sequences (lines, files, pieces), each wrapped in start and end tokens, with
    optional labels. For training, shuffled and (with an augmentation) augmented each epoch."""

    items: list[Tensor]
    codec: Codec  # with PAD, BOS and EOS
    labels: Tensor | None = None  # [items] label ids
    augmentation: Augmentation | None = None
    label_balance: float = 0.0  # training draws items so rare labels come up more often
    chars: list[Tensor] | None = None  # characters per token, kept where the codec cannot tell
    controls: ControlScheme | None = None  # music controls measured at every step
    control_free: float = 0.0  # the chance each control is left free for an item

    @property
    def written(self) -> list[Tensor]:
        """The sequences a model of this data writes: the items."""
        return self.items

    def steered(self, scheme: ControlScheme, free: float) -> "ItemData":
        """These items with ``scheme``'s controls at every step, each left free for an item
        at chance ``free``."""
        return replace(self, controls=scheme, control_free=free)

    @property
    def num_tokens(self) -> int:
        return sum(t.numel() + 2 for t in self.items)

    def max_rows(self) -> int:
        return len(self.items)

    def layout(self, batch_size: int | None, seq_len: int | None) -> Layout:
        """Rows per batch: ``batch_size``, or by default up to ``DEFAULT_BATCH_SIZE`` (fewer
        for fewer items). Items are cut into chunks of ``seq_len`` however long they are."""
        items = len(self.items)
        if batch_size is not None:
            if batch_size > items:
                raise UsageError(f"--batch-size {batch_size} is too large: the training split "
                                 f"has {items:,} items, one per row; use --batch-size {items} "
                                 "or less (or leave it out)")
            return Layout(batch_size, seq_len or DEFAULT_SEQ_LEN)
        rows = min(DEFAULT_BATCH_SIZE, items)
        note = "" if rows == DEFAULT_BATCH_SIZE else (
            f"{rows} rows per batch, not {DEFAULT_BATCH_SIZE}: the training split has "
            f"{items:,} items")
        return Layout(rows, seq_len or DEFAULT_SEQ_LEN, note)

    def limit(self, tokens: int) -> "ItemData":
        """The first items, up to about ``tokens`` tokens (at least one item)."""
        total, count = 0, 0
        for item in self.items:
            if count and total + item.numel() + 2 > tokens:
                break
            total, count = total + item.numel() + 2, count + 1
        labels = None if self.labels is None else self.labels[:count]
        chars = None if self.chars is None else self.chars[:count]
        return replace(self, items=self.items[:count], labels=labels, label_balance=0.0,
                       chars=chars)

    def target_chars(self, rows: int) -> int | None:
        """The characters of text the targets of ``batches`` stand for (each item's tokens and
        its end, one character, in rows of any number), or None for a codec of files."""
        if not self.codec.reads_text:
            return None
        chars = self.chars or [self.codec.token_chars(item) for item in self.items]
        return sum(int(c.sum()) for c in chars) + len(self.items)

    def target_seconds(self) -> float | None:
        """The seconds of music the items last (a codec that keeps time), else None."""
        return seconds_of(self.items, self.codec)

    def draw(self, epoch: int, seed: int, train: bool,
             ) -> tuple[list[Tensor], Tensor | None, torch.Generator | None]:
        """An epoch's items and their labels, with the generator that shuffles them: in
        training, drawn by the label balance and augmented; else every item as it is."""
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch) if train else None
        picks, labels = range(len(self.items)), self.labels
        if generator is not None and self.label_balance and labels is not None:
            picks = balanced_picks(labels, self.label_balance, generator)
            labels = labels[picks]
        items = []
        for index in picks:
            tokens = self.items[index]
            if generator is not None and self.augmentation is not None:
                tokens = self.codec.augment(tokens, self.augmentation, generator)
            items.append(tokens.long())
        return items, labels, generator

    def batches(self, rows: int, seq_len: int, epoch: int = 0, seed: int = 0,
                train: bool = False) -> Batches:
        items, labels, generator = self.draw(epoch, seed, train)
        bos, eos = torch.tensor([self.codec.BOS]), torch.tensor([self.codec.EOS])
        sequences = [torch.cat([bos, tokens, eos]) for tokens in items]
        return item_batches(sequences, rows, seq_len, self.codec.PAD, labels, generator,
                            step_controls(self.controls, self.control_free, self.codec, items,
                                          generator))


def step_controls(scheme: ControlScheme | None, free: float, codec: Codec, items: list[Tensor],
                  generator: torch.Generator | None) -> list[Tensor] | None:
    """Each item's control ids at each input step (its tokens as trained: augmented), each
    control left free for an item at chance ``free``, drawn apart from ``generator`` (an
    epoch's, which shuffles: a run with controls lays out the same batches as one without);
    None without a scheme."""
    if scheme is None:
        return None
    apart = None if generator is None else \
        torch.Generator().manual_seed(generator.initial_seed() ^ FREE_DRAWS)
    return [scheme.leave_free(scheme.target_ids(codec, tokens), apart, free)
            for tokens in items]


FREE_DRAWS = 0x5EED  # what sets the draws of the controls left free apart from the shuffle


def seconds_of(sequences: list[Tensor], codec: Codec) -> float | None:
    """The seconds ``sequences`` of a codec's tokens last, where its tokens move time."""
    if codec.reads_text or (seconds := codec.token_seconds()) is None:
        return None
    return float(sum(float(seconds[tokens.long()].sum()) for tokens in sequences))


def balanced_picks(labels: Tensor, balance: float, generator: torch.Generator) -> list[int]:
    """As many item indices as there are items, drawn with replacement so that a label with
    ``n`` items comes up in proportion to ``n ** (1 - balance)``: 0 keeps the corpus's
    frequencies, 1 draws every label equally often."""
    counts = torch.bincount(labels).double()
    weights = counts[labels] ** -balance
    return torch.multinomial(weights, len(labels), replacement=True,
                             generator=generator).tolist()


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
        counted = f"{num_items} item{'' if num_items == 1 else 's'}"
        if num_items > 1 and len(groups) > 1:  # every label has one item: none to validate
            raise UsageError(f"{counted} of {len(groups)} labels cannot be split into "
                             "training and validation: each label's items are split, and a "
                             "label needs at least 2 items")
        raise UsageError(f"{counted} cannot be split into training and validation; the "
                         "corpus needs at least 2 items")
    return sorted(train), sorted(val)


def item_split(items: list[Tensor], codec: Codec, labels: Tensor | None, val_fraction: float,
               augmentation: Augmentation | None = None,
               label_balance: float = 0.0,
               chars: list[Tensor] | None = None) -> tuple[ItemData, ItemData]:
    """Training and validation ``ItemData``; only the training data is ever augmented or
    drawn with its labels balanced."""
    train, val = split_items(len(items), labels, val_fraction)

    def subset(indices: list[int], aug: Augmentation | None, balance: float) -> ItemData:
        return ItemData([items[i] for i in indices], codec,
                        None if labels is None else labels[indices], aug, balance,
                        None if chars is None else [chars[i] for i in indices])

    return subset(train, augmentation, label_balance), subset(val, None, 0.0)


@dataclass
class PairData:
    """Pairs of a source and a target (an encoder-decoder's data): a batch is a group of
    pairs of like lengths, each target wrapped in start and end tokens. For training, shuffled
    and (with an augmentation) both sides augmented alike each epoch."""

    sources: list[Tensor]
    targets: list[Tensor]
    codec: Codec  # the target's, with PAD, BOS and EOS
    source_codec: Codec
    augmentation: Augmentation | None = None
    controls: ControlScheme | None = None  # music controls of the targets, at every step
    control_free: float = 0.0  # the chance each control is left free for a target

    @property
    def written(self) -> list[Tensor]:
        """The sequences a model of this data writes: the targets."""
        return self.targets

    def steered(self, scheme: ControlScheme, free: float) -> "PairData":
        """These pairs with ``scheme``'s controls at every step of the targets, each left free
        for a target at chance ``free``."""
        return replace(self, controls=scheme, control_free=free)

    @property
    def num_tokens(self) -> int:
        """Target tokens the decoder predicts (the end token included)."""
        return sum(t.numel() + 1 for t in self.targets)

    def max_rows(self) -> int:
        return len(self.targets)

    def layout(self, batch_size: int | None, seq_len: int | None) -> Layout:
        """Rows per batch as for items; a target is read whole unless ``seq_len`` cuts it
        (the decoder's state then carries from chunk to chunk)."""
        rows = ItemData(self.targets, self.codec).layout(batch_size, 1).rows
        longest = max(t.numel() for t in self.targets) + 1
        note = "" if batch_size is not None or rows == DEFAULT_BATCH_SIZE else (
            f"{rows} rows per batch, not {DEFAULT_BATCH_SIZE}: the training split has "
            f"{len(self.targets):,} pairs")
        return Layout(rows, seq_len or longest, note)

    def target_chars(self, rows: int) -> int | None:
        """The characters of text the targets stand for (each target and its end, one
        character), or None for a codec of files."""
        if not self.codec.reads_text:
            return None
        return sum(int(self.codec.token_chars(t).sum()) for t in self.targets) + len(self.targets)

    def target_seconds(self) -> float | None:
        """The seconds of music the targets last (a codec that keeps time), else None."""
        return seconds_of(self.targets, self.codec)

    def limit(self, tokens: int) -> "PairData":
        """The first pairs, up to about ``tokens`` target tokens (at least one pair)."""
        count = len(ItemData(self.targets, self.codec).limit(tokens).items)
        return replace(self, sources=self.sources[:count], targets=self.targets[:count])

    def batches(self, rows: int, seq_len: int, epoch: int = 0, seed: int = 0,
                train: bool = False) -> Batches:
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch) if train else None
        bos, eos = torch.tensor([self.codec.BOS]), torch.tensor([self.codec.EOS])
        sources, targets = [], []
        for source, target in zip(self.sources, self.targets, strict=True):
            if generator is not None and self.augmentation is not None:
                source, target = self.codec.augment_pair(source, target, self.augmentation,
                                                         generator)
            sources.append(source.long())
            targets.append(target.long())
        controls = step_controls(self.controls, self.control_free, self.codec, targets,
                                 generator)
        return pair_batches(sources, [torch.cat([bos, t, eos]) for t in targets], rows,
                            seq_len, self.codec.PAD, generator, controls)


def pair_split(sources: list[Tensor], targets: list[Tensor], codec: Codec, source_codec: Codec,
               val_fraction: float,
               augmentation: Augmentation | None = None) -> tuple[PairData, PairData]:
    """Training and validation pairs: the last ``val_fraction`` of the pairs are validated;
    only the training pairs are ever augmented, and only by a codec that reads both sides."""
    train, val = split_items(len(targets), None, val_fraction)
    if source_codec is not codec:
        augmentation = None

    def subset(indices: list[int], aug: Augmentation | None) -> PairData:
        return PairData([sources[i] for i in indices], [targets[i] for i in indices], codec,
                        source_codec, aug)

    return subset(train, augmentation), subset(val, None)
