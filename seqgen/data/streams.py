"""A text corpus read as one stream of tokens (``TextCorpus``), larger than memory if need be.

The text is read in chunks of ``CHUNK_BYTES`` (cut after line breaks), in two passes (fit the
codec, then encode into the cache file as it goes), and its token ids are used memory-mapped
from the cache; a codec that cannot be fitted chunk by chunk (no ``fit_chunks``) is fitted on
the whole text. A codec whose vocabulary is learned (``fits_training_split``) is fitted on the
training part only: the validation text is the last ``val_fraction`` of the text from a line
start, encoded apart. Where a codec's ids do not tell the characters each token stands for (it
implements ``encode_chars``), a third pass counts them into the cache beside the ids.
"""

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import Tensor

from seqgen.data.cache import CacheContents, CacheWriter, cached, write_cache
from seqgen.data.codecs.base import TextCodec
from seqgen.data.declaration import corpus_files
from seqgen.data.describe import Rows, cache_row, files_row, invalid_row, size_row
from seqgen.data.splits import StreamData, split_stream
from seqgen.data.text import (
    DecodedText,
    fit_codec,
    learned_split,
    text_cache_kind,
    warn_invalid,
)
from seqgen.data.workers import FileProgress
from seqgen.errors import UsageError


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

    def decoded(self) -> tuple[str, list[str] | None]:
        """The corpus's text, and its items' texts: none, for one stream."""
        return self.codec.decode(self.ids), None

    def describe(self, val_fraction: float = 0.1, batch_size: int | None = None,
                 seq_len: int | None = None) -> Rows:
        """What ``seqgen corpus inspect`` shows of a stream, as (name, value) rows: files,
        size, tokens, vocabulary, the split, invalid UTF-8 and the cache (a stream has no
        padding: ``batch_size`` and ``seq_len`` change nothing)."""
        train, val = self.split(val_fraction)
        return [
            files_row(self.files, self.path), size_row(self.num_bytes),
            ("items", "one stream"), ("tokens", f"{self.num_tokens:,} {self.codec.unit}s"),
            ("vocabulary", self.codec.describe_vocabulary()),
            ("split", f"{train.num_tokens:,} training, {val.num_tokens:,} validation tokens "
                      f"(last {val_fraction:.0%})"),
            invalid_row(self.invalid_bytes), cache_row(self.from_cache)]


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


# ---- encoding a stream ----------------------------------------------------------------------


def encode_stream(files: list[Path], codec_class: type[TextCodec], options: dict[str, object],
                  cache_file: Path, progress: FileProgress | None = None,
                  val_fraction: float = 0.1, fitted: TextCodec | None = None) -> CacheContents:
    """Fit a codec on the files' text (the training part of it, for a codec fitted so) unless
    one is ``fitted`` already, and write its ids into the cache: chunk by chunk (a pass to fit,
    a pass to encode, and one to count characters where the ids do not tell them), when the
    codec can be fitted so; else whole."""
    chunked = fitted is not None or codec_class.implements("fit_chunks")
    counts_chars = codec_class.implements("encode_chars")  # where its ids do not tell them
    passes = (1 + (fitted is None) + counts_chars) if chunked else 1
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
        if counts_chars:
            for _, piece in pieces():
                writer.append("chars", codec.encode_chars(piece))
        split = {"val_start": train_tokens, "val_fraction": val_fraction} if learned else {}
        return {"codec": codec.to_json(), "invalid": text.invalid, **split}

    chars = {"chars": np.int32} if counts_chars else {}
    return write_cache(cache_file, {"ids": compact_dtype(codec.size), **chars}, fill)


def compact_dtype(vocab_size: int) -> np.dtype:
    """The smallest integer type that holds every token id."""
    return np.dtype(np.uint8 if vocab_size <= 256 else np.int16 if vocab_size <= 2**15
                    else np.int32)


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
