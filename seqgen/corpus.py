"""Corpora: find the files, encode them to token ids once, cache the result, split them.

A text corpus is one stream of characters; a MIDI corpus is a list of pieces, each its own
sequence. Either splits into training and validation data that make ``Batches``.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from seqgen.batching import Batches, item_batches, stream_batches
from seqgen.codec import CharCodec
from seqgen.errors import SeqgenError, UsageError
from seqgen.midi import MidiCodec, MidiFileError, MidiOptions, read_notes
from seqgen.options import check_option_names

FORMATS = {"text": (".txt",), "midi": (".mid", ".midi")}
UTF8_REPLACEMENT = "\ufffd".encode()
FileProgress = Callable[[int, int], None]  # (files done, files in all)


# ---- training and validation data ------------------------------------------------------------


@dataclass
class StreamData:
    """One token stream (text): cut into parallel rows, state carried along each row."""

    ids: Tensor

    @property
    def num_tokens(self) -> int:
        return self.ids.numel()

    def max_rows(self) -> int:
        return max(0, (self.ids.numel() - 1) // 2)

    def batches(self, rows: int, seq_len: int, epoch: int = 0, seed: int = 0,
                augment: bool = False) -> Batches:
        return stream_batches(self.ids, rows, seq_len)


@dataclass
class Augmentation:
    """Random transposition (semitones, either way) and time stretch (a factor 1 +- stretch)."""

    transpose: int = 3
    stretch: float = 0.05

    def apply(self, codec: MidiCodec, tokens: Tensor, generator: torch.Generator) -> Tensor:
        semitones = int(torch.randint(-self.transpose, self.transpose + 1, (),
                                      generator=generator))
        factor = 1 + self.stretch * (2 * float(torch.rand((), generator=generator)) - 1)
        return codec.stretch(codec.transpose(tokens, semitones), factor)


@dataclass
class ItemData:
    """Separate sequences (MIDI pieces): each wrapped in start and end tokens, state fresh at
    each start; shuffled and, for training, augmented anew every epoch."""

    items: list[Tensor]
    codec: MidiCodec
    augmentation: Augmentation = field(default_factory=Augmentation)

    @property
    def num_tokens(self) -> int:
        return sum(t.numel() + 2 for t in self.items)

    def max_rows(self) -> int:
        return len(self.items)

    def batches(self, rows: int, seq_len: int, epoch: int = 0, seed: int = 0,
                augment: bool = False) -> Batches:
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.items), generator=generator).tolist() if augment \
            else range(len(self.items))
        bos, eos = torch.tensor([self.codec.BOS]), torch.tensor([self.codec.EOS])
        sequences = []
        for index in order:
            tokens = self.items[index]
            if augment:
                tokens = self.augmentation.apply(self.codec, tokens, generator)
            sequences.append(torch.cat([bos, tokens.long(), eos]))
        return item_batches(sequences, rows, seq_len, self.codec.PAD)


def split_stream(ids: Tensor, val_fraction: float) -> tuple[Tensor, Tensor]:
    """(train, validation): the validation split is the last ``val_fraction`` of the stream."""
    check_fraction(val_fraction)
    num_val = math.ceil(ids.numel() * val_fraction)
    return ids[:-num_val], ids[-num_val:]


def check_fraction(val_fraction: float) -> None:
    if not 0 < val_fraction < 1:
        raise UsageError(f"the validation fraction must be between 0 and 1, not {val_fraction}")


# ---- corpora -------------------------------------------------------------------------------


@dataclass
class TextCorpus:
    """A text corpus encoded as one stream of character ids."""

    path: Path
    files: list[Path]
    num_bytes: int
    codec: CharCodec
    ids: Tensor
    invalid_bytes: int
    from_cache: bool
    format: str = "text"

    @property
    def num_tokens(self) -> int:
        return self.ids.numel()

    def ids_for(self, codec: CharCodec) -> Tensor:
        """The corpus's token ids in another codec's vocabulary (a checkpoint's, say)."""
        if codec.vocab == self.codec.vocab:
            return self.ids
        table = codec.encode(self.codec.vocab, what=f"corpus {self.path}")
        return table[self.ids.long()].to(torch.int32)

    def split(self, val_fraction: float, codec: CharCodec | None = None,
              **_: object) -> tuple[StreamData, StreamData]:
        train, val = split_stream(self.ids_for(codec or self.codec), val_fraction)
        return StreamData(train), StreamData(val)


@dataclass
class MidiCorpus:
    """A MIDI corpus: one token sequence per piece, and the files skipped with the reasons."""

    path: Path
    files: list[Path]
    num_bytes: int
    codec: MidiCodec
    pieces: list[Tensor]
    skipped: list[tuple[str, str]]
    notes: int
    duration_s: float
    from_cache: bool
    format: str = "midi"

    @property
    def num_tokens(self) -> int:
        return sum(p.numel() for p in self.pieces)

    def split(self, val_fraction: float, codec: MidiCodec | None = None,
              augmentation: Augmentation | None = None) -> tuple[ItemData, ItemData]:
        """The last ``val_fraction`` of the pieces (at least one) is the validation split."""
        check_fraction(val_fraction)
        if len(self.pieces) < 2:
            raise UsageError(f"corpus {self.path} has {len(self.pieces)} usable piece; "
                             "training needs at least 2 (one for validation)")
        num_val = max(1, round(len(self.pieces) * val_fraction))
        codec = codec or self.codec
        augmentation = augmentation or Augmentation()
        return (ItemData(self.pieces[:-num_val], codec, augmentation),
                ItemData(self.pieces[-num_val:], codec, augmentation))


def find_files(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Every file under a folder (recursively, in a stable order) with one of ``suffixes``."""
    return sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes and p.is_file())


def detect_format(path: Path) -> str:
    """``text`` or ``midi``, from the files a path holds."""
    if not path.exists():
        raise UsageError(f"corpus not found: {path} (give a file or a folder of .txt or "
                         ".mid files)")
    if path.is_file():
        return "midi" if path.suffix.lower() in FORMATS["midi"] else "text"
    found = [name for name, suffixes in FORMATS.items() if find_files(path, suffixes)]
    if len(found) > 1:
        raise UsageError(f"{path} mixes text and MIDI files; put them in separate folders "
                         "or choose one with --format text|midi")
    if not found:
        raise UsageError(f"no .txt, .mid or .midi files in {path}")
    return found[0]


def load_corpus(path: str | Path, format: str | None = None,
                codec_options: dict[str, object] | None = None, *, strict: bool = False,
                progress: FileProgress | None = None,
                cache_dir: Path | None = None) -> TextCorpus | MidiCorpus:
    """Load a text or MIDI corpus (the format detected from its files unless given)."""
    path = Path(path)
    format = format or detect_format(path)
    codec_options = dict(codec_options or {})
    if format == "text":
        check_option_names(codec_options, {}, "the text codec")
        return load_text_corpus(path, cache_dir)
    if format == "midi":
        return load_midi_corpus(path, midi_options(codec_options), strict=strict,
                                progress=progress, cache_dir=cache_dir)
    raise UsageError(f"unknown format {format!r}; use text or midi")


def midi_options(given: dict[str, object]) -> MidiOptions:
    check_option_names(given, asdict(MidiOptions()), "the MIDI codec")
    return MidiOptions(**given)


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


def relative_name(file: Path, root: Path) -> str:
    return str(file.relative_to(root)) if file != root else file.name


# ---- text ------------------------------------------------------------------------------------


def find_text_files(path: Path) -> list[Path]:
    """A file, or every ``.txt`` file under a folder."""
    if not path.exists():
        raise UsageError(f"corpus not found: {path} (give a .txt file or a folder of them)")
    if path.is_file():
        return [path]
    files = find_files(path, FORMATS["text"])
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


def load_text_corpus(path: str | Path, cache_dir: Path | None = None) -> TextCorpus:
    """Read, decode and encode a text corpus, or load its token ids from the cache."""
    path = Path(path)
    files = find_text_files(path)
    contents = [f.read_bytes() for f in files]
    num_bytes = sum(map(len, contents))
    if num_bytes == 0:
        raise UsageError(f"corpus {path} is empty: its text files hold no characters")
    cache_file = cache_path(cache_dir, content_key("char-v2", path, files, contents))
    cached = read_cache(cache_file)
    if cached is not None:
        tensors, meta = cached
        codec, ids, invalid = CharCodec.from_json(meta["codec"]), tensors["ids"], meta["invalid"]
    else:
        decoded = [decode_utf8(data) for data in contents]
        invalid = sum(n for _, n in decoded)
        codec, ids = CharCodec.fit("".join(text for text, _ in decoded))
        write_cache(cache_file, {"ids": ids}, {"codec": codec.to_json(), "invalid": invalid})
    if invalid:
        warnings.warn(f"corpus {path}: {invalid} invalid UTF-8 byte sequences were replaced "
                      "by U+FFFD", stacklevel=2)
    return TextCorpus(path, files, num_bytes, codec, ids, invalid, cached is not None)


# ---- MIDI ------------------------------------------------------------------------------------


def encode_midi_file(job: tuple[Path, MidiOptions]) -> tuple[np.ndarray, int, float] | str:
    """Worker: a file's tokens, note count and duration, or the reason it cannot be used."""
    path, options = job
    try:
        notes = read_notes(path, options)
    except MidiFileError as exc:
        return str(exc)
    tokens = MidiCodec(options).encode_notes(notes)
    return tokens.numpy().astype(np.int16), len(notes), max(n.end for n in notes)


def encode_midi_files(files: list[Path], options: MidiOptions,
                      progress: FileProgress | None) -> list[tuple[np.ndarray, int, float] | str]:
    """Encode files in parallel worker processes, in order, reporting progress per file."""
    jobs = [(f, options) for f in files]
    workers = min(len(files) // 8, os.cpu_count() or 1)  # a few files are not worth a pool
    results = []
    with ExitStack() as stack:
        if workers > 1:
            pool = stack.enter_context(ProcessPoolExecutor(
                workers, initializer=torch.set_num_threads, initargs=(1,)))
            mapped = pool.map(encode_midi_file, jobs, chunksize=4)
        else:
            mapped = map(encode_midi_file, jobs)
        for result in mapped:
            results.append(result)
            if progress:
                progress(len(results), len(files))
    return results


def load_midi_corpus(path: str | Path, options: MidiOptions | None = None, *,
                     strict: bool = False, progress: FileProgress | None = None,
                     cache_dir: Path | None = None) -> MidiCorpus:
    """Parse and encode a MIDI file or folder (cached); unusable files are skipped with a reason.

    ``strict`` makes any skipped file an error. A corpus with no usable file is an error.
    """
    path = Path(path)
    options = options or MidiOptions()
    if not path.exists():
        raise UsageError(f"corpus not found: {path} (give a .mid file or a folder of them)")
    files = [path] if path.is_file() else find_files(path, FORMATS["midi"])
    if not files:
        raise UsageError(f"no .mid or .midi files in {path}")
    contents = [f.read_bytes() for f in files]
    kind = "midi-v1" + json.dumps(asdict(options), sort_keys=True)
    cache_file = cache_path(cache_dir, content_key(kind, path, files, contents))
    cached = read_cache(cache_file)
    if cached is None:
        results = encode_midi_files(files, options, progress)
        pieces = [r for r in results if not isinstance(r, str)]
        meta = {
            "used": [relative_name(f, path) for f, r in zip(files, results, strict=True)
                     if not isinstance(r, str)],
            "skipped": [[relative_name(f, path), r] for f, r in zip(files, results, strict=True)
                        if isinstance(r, str)],
            "notes": sum(p[1] for p in pieces), "duration_s": sum(p[2] for p in pieces),
        }
        tokens = np.concatenate([p[0] for p in pieces]) if pieces else np.zeros(0, np.int16)
        tensors = {"tokens": torch.from_numpy(tokens),
                   "lengths": torch.tensor([p[0].size for p in pieces], dtype=torch.int64)}
        if pieces:
            write_cache(cache_file, tensors, meta)
    else:
        tensors, meta = cached
    skipped = [tuple(s) for s in meta["skipped"]]
    if strict and skipped:
        name, reason = skipped[0]
        raise SeqgenError(f"{len(skipped)} MIDI files cannot be used (first: {name}: {reason}); "
                          "drop --strict to skip them")
    if not meta["used"]:
        raise SeqgenError(f"no usable MIDI file in {path}: {summarize_skipped(skipped)}")
    pieces = list(torch.split(tensors["tokens"], tensors["lengths"].tolist()))
    used = [path / name if path.is_dir() else path for name in meta["used"]]
    return MidiCorpus(path, used, sum(map(len, contents)), MidiCodec(options), pieces, skipped,
                      meta["notes"], meta["duration_s"], cached is not None)


def summarize_skipped(skipped: list[tuple[str, str]]) -> str:
    """``"3 skipped: 2 truncated file, 1 no notes"``."""
    counts = Counter(reason for _, reason in skipped)
    reasons = ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
    return f"{len(skipped)} skipped ({reasons})" if skipped else "none skipped"


# ---- the cache -------------------------------------------------------------------------------


def cache_path(cache_dir: Path | None, key: str) -> Path:
    return (cache_dir or default_cache_dir()) / f"{key}.safetensors"


def read_cache(cache_file: Path) -> tuple[dict[str, Tensor], dict] | None:
    """Tensors and metadata of a cache file, or None when it is missing or damaged."""
    try:
        with safe_open(cache_file, framework="pt") as f:
            meta = json.loads(f.metadata()["seqgen"])
            return {name: f.get_tensor(name) for name in f.keys()}, meta  # noqa: SIM118
    except (OSError, SafetensorError, ValueError, KeyError, TypeError):
        return None


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
