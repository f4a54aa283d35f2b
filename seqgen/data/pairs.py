"""Corpora of pairs, for encoder-decoder models: a source sequence, and a target of another
length written from it.

- **Text**: lines ``source<TAB>target`` of ``.tsv`` files (``.csv``: two comma-separated
  fields), or of the text files of a folder whose ``seqgen.json`` says ``"items": "pairs"``.
  The source and target codecs are fitted separately (or one on both sides: ``shared_vocab``).
- **Files a codec reads in tracks** (MIDI): each file's ``source_track`` (a name or an index)
  is the source and its other tracks, merged, the target, through the codec's ``read_pair``.

A folder's ``seqgen.json`` may say where the files are (``"files": "../bach-chorales"``) and
declare ``source_track`` and ``shared_vocab``. Validation is the last 10% of the pairs.
"""

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from seqgen.data.batching import padding_fraction
from seqgen.data.cache import CacheContents, CacheWriter, cached, relative_name, write_cache
from seqgen.data.codecs.base import (
    Augmentation,
    Codec,
    CodecFileError,
    FileCodec,
    TextCodec,
    codec_release,
    get_codec,
)
from seqgen.data.declaration import (
    PAIR_SUFFIXES,
    corpus_files,
    declared_options,
    detect_format,
    find_files,
    read_declaration,
)
from seqgen.data.describe import (
    Rows,
    cache_row,
    files_row,
    size_row,
    summarize_skipped,
    token_counts,
)
from seqgen.data.splits import PairData, pair_split, split_items
from seqgen.data.text import (
    DecodedText,
    fit_codec,
    in_vocabulary,
    learned_split,
    text_cache_kind,
    warn_invalid,
)
from seqgen.data.workers import FileProgress, read_files
from seqgen.errors import SeqgenError, UsageError
from seqgen.plugins import check_option_names

NAMES_TRIED = 8  # files read for the names of a corpus's target tracks before giving up


@dataclass
class PairCorpus:
    """Pairs of token sequences: each source (in ``source_codec``'s vocabulary) with its
    target (in ``codec``'s; the same codec for a file codec, or with a shared vocabulary)."""

    path: Path
    files: list[Path]
    num_bytes: int
    source_codec: Codec
    codec: Codec
    sources: list[Tensor]
    targets: list[Tensor]
    from_cache: bool
    skipped: list[tuple[str, str]] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)
    source_track: str | None = None
    target_tracks: tuple[str, ...] = ()  # the names of the target's tracks (a file codec's)
    label_names: tuple[str, ...] = ()  # none: an encoder-decoder is conditioned on its source

    @property
    def format(self) -> str:
        return self.codec.name

    @property
    def num_tokens(self) -> int:
        return sum(t.numel() for t in self.targets)

    def split(self, val_fraction: float, codec: Codec | None = None,
              source_codec: Codec | None = None, augmentation: Augmentation | None = None,
              **_: object) -> tuple[PairData, PairData]:
        """Training and validation pairs, in a checkpoint's vocabularies when given."""
        codec, source_codec = codec or self.codec, source_codec or self.source_codec
        sources = in_vocabulary(self.sources, self.source_codec, source_codec, self.path)
        targets = in_vocabulary(self.targets, self.codec, codec, self.path)
        if not codec.reads_text:
            source_codec = codec  # one codec reads both sides, and augments them together
        return pair_split(sources, targets, codec, source_codec, val_fraction, augmentation)

    def describe(self, val_fraction: float = 0.1, batch_size: int | None = None,
                 seq_len: int | None = None) -> Rows:
        """What ``seqgen corpus inspect --pairs`` shows, as (name, value) rows: files, size,
        pairs, files skipped, each side's tokens and vocabulary, the split, the padding of the
        training layout and the cache."""
        train, val = self.split(val_fraction)
        layout = train.layout(batch_size, seq_len)
        rows = [files_row(self.files), size_row(self.num_bytes),
                ("pairs", f"{len(self.targets):,}" + (f", the source track {self.source_track}"
                                                      if self.source_track else ""))]
        if self.skipped:
            rows.append(("skipped", summarize_skipped(self.skipped)))
        for side, pieces, codec in (("source", self.sources, self.source_codec),
                                    ("target", self.targets, self.codec)):
            rows += [(f"{side} tokens", token_counts(pieces, "pair", mean=False)),
                     (f"{side} vocabulary", codec.describe_vocabulary())]
        padding = padding_fraction(train.batches(layout.rows, layout.seq_len))
        return rows + [
            ("split", f"{len(train.targets):,} training pairs, {len(val.targets):,} validation "
                      f"pairs (the last {val_fraction:.0%})"),
            ("padding", f"{padding:.1%} of training target positions at batch {layout.rows}"),
            cache_row(self.from_cache)]


# ---- loading ---------------------------------------------------------------------------------


def load_pairs(path: str | Path, format: str | None = None,
               codec_options: dict[str, object] | None = None, *,
               source_track: str | None = None, shared_vocab: bool | None = None,
               strict: bool = False, progress: FileProgress | None = None,
               cache_dir: Path | None = None, val_fraction: float = 0.1) -> PairCorpus:
    """Load a corpus of pairs with a registered codec (``format``). What a flag leaves open
    comes from the folder's ``seqgen.json``, else from its files. A text codec learnt from the
    text (BPE, words) is fitted on the pairs before the last ``val_fraction`` only."""
    path = Path(path)
    declared = read_declaration(path) if path.is_dir() else {}
    root = path / declared["files"] if "files" in declared else path
    format = format or declared.get("format") or pair_format(root)
    codec_class = get_codec(format).cls
    options = declared_options(declared, codec_class, codec_options)
    check_option_names(options, codec_class.default_options(), f"the {format} codec")
    if not codec_class.reads_text:  # a file codec reads its files as pairs of tracks
        track = source_track or declared.get("source_track")
        return load_file_pairs(path, root, codec_class, options, track, strict=strict,
                               progress=progress, cache_dir=cache_dir)
    shared = shared_vocab if shared_vocab is not None else bool(declared.get("shared_vocab"))
    return load_text_pairs(path, root, codec_class, options, shared, cache_dir=cache_dir,
                           val_fraction=val_fraction)


def pair_format(root: Path) -> str:
    """The format of a corpus of pairs: text for ``.tsv`` and ``.csv`` files, else the
    format its files have."""
    if root.is_file() and root.suffix.lower() in PAIR_SUFFIXES:
        return detect_format(root)  # a file of no format's suffix is text
    if root.is_dir() and (pair_files := find_files(root, PAIR_SUFFIXES)):
        return detect_format(pair_files[0])
    return detect_format(root)


# ---- text pairs ------------------------------------------------------------------------------


def read_pair_lines(file: Path, text: str) -> list[tuple[str, str]]:
    """The (source, target) pairs of a file's text: a tab between the two sides (a comma in
    a ``.csv`` file, with CSV quoting); blank lines are skipped. A line without a separator or
    with an empty side is a usage error naming the file and the line."""
    comma = file.suffix.lower() == ".csv"
    lines = text.split("\n")
    rows = csv.reader(lines) if comma else (line.rstrip("\r").split("\t", 1) for line in lines)
    pairs = []
    for number, (line, row) in enumerate(zip(lines, rows, strict=True), 1):
        if not line.strip():
            continue
        where = f"{file}, line {number}"
        if len(row) != 2:
            separator = "a comma" if comma else "a tab"
            raise UsageError(f"{where}: a pair is a source and a target with {separator} "
                             f"between them, not {line.strip()[:60]!r}")
        for side, value in zip(("source", "target"), row, strict=True):
            if not value.strip():
                raise UsageError(f"{where}: the {side} is empty")
        pairs.append((row[0], row[1].rstrip("\r")))
    return pairs


def load_text_pairs(path: Path, root: Path, codec_class: type[TextCodec],
                    options: dict[str, object], shared: bool, *,
                    cache_dir: Path | None = None, val_fraction: float = 0.1) -> PairCorpus:
    """Text pairs, their codecs fitted (cached)."""
    files = corpus_files(root, PAIR_SUFFIXES + codec_class.suffixes)
    kind = text_cache_kind(f"pairs-v1-{'shared' if shared else 'separate'}", codec_class,
                           options, learned_split(codec_class, val_fraction, None))
    found = cached(kind, root, files, cache_dir, lambda cache_file: encode_text_pairs(
        root, files, codec_class, options, shared, cache_file, val_fraction))
    source_codec = codec_class.from_json(found.meta["source_codec"])
    codec = source_codec if shared else codec_class.from_json(found.meta["codec"])
    warn_invalid(path, found.meta)
    sources, targets = split_sides(found.tensors)
    return PairCorpus(path, files, found.num_bytes, source_codec, codec, sources, targets,
                      found.from_cache)


def encode_text_pairs(root: Path, files: list[Path], codec_class: type[TextCodec],
                      options: dict[str, object], shared: bool, cache_file: Path,
                      val_fraction: float = 0.1) -> CacheContents:
    """Read every pair, fit the source and target codecs (or one for both: on the training
    pairs only for a codec learnt from the text) and cache the ids."""
    pairs, invalid = [], 0
    for file in files:
        text = DecodedText([file])
        pairs += read_pair_lines(file, "".join(text))
        invalid += text.invalid
    if not pairs:
        raise UsageError(f"corpus {root} is empty: its files hold no pairs")
    sources, targets = ([pair[side] for pair in pairs] for side in (0, 1))
    fitted_on = split_items(len(pairs), None, val_fraction)[0] \
        if codec_class.fits_training_split else range(len(pairs))
    fit_sources, fit_targets = ([pairs[i][side] for i in fitted_on] for side in (0, 1))
    if shared:
        source_codec = codec = fit_codec(codec_class, "".join(fit_sources + fit_targets), True,
                                         options)
    else:
        source_codec = fit_codec(codec_class, "".join(fit_sources), True, options)
        codec = fit_codec(codec_class, "".join(fit_targets), True, options)
    meta = {"source_codec": source_codec.to_json(), "codec": codec.to_json(),
            "invalid": invalid}
    return cache_sides(cache_file, source_codec.encode_items(sources), codec.encode_items(targets),
                       meta)


def cache_sides(cache_file: Path, sources: list, targets: list, meta: dict) -> CacheContents:
    """Both sides' token arrays and lengths, and ``meta``, into the cache."""
    dtype = np.dtype(np.int32)

    def fill(writer: CacheWriter) -> dict:
        for side, pieces in (("source", sources), ("target", targets)):
            writer.append(side, np.concatenate([np.asarray(p, dtype) for p in pieces]))
            writer.append(f"{side}_lengths", np.array([len(p) for p in pieces], np.int64))
        return meta

    return write_cache(cache_file, {"source": dtype, "source_lengths": np.int64,
                                    "target": dtype, "target_lengths": np.int64}, fill)


def split_sides(tensors: dict[str, Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """The sources and the targets of a cache's tensors."""
    return tuple(list(torch.split(tensors[side], tensors[f"{side}_lengths"].tolist()))
                 for side in ("source", "target"))


# ---- files read as pairs (MIDI) --------------------------------------------------------------


def load_file_pairs(path: Path, root: Path, codec_class: type[FileCodec],
                    options: dict[str, object], track: str | None, *, strict: bool = False,
                    progress: FileProgress | None = None,
                    cache_dir: Path | None = None) -> PairCorpus:
    """A file codec's files as pairs (cached): the source track against the other tracks."""
    if not codec_class.implements("read_pair"):
        raise UsageError(f"the {codec_class.name} codec cannot read a file as a pair (it has no "
                         "read_pair): an encoder-decoder needs text pairs or a codec that has")
    if track is None:
        raise UsageError("give --source-track NAME or INDEX: the track each file's source is "
                         "(the other tracks are the target)")
    try:
        codec = codec_class.from_options(**options)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"the {codec_class.name} codec: {exc}") from None
    files = corpus_files(root, codec.suffixes)
    kind = f"pairs-v1-{codec.name}-{codec_release(codec_class)}-{track}-" \
           f"{json.dumps(codec.to_json(), sort_keys=True)}"
    found = cached(kind, root, files, cache_dir, lambda cache_file: encode_file_pairs(
        root, files, codec, track, progress, cache_file))
    skipped = [tuple(s) for s in found.meta["skipped"]]
    if strict and skipped:
        name, reason = skipped[0]
        raise SeqgenError(f"{len(skipped)} files cannot be used (first: {name}: {reason}); "
                          "drop --strict to skip them")
    if not found.meta["used"]:
        raise UsageError(f"no file in {root} can be read as a pair with --source-track "
                         f"{track}: {summarize_skipped(skipped)}; give --source-track NAME or "
                         "INDEX, a track these files have")
    sources, targets = split_sides(found.tensors)
    used = [root / name if root.is_dir() else root for name in found.meta["used"]]
    return PairCorpus(path, used, found.num_bytes, codec, codec, sources, targets,
                      found.from_cache, skipped, found.meta["stats"], track,
                      first_target_names(used, codec, track))


def first_target_names(files: list[Path], codec: FileCodec, track: str) -> tuple[str, ...]:
    """The names of the target's tracks (``FileCodec.target_names``) in the first of ``files``
    that can be read as a pair; none if none can."""
    for file in files:
        try:
            return codec.target_names(file, track)
        except CodecFileError:
            continue
    return ()


def corpus_target_names(path: Path, codec: FileCodec, track: str) -> tuple[str, ...]:
    """The names of the target's tracks in a corpus of pairs of ``codec``'s files (a file, or
    a folder with its ``seqgen.json``): what a checkpoint that did not record them was trained
    to write. None for a corpus that is not there or that has none."""
    try:
        declared = read_declaration(path) if path.is_dir() else {}
        root = path / declared["files"] if "files" in declared else path
        return first_target_names(corpus_files(root, codec.suffixes)[:NAMES_TRIED], codec,
                                  track)
    except SeqgenError:  # no corpus there, or not one of pairs of these files
        return ()


def encode_file_pairs(root: Path, files: list[Path], codec: FileCodec, track: str,
                      progress: FileProgress | None, cache_file: Path) -> CacheContents:
    """Read the files as pairs in worker processes and cache both sides."""
    sources, targets, used, skipped, stats = [], [], [], [], Counter()
    for file, result in zip(files, read_files(files, codec, progress, track), strict=True):
        if isinstance(result, str):
            skipped.append([relative_name(file, root), result])
            continue
        (source, target), file_stats = result
        sources.append(source)
        targets.append(target)
        stats.update(file_stats)
        used.append(relative_name(file, root))
    return cache_sides(cache_file, sources or [[]], targets or [[]],
                       {"used": used, "skipped": skipped, "stats": dict(stats)})
