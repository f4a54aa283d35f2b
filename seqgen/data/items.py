"""Corpora of separate items, each its own token sequence with an optional label: a text
corpus's lines or files (``TextItemCorpus``), or the files a codec reads (``FileCorpus``: MIDI,
a plugin's format), each file an item.

Text items are small corpora (names, chorales): each file is read whole and all items are
encoded at once, a codec learnt from the text fitted on the training items only (of each
label). A file codec's files are read in worker processes (``seqgen.data.workers``) and their
tokens appended to the cache as the results arrive; a file that cannot be used is skipped with
its reason. Labels come from the items' files (``seqgen.data.labels``).
"""

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from seqgen.data.batching import padding_fraction
from seqgen.data.cache import CacheContents, CacheWriter, cached, relative_name, write_cache
from seqgen.data.codecs.base import Augmentation, Codec, FileCodec, TextCodec, codec_release
from seqgen.data.declaration import corpus_files
from seqgen.data.describe import (
    Rows,
    cache_row,
    describe_stat,
    files_row,
    invalid_row,
    size_row,
    summarize_skipped,
    token_counts,
)
from seqgen.data.labels import label_reader
from seqgen.data.splits import ItemData, item_split, split_items
from seqgen.data.text import (
    DecodedText,
    fit_codec,
    in_vocabulary,
    learned_split,
    text_cache_kind,
    warn_invalid,
)
from seqgen.data.workers import FileProgress, file_token_dtype, read_files
from seqgen.errors import SeqgenError, UsageError


class ItemCorpus:
    """What corpora of separate items (text lines or files, MIDI pieces) share: each item is a
    token sequence with an optional label."""

    path: Path
    files: list[Path]
    num_bytes: int
    from_cache: bool
    items: str
    codec: Codec
    pieces: list[Tensor]
    labels: Tensor | None
    label_names: tuple[str, ...]
    chars: list[Tensor] | None = None  # characters per token, where the codec cannot tell

    @property
    def format(self) -> str:
        return self.codec.name

    @property
    def num_tokens(self) -> int:
        return sum(p.numel() for p in self.pieces)

    def split(self, val_fraction: float, codec: Codec | None = None,
              label_names: tuple[str, ...] | None = None,
              augmentation: Augmentation | None = None,
              label_balance: float = 0.0, **_: object) -> tuple[ItemData, ItemData]:
        """Training and validation items, in ``codec``'s vocabulary and ``label_names``' ids
        when given (a checkpoint's); ``label_balance`` as in ``ItemData``. What only other
        kinds of corpus take (a pair's ``source_codec``) is ignored, as they ignore this."""
        codec = codec or self.codec
        pieces = in_vocabulary(self.pieces, self.codec, codec, self.path)
        labels = self.labels
        if labels is not None and label_names is not None and label_names != self.label_names:
            labels = label_ids(self.label_names, label_names, self.path)[labels]
        return item_split(pieces, codec, labels, val_fraction, augmentation, label_balance,
                          self.chars)

    def items_per_label(self) -> dict[str, int]:
        if self.labels is None:
            return {}
        counts = torch.bincount(self.labels, minlength=len(self.label_names)).tolist()
        return dict(zip(self.label_names, counts, strict=True))

    def describe(self, val_fraction: float = 0.1, batch_size: int | None = None,
                 seq_len: int | None = None) -> Rows:
        """What ``seqgen corpus inspect`` shows of items, as (name, value) rows: files, size,
        what reading them found, items, tokens, the split, the padding of the training
        layout (at ``batch_size`` and ``seq_len``, or as training lays it out) and the
        cache."""
        train, val = self.split(val_fraction)
        layout = train.layout(batch_size, seq_len)
        per_label = self.items_per_label()
        padding = padding_fraction(train.batches(layout.rows, layout.seq_len))
        return [
            files_row(self.files, self.path), size_row(self.num_bytes), *self.reading_rows(),
            ("items", f"{len(self.pieces):,} ({self.items}), labels: "
                      + (", ".join(f"{k} {v:,}" for k, v in per_label.items()) or "none")),
            ("tokens", token_counts(self.pieces, "item")),
            ("split", f"{len(train.items):,} training items ({train.num_tokens:,} tokens), "
                      f"{len(val.items):,} validation items ({val.num_tokens:,} tokens)"),
            ("padding", f"{padding:.1%} of training positions at batch {layout.rows}, "
                        f"seq-len {layout.seq_len}"),
            cache_row(self.from_cache)]

    def reading_rows(self) -> Rows:
        """What reading the corpus's files found, and its vocabulary."""
        raise NotImplementedError


def label_ids(names: tuple[str, ...], known: tuple[str, ...], path: Path) -> Tensor:
    """For each of a corpus's label ``names``, its id among ``known`` (a checkpoint's labels)."""
    missing = [n for n in names if n not in known]
    if missing:
        raise UsageError(f"corpus {path} has labels the model does not know: "
                         f"{', '.join(missing[:5])}; its labels: {', '.join(known)}")
    return torch.tensor([known.index(n) for n in names])


@dataclass
class TextItemCorpus(ItemCorpus):
    """A text corpus whose items are its lines or its files, each its own sequence."""

    path: Path
    files: list[Path]
    num_bytes: int
    codec: TextCodec
    pieces: list[Tensor]
    labels: Tensor | None
    label_names: tuple[str, ...]
    invalid_bytes: int
    from_cache: bool
    items: str = "lines"
    chars: list[Tensor] | None = None

    def decoded(self) -> tuple[str, list[str] | None]:
        """The corpus's text (its items, a line each), and its items' texts."""
        items = [self.codec.decode(piece) for piece in self.pieces]
        return "\n".join(items), items

    def reading_rows(self) -> Rows:
        return [("vocabulary", self.codec.describe_vocabulary()),
                invalid_row(self.invalid_bytes)]


@dataclass
class FileCorpus(ItemCorpus):
    """Files a codec reads (MIDI, ABC...): one token sequence per file, the files skipped with
    the reasons, and the codec's statistics summed over the files (notes, seconds)."""

    path: Path
    files: list[Path]
    num_bytes: int
    codec: FileCodec
    pieces: list[Tensor]
    skipped: list[tuple[str, str]]
    stats: dict[str, float]
    from_cache: bool
    labels: Tensor | None = None
    label_names: tuple[str, ...] = ()
    items: str = "files"

    def reading_rows(self) -> Rows:
        return [("skipped", summarize_skipped(self.skipped)),
                *(describe_stat(name, value) for name, value in self.stats.items()),
                ("vocabulary", self.codec.describe_vocabulary())]


def item_labels(label_from: str | None, root: Path,
                item_files: list[Path]) -> tuple[Tensor | None, tuple[str, ...]]:
    """Label ids of the items (from their files) and the sorted label names."""
    if not label_from:
        return None, ()
    label_of = label_reader(label_from, root, item_files)
    per_file = {f: label_of(f) for f in dict.fromkeys(item_files)}
    names = tuple(sorted(set(per_file.values())))
    return torch.tensor([names.index(per_file[f]) for f in item_files]), names


# ---- text items ------------------------------------------------------------------------------


def split_items_of(text: str, items: str) -> list[str]:
    """A file's items: its non-empty lines, or the whole text less its final newline."""
    if items == "files":
        return [text.rstrip("\r\n")] if text.strip() else []
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def load_text_items(path: Path, codec_class: type[TextCodec], items: str,
                    label_from: str | None = None, options: dict[str, object] | None = None, *,
                    cache_dir: Path | None = None, val_fraction: float = 0.1,
                    fitted: TextCodec | None = None) -> TextItemCorpus:
    """A text corpus of separate items (lines or files), with labels if asked for; a codec
    fitted on the training part is fitted on the training items (of each label)."""
    options = dict(options or {})
    files = corpus_files(path, codec_class.suffixes)
    file_labels = None
    if label_from and codec_class.fits_training_split:
        label_of = label_reader(label_from, path, files)
        file_labels = [label_of(f) for f in files]
    split = learned_split(codec_class, val_fraction, fitted, file_labels)
    found = cached(text_cache_kind(f"items-v3-{items}", codec_class, options, split), path,
                   files, cache_dir, lambda cache_file: encode_items(
                       path, files, items, codec_class, options, cache_file,
                       TrainingItems(val_fraction, label_from, fitted)))
    codec, invalid = codec_class.from_json(found.meta["codec"]), warn_invalid(path, found.meta)
    lengths = found.tensors["lengths"].tolist()
    pieces = list(torch.split(found.tensors["tokens"], lengths))
    chars = list(torch.split(found.tensors["chars"], lengths)) if "chars" in found.tensors \
        else None
    item_files = [files[i] for i in found.tensors["files"].tolist()]
    labels, names = item_labels(label_from, path, item_files)
    return TextItemCorpus(path, files, found.num_bytes, codec, pieces, labels, names, invalid,
                          found.from_cache, items, chars)


@dataclass
class TrainingItems:
    """Which items a codec fitted on the training part learns from: the split's, and the
    labels that shape it; or a codec ``fitted`` already."""

    val_fraction: float = 0.1
    label_from: str | None = None
    fitted: TextCodec | None = None

    def codec(self, path: Path, codec_class: type[TextCodec], options: dict[str, object],
              texts: list[str], item_files: list[Path]) -> TextCodec:
        if self.fitted is not None:
            return self.fitted
        if not codec_class.fits_training_split:
            return fit_codec(codec_class, "".join(texts), True, options)
        labels, _ = item_labels(self.label_from, path, item_files)
        train, _ = split_items(len(texts), labels, self.val_fraction)
        return fit_codec(codec_class, "\n".join(texts[i] for i in train), True, options)


def encode_items(path: Path, files: list[Path], items: str, codec_class: type[TextCodec],
                 options: dict[str, object], cache_file: Path,
                 training: TrainingItems | None = None) -> CacheContents:
    """Fit a codec on the items of the files (the training items, for a codec fitted so) and
    cache their ids; item corpora (names, chorales) are small, so each file is read whole and
    all items are encoded at once."""
    per_file, invalid = [], 0
    for file in files:
        text = DecodedText([file])
        per_file.append(split_items_of("".join(text), items))
        invalid += text.invalid
    texts = [item for file_items in per_file for item in file_items]
    if not texts:
        raise UsageError(f"corpus {path} is empty: its text files hold no {items}")
    item_files = [files[i] for i, f in enumerate(per_file) for _ in f]
    codec = (training or TrainingItems()).codec(path, codec_class, options, texts, item_files)
    pieces = codec.encode_items(texts)
    tensors = {"tokens": torch.cat(pieces).to(torch.int32),
               "lengths": torch.tensor([p.numel() for p in pieces]),
               "files": torch.tensor([i for i, f in enumerate(per_file) for _ in f])}
    if codec.implements("encode_chars"):  # its ids do not tell them
        tensors["chars"] = torch.cat([codec.encode_chars(t) for t in texts]).to(torch.int32)

    def fill(writer: CacheWriter) -> dict:
        for name, tensor in tensors.items():
            writer.append(name, tensor)
        return {"codec": codec.to_json(), "invalid": invalid}

    return write_cache(cache_file, {name: t.numpy().dtype for name, t in tensors.items()}, fill)


# ---- files a codec reads (MIDI) ---------------------------------------------------------------


def encode_files(path: Path, files: list[Path], codec: FileCodec,
                 progress: FileProgress | None, cache_file: Path) -> CacheContents:
    """Read the files in worker processes and append each usable file's tokens to the cache as
    its result arrives; the names of the files used and skipped (with reasons) and the summed
    statistics are the cache's metadata."""

    def fill(writer: CacheWriter) -> dict:
        used, skipped, lengths, stats = [], [], [], Counter()
        for file, result in zip(files, read_files(files, codec, progress), strict=True):
            if isinstance(result, str):
                skipped.append([relative_name(file, path), result])
                continue
            (tokens,), piece_stats = result
            writer.append("tokens", tokens)
            lengths.append(tokens.size)
            stats.update(piece_stats)
            used.append(relative_name(file, path))
        writer.append("lengths", np.array(lengths, np.int64))
        return {"used": used, "skipped": skipped, "stats": dict(stats)}

    return write_cache(cache_file, {"tokens": file_token_dtype(codec), "lengths": np.int64}, fill)


def load_file_corpus(path: str | Path, codec: FileCodec, *, strict: bool = False,
                     progress: FileProgress | None = None, cache_dir: Path | None = None,
                     label_from: str | None = None) -> FileCorpus:
    """Read a file or folder of a file codec's files (cached); unusable files are skipped with
    a reason. ``strict`` makes any skipped file an error; no usable file is an error."""
    path = Path(path)
    files = corpus_files(path, codec.suffixes)
    kind = f"files-v3-{codec.name}-{codec_release(type(codec))}-" \
           f"{json.dumps(codec.to_json(), sort_keys=True)}"
    found = cached(kind, path, files, cache_dir,
                   lambda cache_file: encode_files(path, files, codec, progress, cache_file))
    skipped = [tuple(s) for s in found.meta["skipped"]]
    if strict and skipped:
        name, reason = skipped[0]
        raise SeqgenError(f"{len(skipped)} files cannot be used (first: {name}: {reason}); "
                          "drop --strict to skip them")
    if not found.meta["used"]:
        raise SeqgenError(f"no usable {codec.name} file in {path}: "
                          f"{summarize_skipped(skipped)}")
    pieces = list(torch.split(found.tensors["tokens"], found.tensors["lengths"].tolist()))
    used = [path / name if path.is_dir() else path for name in found.meta["used"]]
    labels, names = item_labels(label_from, path, used)
    return FileCorpus(path, used, found.num_bytes, codec, pieces, skipped, found.meta["stats"],
                      found.from_cache, labels, names)
