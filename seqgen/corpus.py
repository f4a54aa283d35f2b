"""Text corpora: find the files, decode them, encode to token ids once and cache the result."""

import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from seqgen.codec import CharCodec
from seqgen.errors import UsageError

CACHE_FORMAT = "char-v1"
UTF8_REPLACEMENT = "\ufffd".encode()


@dataclass
class TextCorpus:
    """A text corpus encoded as one stream of token ids."""

    path: Path
    files: list[Path]
    num_bytes: int
    codec: CharCodec
    ids: Tensor
    invalid_bytes: int
    from_cache: bool

    def ids_for(self, codec: CharCodec) -> Tensor:
        """The corpus's token ids in another codec's vocabulary (a checkpoint's, say)."""
        if codec.vocab == self.codec.vocab:
            return self.ids
        table = codec.encode(self.codec.vocab, what=f"corpus {self.path}")
        return table[self.ids.long()].to(torch.int32)


def split_stream(ids: Tensor, val_fraction: float) -> tuple[Tensor, Tensor]:
    """(train, validation): the validation split is the last ``val_fraction`` of the stream."""
    if not 0 < val_fraction < 1:
        raise UsageError(f"the validation fraction must be between 0 and 1, not {val_fraction}")
    num_val = math.ceil(ids.numel() * val_fraction)
    return ids[:-num_val], ids[-num_val:]


def find_text_files(path: Path) -> list[Path]:
    """A file, or every ``.txt`` file under a folder (recursively, in a stable order)."""
    if not path.exists():
        raise UsageError(f"corpus not found: {path} (give a .txt file or a folder of them)")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*.txt") if p.is_file())
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


def default_cache_dir() -> Path:
    if "SEQGEN_CACHE_DIR" in os.environ:
        return Path(os.environ["SEQGEN_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "seqgen"


def load_text_corpus(path: str | Path, cache_dir: Path | None = None) -> TextCorpus:
    """Read, decode and encode a text corpus, or load its token ids from the cache.

    The cache is keyed on the files' names and contents, so an edited corpus is re-encoded.
    """
    path = Path(path)
    files = find_text_files(path)
    contents = [f.read_bytes() for f in files]
    num_bytes = sum(map(len, contents))
    if num_bytes == 0:
        raise UsageError(f"corpus {path} is empty: its text files hold no characters")
    key = hashlib.sha256(CACHE_FORMAT.encode())
    for f, data in zip(files, contents, strict=True):
        key.update(f"\0{f.relative_to(path) if f != path else f.name}\0{len(data)}\0".encode())
        key.update(data)
    cache_file = (cache_dir or default_cache_dir()) / f"{key.hexdigest()}.safetensors"

    cached = _read_cache(cache_file)
    if cached is not None:
        codec, ids, invalid = cached
    else:
        decoded = [decode_utf8(data) for data in contents]
        invalid = sum(n for _, n in decoded)
        codec, ids = CharCodec.fit("".join(text for text, _ in decoded))
        _write_cache(cache_file, codec, ids, invalid)
    if invalid:
        warnings.warn(f"corpus {path}: {invalid} invalid UTF-8 byte sequences were replaced "
                      "by U+FFFD", stacklevel=2)
    return TextCorpus(path, files, num_bytes, codec, ids, invalid, cached is not None)


def _read_cache(cache_file: Path) -> tuple[CharCodec, Tensor, int] | None:
    try:
        with safe_open(cache_file, framework="pt") as f:
            meta = json.loads(f.metadata()["seqgen"])
            ids = f.get_tensor("ids")
        return CharCodec.from_json(meta["codec"]), ids, int(meta["invalid_bytes"])
    except (OSError, SafetensorError, ValueError, KeyError, TypeError):
        return None  # no cache, or a damaged one: encode again


def _write_cache(cache_file: Path, codec: CharCodec, ids: Tensor, invalid: int) -> None:
    meta = {"codec": codec.to_json(), "invalid_bytes": invalid}
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
        save_file({"ids": ids}, tmp, metadata={"seqgen": json.dumps(meta)})
        os.replace(tmp, cache_file)
    except OSError as exc:
        warnings.warn(f"could not cache the encoded corpus in {cache_file.parent}: {exc}",
                      stacklevel=3)
