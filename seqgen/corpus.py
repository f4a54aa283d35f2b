"""Corpora: find the files, encode them to token ids once, cache the result, split them.

A text corpus is one stream of characters, or separate items (its lines or its files); a MIDI
corpus is a list of pieces. Items may carry labels. Every corpus splits into training and
validation data (``seqgen.data``) that make ``Batches``.
"""

import hashlib
import json
import math
import os
import warnings
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import Tensor

from seqgen.batching import register_file_backed
from seqgen.codec import CharCodec, CodecFileError, FileCodec, TextCodec
from seqgen.data import Augmentation, ItemData, StreamData, item_split, split_stream
from seqgen.errors import SeqgenError, UsageError
from seqgen.labels import label_reader
from seqgen.midi import MidiCodec, MidiOptions
from seqgen.options import check_option_names
from seqgen.plugins import codecs, get_codec

TEXT_SUFFIXES = (".txt",)
ITEM_KINDS = ("lines", "files", "stream")
DECLARATION = "seqgen.json"  # a corpus folder's own settings
UTF8_REPLACEMENT = "\ufffd".encode()
FileProgress = Callable[[int, int], None]  # (files done, files in all)


# ---- corpora -------------------------------------------------------------------------------


@dataclass
class TextCorpus:
    """A text corpus encoded as one stream of character ids."""

    path: Path
    files: list[Path]
    num_bytes: int
    codec: TextCodec
    ids: Tensor
    invalid_bytes: int
    from_cache: bool
    format: str = "text"
    items: str = "stream"
    label_names: tuple[str, ...] = ()

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
        train, val = split_stream(self.ids_for(codec or self.codec), val_fraction)
        return StreamData(train), StreamData(val)


class ItemCorpus:
    """What corpora of separate items (text lines or files, MIDI pieces) share: each item is a
    token sequence with an optional label."""

    path: Path
    codec: TextCodec | FileCodec
    pieces: list[Tensor]
    labels: Tensor | None
    label_names: tuple[str, ...]

    @property
    def num_tokens(self) -> int:
        return sum(p.numel() for p in self.pieces)

    def split(self, val_fraction: float, codec: TextCodec | FileCodec | None = None,
              label_names: tuple[str, ...] | None = None,
              augmentation: Augmentation | None = None) -> tuple[ItemData, ItemData]:
        """Training and validation items, in ``codec``'s vocabulary and ``label_names``' ids
        when given (a checkpoint's)."""
        codec = codec or self.codec
        pieces = self.pieces
        if isinstance(codec, TextCodec) and codec.to_json() != self.codec.to_json():
            pieces = [codec.translate(p, self.codec, what=f"corpus {self.path}") for p in pieces]
        labels = self.labels
        if labels is not None and label_names is not None and label_names != self.label_names:
            labels = label_ids(self.label_names, label_names, self.path)[labels]
        augmentation = augmentation if isinstance(codec, MidiCodec) else None  # MIDI only
        return item_split(pieces, codec, labels, val_fraction, augmentation)

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
    format: str = "text"


@dataclass
class FileCorpus(ItemCorpus):
    """Files a codec reads (MIDI): one token sequence per file, the files skipped with the
    reasons, and the codec's statistics summed over the files (notes, seconds)."""

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
    format: str = "midi"
    items: str = "files"


def find_files(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Every file under a folder (recursively, in a stable order) with one of ``suffixes``."""
    return sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes and p.is_file())


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
    if path.is_file():
        matches = [n for n, suffixes in formats.items() if path.suffix.lower() in suffixes]
        return matches[0] if matches else "text"
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
                progress: FileProgress | None = None, cache_dir: Path | None = None) -> "Corpus":
    """Load a corpus with a registered codec (``format``). What a flag leaves open comes from
    the corpus's own ``seqgen.json`` (keys ``format``, ``items``, ``label_from``), else from
    its files."""
    path = Path(path)
    declared = read_declaration(path)
    format = format or declared.get("format") or detect_format(path)
    codec_class = get_codec(format).cls
    label_from = label_from or declared.get("label_from")
    options = dict(codec_options or {})
    check_option_names(options, codec_class.default_options(), f"the {format} codec")
    if issubclass(codec_class, FileCodec):
        try:
            codec = codec_class.from_options(**options)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"the {format} codec: {exc}") from None
        return load_file_corpus(path, codec, format, strict=strict, progress=progress,
                                cache_dir=cache_dir, label_from=label_from)
    items = items or declared.get("items") or detect_items(path)
    if items not in ITEM_KINDS:
        raise UsageError(f"unknown --items {items!r}; use lines, files or stream")
    if items == "stream":
        if label_from:
            raise UsageError("labels belong to items: give --items lines or --items files "
                             "with --label-from")
        return load_text_corpus(path, cache_dir, codec_class, options, format)
    return load_text_items(path, items, label_from, cache_dir, codec_class, options, format)


def load_recorded_corpus(config: dict, path: str | Path | None = None) -> "Corpus":
    """The corpus a checkpoint's ``config`` was trained on (or ``path``), read the same way."""
    recorded, training = config.get("corpus", {}), config.get("training", {})
    corpus_path = Path(path or recorded.get("path", ""))
    if path is None and not corpus_path.exists():
        raise SeqgenError(f"the corpus this checkpoint was trained on ({corpus_path}) is not "
                          "there; pass --corpus PATH")
    return load_corpus(corpus_path, recorded.get("format", "text"),
                       training.get("codec_options", {}), items=training.get("items"),
                       label_from=training.get("label_from"))


def read_declaration(path: Path) -> dict[str, str]:
    """A corpus folder's ``seqgen.json``: how its files are to be read."""
    file = path / DECLARATION
    if not file.is_file():
        return {}
    try:
        declared = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(declared, dict):
            raise ValueError("expected a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"cannot read {file}: {exc}") from None
    unknown = set(declared) - {"format", "items", "label_from"}
    if unknown:
        raise UsageError(f"{file} has unknown keys {sorted(unknown)}; "
                         "known: format, items, label_from")
    if "label_from" in declared and declared["label_from"] not in ("stem", "folder"):
        declared["label_from"] = str(path / declared["label_from"])
    return declared


def detect_items(path: Path, sample_bytes: int = 1 << 20) -> str:
    """``lines`` when every file is a list of short lines (no blank lines, none over 100
    characters, judged on its first megabyte), else one ``stream``."""
    for file in find_text_files(path):
        with open(file, "rb") as f:
            head = f.read(sample_bytes).decode("utf-8", errors="replace")
        if len(head) == sample_bytes:  # a cut line at the end of the sample is no evidence
            head = head[: head.rfind("\n") + 1]
        lines = head.rstrip("\n").split("\n")
        if len(lines) < 2 or any(not line.strip() or len(line) > 100 for line in lines):
            return "stream"
    return "lines"


def default_cache_dir() -> Path:
    if "SEQGEN_CACHE_DIR" in os.environ:
        return Path(os.environ["SEQGEN_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "seqgen"


def content_key(kind: str, path: Path, files: list[Path], contents: list[bytes]) -> str:
    """A cache key from the codec settings and every file's name and bytes."""
    key = hashlib.sha256(kind.encode())
    for f, data in zip(files, contents, strict=True):
        key.update(f"\0{relative_name(f, path)}\0{len(data)}\0".encode())
        key.update(data)
    return key.hexdigest()


@dataclass
class CacheLookup:
    """Where a corpus's encoding is cached, and the files' bytes if they had to be read."""

    cache_file: Path
    contents: list[bytes] | None
    num_bytes: int

    def read_contents(self, files: list[Path]) -> list[bytes]:
        if self.contents is None:
            self.contents = [f.read_bytes() for f in files]
        return self.contents


def locate_cache(kind: str, path: Path, files: list[Path],
                 cache_dir: Path | None) -> CacheLookup:
    """The cache file of a corpus, keyed on its files' contents.

    Hashing the contents means reading every file, so (as git's index does) a small index
    file maps the files' names, sizes and modification times to the content key: a second
    load of unchanged files reads only the cache.
    """
    stats = [f.stat() for f in files]
    stamp = hashlib.sha256(kind.encode())
    for f, st in zip(files, stats, strict=True):
        stamp.update(f"\0{f.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    index = cache_path(cache_dir, f"index-{stamp.hexdigest()}").with_suffix(".key")
    num_bytes = sum(st.st_size for st in stats)
    try:
        cache_file = cache_path(cache_dir, index.read_text(encoding="ascii").strip())
        if cache_file.exists():
            return CacheLookup(cache_file, None, num_bytes)
    except OSError:
        pass
    contents = [f.read_bytes() for f in files]
    key = content_key(kind, path, files, contents)
    try:
        index.parent.mkdir(parents=True, exist_ok=True)
        tmp = index.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(key, encoding="ascii")
        os.replace(tmp, index)
    except OSError:
        pass  # no index: the next load hashes the contents again
    return CacheLookup(cache_path(cache_dir, key), contents, num_bytes)


def relative_name(file: Path, root: Path) -> str:
    return str(file.relative_to(root)) if file != root else file.name


# ---- text ------------------------------------------------------------------------------------


def find_text_files(path: Path) -> list[Path]:
    """A file, or every ``.txt`` file under a folder."""
    if not path.exists():
        raise UsageError(f"corpus not found: {path} (give a .txt file or a folder of them)")
    if path.is_file():
        return [path]
    files = find_files(path, TEXT_SUFFIXES)
    if not files:
        raise UsageError(f"no .txt files in {path}; a text corpus is a .txt file "
                         "or a folder of them")
    return files


def decode_utf8(data: bytes) -> tuple[str, int]:
    """Text and the number of invalid byte sequences replaced by U+FFFD."""
    try:
        return data.decode("utf-8"), 0
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        return text, text.count("\ufffd") - data.count(UTF8_REPLACEMENT)


def fit_codec(codec_class: type[TextCodec], text: str, specials: bool,
              options: dict[str, object]) -> TextCodec:
    try:
        return codec_class.fit(text, specials, **options)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"the {codec_class.name} codec: {exc}") from None


def compact_dtype(vocab_size: int) -> torch.dtype:
    """The smallest integer type that holds every token id."""
    return torch.uint8 if vocab_size <= 256 else torch.int16 if vocab_size <= 2**15 \
        else torch.int32


def text_cache_kind(kind: str, codec_class: type[TextCodec], options: dict) -> str:
    return f"{kind}-{codec_class.__module__}.{codec_class.__name__}-" \
           f"{json.dumps(options, sort_keys=True)}"


def load_text_corpus(path: str | Path, cache_dir: Path | None = None,
                     codec_class: type[TextCodec] = CharCodec,
                     options: dict[str, object] | None = None,
                     format: str = "text") -> TextCorpus:
    """Read, decode and encode a text corpus as one stream, or load it from the cache."""
    path, options = Path(path), dict(options or {})
    files = find_text_files(path)
    lookup = locate_cache(text_cache_kind("stream-v3", codec_class, options), path, files,
                          cache_dir)
    if lookup.num_bytes == 0:
        raise UsageError(f"corpus {path} is empty: its text files hold no characters")
    cached = read_cache(lookup.cache_file)
    if cached is not None:
        tensors, meta = cached
        codec, ids, invalid = codec_class.from_json(meta["codec"]), tensors["ids"], meta["invalid"]
    else:
        decoded = [decode_utf8(data) for data in lookup.read_contents(files)]
        invalid = sum(n for _, n in decoded)
        text = "".join(text for text, _ in decoded)
        codec = fit_codec(codec_class, text, False, options)
        ids = codec.encode_corpus(text).to(compact_dtype(codec.size))
        write_cache(lookup.cache_file, {"ids": ids},
                    {"codec": codec.to_json(), "invalid": invalid})
    if invalid:
        warnings.warn(f"corpus {path}: {invalid} invalid UTF-8 byte sequences were replaced "
                      "by U+FFFD", stacklevel=2)
    return TextCorpus(path, files, lookup.num_bytes, codec, ids, invalid, cached is not None,
                      format)


def split_items_of(text: str, items: str) -> list[str]:
    """A file's items: its non-empty lines, or the whole text less its final newline."""
    if items == "files":
        return [text.rstrip("\r\n")] if text.strip() else []
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def load_text_items(path: Path, items: str, label_from: str | None,
                    cache_dir: Path | None = None, codec_class: type[TextCodec] = CharCodec,
                    options: dict[str, object] | None = None,
                    format: str = "text") -> TextItemCorpus:
    """A text corpus of separate items (lines or files), with labels if asked for."""
    options = dict(options or {})
    files = find_text_files(path)
    lookup = locate_cache(text_cache_kind(f"items-v2-{items}", codec_class, options), path,
                          files, cache_dir)
    cached = read_cache(lookup.cache_file)
    if cached is not None:
        tensors, meta = cached
        codec, invalid = codec_class.from_json(meta["codec"]), meta["invalid"]
    else:
        decoded = [decode_utf8(data) for data in lookup.read_contents(files)]
        invalid = sum(n for _, n in decoded)
        per_file = [split_items_of(text, items) for text, _ in decoded]
        texts = [item for file_items in per_file for item in file_items]
        if not texts:
            raise UsageError(f"corpus {path} is empty: its text files hold no {items}")
        codec = fit_codec(codec_class, "".join(texts), True, options)
        pieces = codec.encode_items(texts)
        tensors = {"tokens": torch.cat(pieces).to(torch.int32),
                   "lengths": torch.tensor([p.numel() for p in pieces]),
                   "files": torch.tensor([i for i, f in enumerate(per_file) for _ in f])}
        write_cache(lookup.cache_file, tensors, {"codec": codec.to_json(), "invalid": invalid})
    if invalid:
        warnings.warn(f"corpus {path}: {invalid} invalid UTF-8 byte sequences were replaced "
                      "by U+FFFD", stacklevel=2)
    pieces = list(torch.split(tensors["tokens"], tensors["lengths"].tolist()))
    labels, names = item_labels(label_from, path, [files[i] for i in tensors["files"].tolist()])
    return TextItemCorpus(path, files, lookup.num_bytes, codec, pieces, labels, names,
                          invalid, cached is not None, items, format)


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


def read_file_job(job: tuple[Path, FileCodec]) -> tuple[np.ndarray, dict[str, float]] | str:
    """Worker: a file's tokens and statistics, or the reason it cannot be used."""
    path, codec = job
    try:
        tokens, stats = codec.read(path)
    except CodecFileError as exc:
        return str(exc)
    return tokens.numpy().astype(np.int16 if codec.size < 2**15 else np.int32), stats


def read_files(files: list[Path], codec: FileCodec, progress: FileProgress | None) -> list:
    """Read files in parallel worker processes, in order, reporting progress per file."""
    jobs = [(f, codec) for f in files]
    workers = min(len(files) // 8, os.cpu_count() or 1)  # a few files are not worth a pool
    results = []
    with ExitStack() as stack:
        if workers > 1:
            pool = stack.enter_context(ProcessPoolExecutor(
                workers, initializer=torch.set_num_threads, initargs=(1,)))
            mapped = pool.map(read_file_job, jobs, chunksize=4)
        else:
            mapped = map(read_file_job, jobs)
        for result in mapped:
            results.append(result)
            if progress:
                progress(len(results), len(files))
    return results


def load_file_corpus(path: str | Path, codec: FileCodec, format: str = "midi", *,
                     strict: bool = False, progress: FileProgress | None = None,
                     cache_dir: Path | None = None, label_from: str | None = None) -> FileCorpus:
    """Read a file or folder of a file codec's files (cached); unusable files are skipped with
    a reason. ``strict`` makes any skipped file an error; no usable file is an error."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"corpus not found: {path} (give a file or a folder of "
                         f"{', '.join(codec.suffixes)} files)")
    files = [path] if path.is_file() else find_files(path, codec.suffixes)
    if not files:
        raise UsageError(f"no {', '.join(codec.suffixes)} files in {path}")
    kind = f"files-v2-{format}-{json.dumps(codec.to_json(), sort_keys=True)}"
    lookup = locate_cache(kind, path, files, cache_dir)
    cached = read_cache(lookup.cache_file)
    if cached is None:
        results = read_files(files, codec, progress)
        pieces = [r for r in results if not isinstance(r, str)]
        stats: Counter = Counter()
        for _, piece_stats in pieces:
            stats.update(piece_stats)
        meta = {
            "used": [relative_name(f, path) for f, r in zip(files, results, strict=True)
                     if not isinstance(r, str)],
            "skipped": [[relative_name(f, path), r] for f, r in zip(files, results, strict=True)
                        if isinstance(r, str)],
            "stats": dict(stats),
        }
        tokens = np.concatenate([p[0] for p in pieces]) if pieces else np.zeros(0, np.int16)
        tensors = {"tokens": torch.from_numpy(tokens),
                   "lengths": torch.tensor([p[0].size for p in pieces], dtype=torch.int64)}
        if pieces:
            write_cache(lookup.cache_file, tensors, meta)
    else:
        tensors, meta = cached
    skipped = [tuple(s) for s in meta["skipped"]]
    if strict and skipped:
        name, reason = skipped[0]
        raise SeqgenError(f"{len(skipped)} files cannot be used (first: {name}: {reason}); "
                          "drop --strict to skip them")
    if not meta["used"]:
        raise SeqgenError(f"no usable {format} file in {path}: {summarize_skipped(skipped)}")
    pieces = list(torch.split(tensors["tokens"], tensors["lengths"].tolist()))
    used = [path / name if path.is_dir() else path for name in meta["used"]]
    labels, names = item_labels(label_from, path, used)
    return FileCorpus(path, used, lookup.num_bytes, codec, pieces, skipped,
                      meta["stats"], cached is not None, labels, names, format)


def load_midi_corpus(path: str | Path, options: MidiOptions | None = None,
                     **kwargs: object) -> FileCorpus:
    """A MIDI corpus (see ``load_file_corpus``)."""
    return load_file_corpus(path, MidiCodec(options), "midi", **kwargs)


def summarize_skipped(skipped: list[tuple[str, str]]) -> str:
    """``"3 skipped: 2 truncated file, 1 no notes"``."""
    counts = Counter(reason for _, reason in skipped)
    reasons = ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
    return f"{len(skipped)} skipped ({reasons})" if skipped else "none skipped"


# ---- the cache -------------------------------------------------------------------------------


def cache_path(cache_dir: Path | None, key: str) -> Path:
    return (cache_dir or default_cache_dir()) / f"{key}.safetensors"


SAFETENSORS_DTYPES = {"U8": np.uint8, "I16": np.int16, "I32": np.int32, "I64": np.int64}


def read_cache(cache_file: Path) -> tuple[dict[str, Tensor], dict] | None:
    """Tensors (memory-mapped, so a large corpus is never read whole) and metadata of a cache
    file, or None when it is missing or damaged."""
    try:
        with open(cache_file, "rb") as f:
            header_size = int.from_bytes(f.read(8), "little")
            if not 0 < header_size < cache_file.stat().st_size:
                return None
            header = json.loads(f.read(header_size))
        meta = json.loads(header.pop("__metadata__")["seqgen"])
        tensors = {}
        for name, info in header.items():
            start, end = info["data_offsets"]
            dtype = np.dtype(SAFETENSORS_DTYPES[info["dtype"]])
            if end - start != dtype.itemsize * math.prod(info["shape"]):
                return None
            if end == start:
                tensors[name] = torch.zeros(info["shape"], dtype=TORCH_DTYPES[info["dtype"]])
                continue
            array = np.memmap(cache_file, dtype=dtype, mode="c", offset=8 + header_size + start,
                              shape=tuple(info["shape"]))  # copy-on-write: pages load lazily
            tensors[name] = torch.from_numpy(array)
            register_file_backed(tensors[name], str(cache_file), 8 + header_size + start)
        return tensors, meta
    except (OSError, ValueError, KeyError, TypeError):
        return None


TORCH_DTYPES = {"U8": torch.uint8, "I16": torch.int16, "I32": torch.int32, "I64": torch.int64}


def write_cache(cache_file: Path, tensors: dict[str, Tensor], meta: dict) -> None:
    """Write a cache file atomically; a cache that cannot be written is only a warning."""
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
        save_file(tensors, tmp, metadata={"seqgen": json.dumps(meta)})
        os.replace(tmp, cache_file)
    except OSError as exc:
        warnings.warn(f"could not cache the encoded corpus in {cache_file.parent}: {exc}",
                      stacklevel=3)


Corpus = TextCorpus | TextItemCorpus | FileCorpus
