"""Corpora: find the files, encode them to token ids once, cache the result, split them.

A text corpus is one stream of tokens, or separate items (its lines or its files); a corpus of
files a codec reads (MIDI, a plugin's format) is a list of pieces. Items may carry labels.
Every corpus splits into training and validation data (``seqgen.data.splits``) that make
``Batches``.

A stream may be larger than memory: it is read in chunks of ``CHUNK_BYTES`` (cut after line
breaks), in two passes (fit the codec, then encode into the cache file as it goes), and its
token ids are used memory-mapped from the cache. A codec whose vocabulary is learned
(``fits_training_split``) is fitted on the training part only: the validation text is the
last ``val_fraction`` of the text from a line start, encoded apart. A file codec's tokens go
into the cache file as the workers' results arrive. Codecs are known only through their
contract (``seqgen.data.codec``).
"""

import hashlib
import json
import math
import os
import warnings
from codecs import getincrementaldecoder
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from seqgen.config import ITEM_KINDS, one_of
from seqgen.data.batching import padding_fraction
from seqgen.data.cache import (
    CacheContents,
    CacheWriter,
    cached,
    relative_name,
    write_cache,
)
from seqgen.data.codec import (
    Augmentation,
    Codec,
    CodecFileError,
    FileCodec,
    TextCodec,
    codec_release,
    codecs,
    get_codec,
)
from seqgen.data.labels import label_reader
from seqgen.data.splits import ItemData, StreamData, item_split, split_items, split_stream
from seqgen.errors import SeqgenError, UsageError
from seqgen.files import read_json
from seqgen.plugins import check_option_names

DECLARATION = "seqgen.json"  # a corpus folder's own settings
UTF8_REPLACEMENT = "\ufffd".encode()
CHUNK_BYTES = 4 << 20  # how much of a file is read (hashed, decoded, encoded) at a time


class FileProgress(Protocol):
    """Told how far reading a corpus has got: files read, or bytes of text encoded."""

    def __call__(self, done: int, total: int, unit: str = "files") -> None: ...


# ---- corpora -------------------------------------------------------------------------------


@dataclass
class TextCorpus:
    """A text corpus encoded as one stream of token ids."""

    path: Path
    files: list[Path]
    num_bytes: int
    codec: TextCodec
    ids: Tensor
    invalid_bytes: int
    from_cache: bool
    items: str = "stream"
    label_names: tuple[str, ...] = ()
    chars: Tensor | None = None  # characters per token, where the codec cannot tell
    val_start: int | None = None  # the first validation token, for a codec fitted on training
    val_fraction: float | None = None  # the split it was encoded for (with val_start)

    @property
    def format(self) -> str:
        return self.codec.name

    @property
    def num_tokens(self) -> int:
        return self.ids.numel()

    def ids_for(self, codec: TextCodec) -> Tensor:
        """The corpus's token ids in another codec's vocabulary (a checkpoint's, say)."""
        if codec.to_json() == self.codec.to_json():
            return self.ids
        return codec.translate(self.ids, self.codec, what=f"corpus {self.path}")

    def split(self, val_fraction: float, codec: TextCodec | None = None,
              **_: object) -> tuple[StreamData, StreamData]:
        """Training and validation streams: the last ``val_fraction`` of the tokens, or for a
        codec fitted on the training part, the tokens of the text it was not fitted on."""
        codec = codec or self.codec
        if self.val_start is None:
            train, val = split_stream(self.ids_for(codec), val_fraction)
            return StreamData(train, codec), StreamData(val, codec)
        if val_fraction != self.val_fraction or codec.to_json() != self.codec.to_json():
            raise UsageError(f"corpus {self.path} was encoded with its own {self.format} codec "
                             f"for a validation fraction of {self.val_fraction}; load it with "
                             "the codec and the fraction wanted")
        start, chars = self.val_start, self.chars
        return (StreamData(self.ids[:start], codec, None if chars is None else chars[:start]),
                StreamData(self.ids[start:], codec, None if chars is None else chars[start:]))


class ItemCorpus:
    """What corpora of separate items (text lines or files, MIDI pieces) share: each item is a
    token sequence with an optional label."""

    path: Path
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
              label_balance: float = 0.0) -> tuple[ItemData, ItemData]:
        """Training and validation items, in ``codec``'s vocabulary and ``label_names``' ids
        when given (a checkpoint's); ``label_balance`` as in ``ItemData``."""
        codec = codec or self.codec
        pieces = self.pieces
        if isinstance(codec, TextCodec) and codec.to_json() != self.codec.to_json():
            pieces = [codec.translate(p, self.codec, what=f"corpus {self.path}") for p in pieces]
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


def find_files(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Every file under a folder (recursively, in a stable order) with one of ``suffixes``."""
    return sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes and p.is_file())


def corpus_files(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """A file, or every file with one of ``suffixes`` under a folder; none is a usage error."""
    kinds = ", ".join(suffixes)
    if not path.exists():
        raise UsageError(f"corpus not found: {path} (give a file or a folder of {kinds} files)")
    if path.is_file():
        return [path]
    files = find_files(path, suffixes)
    if not files:
        raise UsageError(f"no {kinds} files in {path}")
    return files


def format_suffixes() -> dict[str, tuple[str, ...]]:
    """The file suffixes of each registered format; a suffix goes to the first that claims it."""
    claimed: set[str] = set()
    formats = {}
    for name, spec in codecs().items():
        mine = tuple(x for x in spec.cls.suffixes if x not in claimed)
        claimed.update(mine)
        if mine:
            formats[name] = mine
    return formats


def detect_format(path: Path) -> str:
    """The format (a registered codec's name) of the files a path holds."""
    formats = format_suffixes()
    all_suffixes = ", ".join(x for suffixes in formats.values() for x in suffixes)
    if not path.exists():
        raise UsageError(f"corpus not found: {path} (give a file or a folder of {all_suffixes} "
                         "files)")
    if path.is_file():  # a file of no format's suffix is read as text
        matches = [n for n, suffixes in formats.items() if path.suffix.lower() in suffixes]
        text_formats = [n for n, spec in codecs().items() if issubclass(spec.cls, TextCodec)]
        return (matches or text_formats)[0]
    found = [name for name, suffixes in formats.items() if find_files(path, suffixes)]
    if len(found) > 1:
        raise UsageError(f"{path} mixes {' and '.join(found)} files; put them in separate "
                         f"folders or choose one with --format {'|'.join(found)}")
    if not found:
        raise UsageError(f"no {all_suffixes} files in {path}")
    return found[0]


def load_corpus(path: str | Path, format: str | None = None,
                codec_options: dict[str, object] | None = None, *, items: str | None = None,
                label_from: str | None = None, strict: bool = False,
                progress: FileProgress | None = None, cache_dir: Path | None = None,
                val_fraction: float = 0.1, fitted: TextCodec | None = None) -> "Corpus":
    """Load a corpus with a registered codec (``format``). What a flag leaves open comes from
    the corpus's own ``seqgen.json`` (keys ``format``, ``items``, ``label_from``), else from
    its files. A codec fitted on the training part of the text is fitted on all but the last
    ``val_fraction`` of it, unless ``fitted`` is given (a checkpoint's codec) to encode with."""
    path = Path(path)
    declared = read_declaration(path)
    if declares_pairs(declared):
        raise UsageError(f"{path} is a corpus of pairs (its {DECLARATION} says so): train it "
                         "with --arch encoder-decoder")
    format = format or declared.get("format") or detect_format(path)
    codec_class = get_codec(format).cls
    label_from = label_from or declared.get("label_from")
    options = declared_options(declared, codec_class, codec_options)
    check_option_names(options, codec_class.default_options(), f"the {format} codec")
    if issubclass(codec_class, FileCodec):
        try:
            codec = codec_class.from_options(**options)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"the {format} codec: {exc}") from None
        return load_file_corpus(path, codec, strict=strict, progress=progress,
                                cache_dir=cache_dir, label_from=label_from)
    items = items or declared.get("items") or detect_items(path, codec_class.suffixes)
    one_of(ITEM_KINDS, items=items)
    if items == "stream":
        if label_from:
            raise UsageError("labels belong to items: give --items lines or --items files "
                             "with --label-from")
        return load_text_corpus(path, codec_class, options, cache_dir=cache_dir,
                                progress=progress, val_fraction=val_fraction, fitted=fitted)
    return load_text_items(path, codec_class, items, label_from, options, cache_dir=cache_dir,
                           val_fraction=val_fraction, fitted=fitted)


DECLARED = ("format", "codec_options", "items", "label_from", "files", "source_track",
            "shared_vocab")


def read_declaration(path: Path) -> dict[str, str]:
    """A corpus folder's ``seqgen.json``: how its files are to be read (``format`` with its
    ``codec_options``; ``files``, ``source_track`` and ``shared_vocab`` belong to corpora of
    pairs)."""
    file = path / DECLARATION
    if not file.is_file():
        return {}
    declared = dict(read_json(file))
    unknown = set(declared) - set(DECLARED)
    if unknown:
        raise UsageError(f"{file} has unknown keys {sorted(unknown)}; "
                         f"known: {', '.join(DECLARED)}")
    if not isinstance(declared.get("codec_options", {}), dict):
        raise UsageError(f"{file}: codec_options must be an object of the declared format's "
                         f"options, not {declared['codec_options']!r}")
    if "label_from" in declared and declared["label_from"] not in ("stem", "folder"):
        declared["label_from"] = str(path / declared["label_from"])
    return declared


def declared_options(declared: dict, codec_class: type[Codec],
                     given: dict[str, object] | None) -> dict[str, object]:
    """The declaration's ``codec_options`` where the corpus is read with its declared format's
    codec (by any of its names), overridden by those ``given`` (``--codec-opt``)."""
    named = declared.get("format")
    applies = named is not None and get_codec(named).cls is codec_class
    return {**(declared.get("codec_options", {}) if applies else {}), **(given or {})}


def declares_pairs(declared: dict) -> bool:
    """Whether a declaration is that of a corpus of pairs."""
    return declared.get("items") == "pairs" or any(
        key in declared for key in ("files", "source_track", "shared_vocab"))


def detect_items(path: Path, suffixes: tuple[str, ...] = TextCodec.suffixes,
                 sample_bytes: int = 1 << 20) -> str:
    """``lines`` when every file is a list of short lines (no blank lines, none over 100
    characters, judged on its first megabyte), else one ``stream``."""
    for file in corpus_files(path, suffixes):
        with open(file, "rb") as f:
            head = f.read(sample_bytes).decode("utf-8", errors="replace")
        if len(head) == sample_bytes:  # a cut line at the end of the sample is no evidence
            head = head[: head.rfind("\n") + 1]
        lines = head.rstrip("\n").split("\n")
        if len(lines) < 2 or any(not line.strip() or len(line) > 100 for line in lines):
            return "stream"
    return "lines"


# ---- text ------------------------------------------------------------------------------------


class DecodedText:
    """The text of files, read and decoded as UTF-8 in chunks of ``CHUNK_BYTES`` bytes (a
    character may span chunks, not files); each iteration is a pass over the files, telling
    ``bytes_read`` of each chunk. Invalid byte sequences become U+FFFD, and ``invalid`` counts
    them over the last pass."""

    def __init__(self, files: list[Path],
                 bytes_read: Callable[[int], None] | None = None) -> None:
        self.files, self.invalid, self.bytes_read = files, 0, bytes_read

    def __iter__(self) -> Iterator[str]:
        self.invalid = 0
        for file in self.files:
            yield from self.decode(file)

    def decode(self, file: Path) -> Iterator[str]:
        decoder = getincrementaldecoder("utf-8")(errors="replace")
        tail = b""  # the last bytes read: a U+FFFD in the file may span two chunks
        with open(file, "rb") as f:
            while True:
                data = f.read(CHUNK_BYTES)
                if self.bytes_read:
                    self.bytes_read(len(data))
                text = decoder.decode(data, final=not data)
                if replaced := text.count("\ufffd"):  # less the U+FFFD of the file itself
                    self.invalid += replaced - data.count(UTF8_REPLACEMENT) \
                        - (tail + data[:2]).count(UTF8_REPLACEMENT)
                tail = (tail + data[-2:])[-2:]
                if text:
                    yield text
                if not data:
                    return


def fits_in_chunks(codec_class: type[TextCodec]) -> bool:
    """Whether a codec is fitted on a stream chunk by chunk: it implements ``fit_chunks``, in
    the class that defines its ``fit`` or a subclass of it."""

    def owner(method: str) -> type:
        return next(c for c in codec_class.__mro__ if method in vars(c))

    return owner("fit_chunks") is not TextCodec and issubclass(owner("fit_chunks"), owner("fit"))


def fit_codec(codec_class: type[TextCodec], text: str | Iterable[str], specials: bool,
              options: dict[str, object]) -> TextCodec:
    """A codec fitted on ``text``, or on its chunks in turn (``fit_chunks``)."""
    fit = codec_class.fit if isinstance(text, str) else codec_class.fit_chunks
    try:
        return fit(text, specials, **options)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"the {codec_class.name} codec: {exc}") from None


def compact_dtype(vocab_size: int) -> np.dtype:
    """The smallest integer type that holds every token id."""
    return np.dtype(np.uint8 if vocab_size <= 256 else np.int16 if vocab_size <= 2**15
                    else np.int32)


def text_cache_kind(kind: str, codec_class: type[TextCodec], options: dict,
                    split: str = "") -> str:
    return f"{kind}-{codec_class.__module__}.{codec_class.__name__}-" \
           f"{codec_release(codec_class)}-{json.dumps(options, sort_keys=True)}{split}"


def learned_split(codec_class: type[TextCodec], val_fraction: float,
                  fitted: TextCodec | None, labels: list[str] | None = None) -> str:
    """What else the encoding of a codec fitted on the training part depends on (for its cache
    key): the split, the labels that shape an item split, and the codec given to encode with."""
    if not codec_class.fits_training_split:
        return ""
    split = f"-val{val_fraction!r}-labels{json.dumps(labels)}"
    if fitted is None:
        return split
    digest = hashlib.sha256(json.dumps(fitted.to_json(), sort_keys=True).encode()).hexdigest()
    return f"{split}-codec{digest}"


def load_text_corpus(path: str | Path, codec_class: type[TextCodec],
                     options: dict[str, object] | None = None, *, cache_dir: Path | None = None,
                     progress: FileProgress | None = None, val_fraction: float = 0.1,
                     fitted: TextCodec | None = None) -> TextCorpus:
    """Read, decode and encode a text corpus as one stream, or load it from the cache;
    ``progress`` hears of the bytes encoded."""
    path, options = Path(path), dict(options or {})
    files = corpus_files(path, codec_class.suffixes)
    if not any(file.stat().st_size for file in files):
        raise UsageError(f"corpus {path} is empty: its text files hold no characters")
    split = learned_split(codec_class, val_fraction, fitted)
    found = cached(text_cache_kind("stream-v4", codec_class, options, split), path, files,
                   cache_dir, lambda cache_file: encode_stream(
                       files, codec_class, options, cache_file, progress, val_fraction, fitted))
    codec, invalid = codec_class.from_json(found.meta["codec"]), warn_invalid(path, found.meta)
    return TextCorpus(path, files, found.num_bytes, codec, found.tensors["ids"], invalid,
                      found.from_cache, chars=found.tensors.get("chars"),
                      val_start=found.meta.get("val_start"),
                      val_fraction=found.meta.get("val_fraction"))


def warn_invalid(path: Path, meta: dict) -> int:
    """The invalid UTF-8 byte sequences a text corpus had (replaced by U+FFFD), said once."""
    if invalid := meta["invalid"]:
        warnings.warn(f"corpus {path}: {invalid} invalid UTF-8 byte sequences were replaced "
                      "by U+FFFD", stacklevel=3)
    return invalid


def line_chunks(chunks: Iterable[str]) -> Iterator[str]:
    """The text of ``chunks`` again, each piece cut after its last line break (what follows
    goes on with the next chunk), unless it has none."""
    rest = ""
    for chunk in chunks:
        text = rest + chunk
        cut = text.rfind("\n") + 1 or len(text)
        rest = text[cut:]
        yield text[:cut]
    if rest:
        yield rest


def utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def split_text(pieces: Iterable[str], split_at: int | None) -> Iterator[tuple[bool, str]]:
    """Each of a text's ``pieces`` with whether it is validation text: from the line start
    before UTF-8 byte ``split_at`` of the text on (from that byte itself when no line break
    comes before it); with ``split_at`` None, none is."""
    if split_at is None:
        yield from ((False, piece) for piece in pieces)
        return
    done, validation = 0, False
    for piece in pieces:
        size = 0 if validation else utf8_size(piece)
        if validation or done + size <= split_at:
            done += size
            yield validation, piece
            continue
        at = len(piece.encode()[: split_at - done].decode(errors="ignore"))
        cut = piece.rfind("\n", 0, at) + 1 or (0 if done else at)
        validation = True
        if cut:
            yield False, piece[:cut]
        yield True, piece[cut:]


def training_text(pieces: Iterable[tuple[bool, str]]) -> Iterator[str]:
    """The pieces before the validation text (which is not read)."""
    for validation, piece in pieces:
        if validation:
            return
        yield piece


def encode_stream(files: list[Path], codec_class: type[TextCodec], options: dict[str, object],
                  cache_file: Path, progress: FileProgress | None = None,
                  val_fraction: float = 0.1, fitted: TextCodec | None = None) -> "CacheContents":
    """Fit a codec on the files' text (the training part of it, for a codec fitted so) unless
    one is ``fitted`` already, and write its ids into the cache: chunk by chunk (a pass to fit,
    a pass to encode, and one to count characters where the ids do not tell them), when the
    codec can be fitted so; else whole."""
    chunked = fitted is not None or fits_in_chunks(codec_class)
    passes = (1 + (fitted is None) + (not codec_class.chars_from_ids)) if chunked else 1
    size = sum(f.stat().st_size for f in files)
    total, done = passes * size, 0
    learned = codec_class.fits_training_split
    split_at = size - math.ceil(size * val_fraction) if learned else None

    def bytes_read(count: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress(done, total, "bytes")

    text = DecodedText(files, bytes_read)
    if chunked:
        def pieces() -> Iterable[tuple[bool, str]]:
            return split_text(line_chunks(text), split_at)
        codec = fitted or fit_codec(codec_class, training_text(pieces()), False, options)
    else:
        whole = list(split_text(["".join(text)], split_at))

        def pieces() -> Iterable[tuple[bool, str]]:
            return whole
        codec = fit_codec(codec_class, "".join(training_text(whole)), False, options)

    def fill(writer: CacheWriter) -> dict:
        train_tokens = 0
        for validation, piece in pieces():
            ids = codec.encode_corpus(piece)
            writer.append("ids", ids)
            train_tokens += 0 if validation else ids.numel()
        if not codec.chars_from_ids:
            for _, piece in pieces():
                writer.append("chars", codec.encode_chars(piece))
        split = {"val_start": train_tokens, "val_fraction": val_fraction} if learned else {}
        return {"codec": codec.to_json(), "invalid": text.invalid, **split}

    chars = {} if codec.chars_from_ids else {"chars": np.int32}
    return write_cache(cache_file, {"ids": compact_dtype(codec.size), **chars}, fill)


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
        label_of = label_reader(label_from, path)
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
                 training: TrainingItems | None = None) -> "CacheContents":
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
    if not codec.chars_from_ids:
        tensors["chars"] = torch.cat([codec.encode_chars(t) for t in texts]).to(torch.int32)

    def fill(writer: CacheWriter) -> dict:
        for name, tensor in tensors.items():
            writer.append(name, tensor)
        return {"codec": codec.to_json(), "invalid": invalid}

    return write_cache(cache_file, {name: t.numpy().dtype for name, t in tensors.items()}, fill)


def item_labels(label_from: str | None, root: Path,
                item_files: list[Path]) -> tuple[Tensor | None, tuple[str, ...]]:
    """Label ids of the items (from their files) and the sorted label names."""
    if not label_from:
        return None, ()
    label_of = label_reader(label_from, root)
    per_file = {f: label_of(f) for f in dict.fromkeys(item_files)}
    names = tuple(sorted(set(per_file.values())))
    return torch.tensor([names.index(per_file[f]) for f in item_files]), names


# ---- files a codec reads (MIDI) ---------------------------------------------------------------


FileResult = tuple[np.ndarray, dict[str, float]] | str  # tokens and statistics, or a reason


def file_token_dtype(codec: FileCodec) -> np.dtype:
    """The type of a file codec's tokens in the cache."""
    return np.dtype(np.int16 if codec.size < 2**15 else np.int32)


def read_file_job(job: tuple[Path, FileCodec]) -> FileResult:
    """Worker: a file's tokens and statistics, or the reason it cannot be used."""
    path, codec = job
    try:
        tokens, stats = codec.read(path)
    except CodecFileError as exc:
        return str(exc)
    return tokens.numpy().astype(file_token_dtype(codec)), stats


def read_files(files: list[Path], codec: FileCodec, progress: FileProgress | None,
               job: Callable[[tuple], object] | None = None,
               *arguments: object) -> Iterator[FileResult]:
    """Read files in parallel worker processes: the results in order, as they arrive,
    reporting progress per file. Each file is read by ``job((file, codec, *arguments))``
    (a picklable function; ``read_file_job`` unless given)."""
    job = job or read_file_job
    jobs = [(f, codec, *arguments) for f in files]
    workers = min(len(files) // 8, os.cpu_count() or 1)  # a few files are not worth a pool
    with ExitStack() as stack:
        if workers > 1:
            pool = stack.enter_context(ProcessPoolExecutor(
                workers, initializer=torch.set_num_threads, initargs=(1,)))
            mapped = pool.map(job, jobs, chunksize=4)
        else:
            mapped = map(job, jobs)
        for done, result in enumerate(mapped, 1):
            if progress:
                progress(done, len(files))
            yield result


def encode_files(path: Path, files: list[Path], codec: FileCodec,
                 progress: FileProgress | None, cache_file: Path) -> "CacheContents":
    """Read the files in worker processes and append each usable file's tokens to the cache as
    its result arrives; the names of the files used and skipped (with reasons) and the summed
    statistics are the cache's metadata."""

    def fill(writer: CacheWriter) -> dict:
        used, skipped, lengths, stats = [], [], [], Counter()
        for file, result in zip(files, read_files(files, codec, progress), strict=True):
            if isinstance(result, str):
                skipped.append([relative_name(file, path), result])
                continue
            tokens, piece_stats = result
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


def summarize_skipped(skipped: list[tuple[str, str]]) -> str:
    """``"3 skipped: 2 truncated file, 1 no notes"``."""
    counts = Counter(reason for _, reason in skipped)
    reasons = ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
    return f"{len(skipped)} skipped ({reasons})" if skipped else "none skipped"


Corpus = TextCorpus | TextItemCorpus | FileCorpus


# ---- what a corpus holds ---------------------------------------------------------------------


def describe_corpus(corpus: Corpus, val_fraction: float = 0.1, batch_size: int | None = None,
                    seq_len: int | None = None) -> list[tuple[str, str]]:
    """What ``seqgen corpus inspect`` shows, as (name, value) rows: files, size, items,
    tokens, vocabulary, the split, the padding of the training layout, and the cache."""
    shown = ", ".join(relative_name(f, corpus.path) for f in corpus.files[:5])
    more = f" and {len(corpus.files) - 5} more" if len(corpus.files) > 5 else ""
    rows = [("files", f"{len(corpus.files)} read: {shown}{more}"),
            ("size", f"{corpus.num_bytes:,} bytes")]
    train, val = corpus.split(val_fraction)
    cache = ("encoding", "from the cache" if corpus.from_cache else "encoded now and cached")
    vocabulary = ("vocabulary", corpus.codec.describe_vocabulary())
    if isinstance(corpus, TextCorpus):
        return rows + [
            ("items", "one stream"), ("tokens", f"{corpus.num_tokens:,} {corpus.codec.unit}s"),
            vocabulary,
            ("split", f"{train.num_tokens:,} training, {val.num_tokens:,} validation tokens "
                      f"(last {val_fraction:.0%})"),
            ("invalid UTF-8", f"{corpus.invalid_bytes} byte sequences replaced"), cache]
    if isinstance(corpus, FileCorpus):
        rows += [("skipped", summarize_skipped(corpus.skipped))]
        rows += [describe_stat(name, value) for name, value in corpus.stats.items()]
        rows += [vocabulary]
    else:
        rows += [vocabulary, ("invalid UTF-8", f"{corpus.invalid_bytes} byte sequences replaced")]
    lengths = torch.tensor([p.numel() for p in corpus.pieces], dtype=torch.float)
    layout = train.layout(batch_size, seq_len)
    per_label = corpus.items_per_label()
    return rows + [
        ("items", f"{len(corpus.pieces):,} ({corpus.items}), labels: "
                  + (", ".join(f"{k} {v:,}" for k, v in per_label.items()) or "none")),
        ("tokens", f"{corpus.num_tokens:,}; per item: min {lengths.min():.0f}, median "
                   f"{lengths.median():.0f}, mean {lengths.mean():.0f}, max {lengths.max():.0f}"),
        ("split", f"{len(train.items):,} training items ({train.num_tokens:,} tokens), "
                  f"{len(val.items):,} validation items ({val.num_tokens:,} tokens)"),
        ("padding", f"{padding_fraction(train.batches(layout.rows, layout.seq_len)):.1%} of "
                    f"training positions at batch {layout.rows}, seq-len {layout.seq_len}"),
        cache]


def describe_stat(name: str, value: float) -> tuple[str, str]:
    if name == "seconds":
        return "duration", f"{value / 3600:.2f} hours ({value:,.0f} s)"
    return name, f"{value:,.0f}"
