"""The corpus cache: where a corpus's encoding is kept, and the file format it is kept in.

A corpus is encoded once; the result is a cache file keyed on the codec, its options and the
contents of the corpus's files, and read back memory-mapped, so a second load costs a hash
(or less: an index of file names, sizes and times maps to the key) and a large corpus is
never read whole.
"""

import hashlib
import io
import json
import math
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from numpy.typing import DTypeLike
from torch import Tensor

from seqgen.data.batching import register_file_backed
from seqgen.files import NoSpaceLeft, atomic_write

HASH_BLOCK_BYTES = 4 << 20  # how much of a file is hashed at a time


def default_cache_dir() -> Path:
    if "SEQGEN_CACHE_DIR" in os.environ:
        return Path(os.environ["SEQGEN_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "seqgen"


def content_key(kind: str, path: Path, files: list[Path]) -> str:
    """A cache key from the codec settings and every file's name and bytes (read in chunks)."""
    key = hashlib.sha256(kind.encode())
    for file in files:
        key.update(f"\0{relative_name(file, path)}\0{file.stat().st_size}\0".encode())
        with open(file, "rb") as f:
            while block := f.read(HASH_BLOCK_BYTES):
                key.update(block)
    return key.hexdigest()


@dataclass
class CacheLookup:
    """Where a corpus's encoding is cached, and the size of its files."""

    cache_file: Path
    num_bytes: int


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
            return CacheLookup(cache_file, num_bytes)
    except OSError:
        pass
    key = content_key(kind, path, files)
    try:
        index.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(index) as tmp:
            tmp.write_text(key, encoding="ascii")
    except (OSError, NoSpaceLeft):
        pass  # no index: the next load hashes the contents again
    return CacheLookup(cache_path(cache_dir, key), num_bytes)


@dataclass
class Cached:
    """A corpus's encoding: its tensors and metadata, the size of its files, and whether it
    came from the cache."""

    tensors: dict[str, Tensor]
    meta: dict
    num_bytes: int
    from_cache: bool


def cached(kind: str, path: Path, files: list[Path], cache_dir: Path | None,
           encode: Callable[[Path], "CacheContents"]) -> Cached:
    """A corpus's encoding from its cache file, or ``encode(cache_file)`` (which writes it)."""
    lookup = locate_cache(kind, path, files, cache_dir)
    contents = read_cache(lookup.cache_file)
    from_cache = contents is not None
    tensors, meta = contents if from_cache else encode(lookup.cache_file)
    return Cached(tensors, meta, lookup.num_bytes, from_cache)


def relative_name(file: Path, root: Path) -> str:
    return str(file.relative_to(root)) if file != root else file.name


# ---- the cache -------------------------------------------------------------------------------
#
# A cache file is a safetensors file: the size of a JSON header, the header (each tensor's type,
# shape and place), then the tensors' bytes one after another. The last tensor, ``meta``, is the
# corpus's metadata as UTF-8 JSON (the codec, files used and skipped...). So a cache is written
# as it is made: tensors appended (a stream's ids chunk by chunk, MIDI pieces as they arrive),
# then the metadata, then the header, whose numbers alone were unknown, into room kept for it at
# the start (the JSON padded with spaces, as safetensors allows).


def cache_path(cache_dir: Path | None, key: str) -> Path:
    return (cache_dir or default_cache_dir()) / f"{key}.safetensors"


SAFETENSORS_DTYPES = {"U8": np.uint8, "I16": np.int16, "I32": np.int32, "I64": np.int64}
DTYPE_NAMES = {np.dtype(t): name for name, t in SAFETENSORS_DTYPES.items()}
CacheContents = tuple[dict[str, Tensor], dict]  # tensors and metadata
ArrayAt = Callable[[np.dtype, int, int], np.ndarray]  # (dtype, file offset, count) -> array


def cache_header(tensors: dict[str, tuple[np.dtype, int]]) -> bytes:
    """The JSON header of 1-d tensors of these types and lengths, stored in this order."""
    header, offset = {}, 0
    for name, (dtype, count) in tensors.items():
        end = offset + dtype.itemsize * count
        header[name] = {"dtype": DTYPE_NAMES[dtype], "shape": [count],
                        "data_offsets": [offset, end]}
        offset = end
    return json.dumps(header, separators=(",", ":")).encode()


class CacheWriteError(Exception):
    """A cache file could not be written; the ``OSError`` is its cause."""


@contextmanager
def writing_cache() -> Iterator[None]:
    """Turn an ``OSError`` (a full disk too) into a ``CacheWriteError`` (reading a corpus may
    raise the former)."""
    try:
        yield
    except OSError as exc:
        raise CacheWriteError(exc) from exc
    except NoSpaceLeft as exc:  # the system's own error says it best
        raise CacheWriteError(exc.__cause__ or exc) from exc.__cause__ or exc


class CacheWriter:
    """A cache written as it is made, into a temporary file renamed into place by ``finish``
    (the file is removed if anything fails first: a crash leaves no half cache), or into
    memory when ``cache_file`` is None. Tensors are appended in the order of ``dtypes``, each
    in as many pieces as wanted."""

    def __init__(self, cache_file: Path | None, dtypes: dict[str, DTypeLike]) -> None:
        self.cache_file = cache_file
        self.tensors = {name: (np.dtype(d), 0) for name, d in {**dtypes, "meta": np.uint8}.items()}
        self.current = 0  # the tensor being appended to
        widest = cache_header({name: (d, 10**18) for name, (d, _) in self.tensors.items()})
        self.room = -(-(8 + len(widest)) // 8) * 8  # for any real header, 8-byte aligned
        self.stack = ExitStack()
        self.file: BinaryIO = io.BytesIO()  # unless __enter__ opens the file

    def __enter__(self) -> "CacheWriter":
        if self.cache_file is not None:
            with writing_cache(), ExitStack() as stack:
                self.cache_file.parent.mkdir(parents=True, exist_ok=True)
                self.file = stack.enter_context(open(stack.enter_context(
                    atomic_write(self.cache_file)), "w+b"))
                self.stack = stack.pop_all()
        self.file.seek(self.room)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stack.__exit__(*exc_info)

    def append(self, name: str, values: np.ndarray | Tensor) -> None:
        """Append ``values`` to the tensor ``name``; the tensors before it are complete."""
        position = list(self.tensors).index(name)
        if position < self.current:
            raise ValueError(f"the cache's {name!r} is complete")
        self.current = position
        dtype, count = self.tensors[name]
        data = np.ascontiguousarray(values, dtype)
        with writing_cache():
            self.file.write(data.data)
        self.tensors[name] = (dtype, count + data.size)

    def finish(self, meta: dict) -> CacheContents:
        """Write the metadata and the header: the cache's contents, memory-mapped from the
        cache file (or in memory)."""
        self.append("meta", np.frombuffer(json.dumps(meta).encode(), np.uint8))
        header = cache_header(self.tensors).ljust(self.room - 8)
        with writing_cache():
            self.file.seek(0)
            self.file.write(len(header).to_bytes(8, "little") + header)
            if self.cache_file is None:
                buffer = self.file.getbuffer()
                return parse_cache(self.file, lambda dtype, offset, count: np.frombuffer(
                    buffer, dtype, count, offset))
            self.stack.close()  # closes the file and renames it into place
            return map_cache(self.cache_file)


def write_cache(cache_file: Path, dtypes: dict[str, DTypeLike],
                fill: Callable[[CacheWriter], dict]) -> CacheContents:
    """The tensors ``fill`` appends to a ``CacheWriter`` (it returns the metadata), written to
    ``cache_file`` as they come and read back memory-mapped. Where the cache cannot be written
    (a warning), ``fill`` runs again to keep them in memory."""
    try:
        with CacheWriter(cache_file, dtypes) as writer:
            return writer.finish(fill(writer))
    except CacheWriteError as exc:
        warnings.warn(f"could not cache the encoded corpus in {cache_file.parent}: "
                      f"{exc.__cause__}; it is kept in memory", stacklevel=3)
    with CacheWriter(None, dtypes) as writer:
        return writer.finish(fill(writer))


def read_cache(cache_file: Path) -> CacheContents | None:
    """Tensors (memory-mapped, so a large corpus is never read whole) and metadata of a cache
    file, or None when it is missing or damaged."""
    try:
        return map_cache(cache_file)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def map_cache(cache_file: Path) -> CacheContents:
    with open(cache_file, "rb") as f:
        return parse_cache(f, lambda dtype, offset, count: np.memmap(
            cache_file, dtype, "c", offset, (count,)))  # copy-on-write: pages load lazily


def parse_cache(f: BinaryIO, array_at: ArrayAt) -> CacheContents:
    """The tensors (as ``array_at`` gives them) and metadata of an open cache file; nothing is
    mapped unless the whole header checks out."""
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    header_size = int.from_bytes(f.read(8), "little")
    if not 0 < header_size < size:
        raise ValueError("not a cache file")
    header = json.loads(f.read(header_size))
    places = {name: tensor_place(info, 8 + header_size, size) for name, info in header.items()}
    _, offset, length = places.pop("meta")
    f.seek(offset)
    meta = json.loads(f.read(length))
    return {name: as_tensor(array_at(dtype, offset, count) if count else np.zeros(0, dtype),
                            offset) for name, (dtype, offset, count) in places.items()}, meta


def tensor_place(info: dict, start: int, size: int) -> tuple[np.dtype, int, int]:
    """A tensor's type, offset in the file and length, from its header entry."""
    (begin, end), dtype = info["data_offsets"], np.dtype(SAFETENSORS_DTYPES[info["dtype"]])
    count = math.prod(info["shape"])
    if end - begin != dtype.itemsize * count or start + end > size:
        raise ValueError("a tensor does not fit the file")
    return dtype, start + begin, count


def as_tensor(array: np.ndarray, offset: int) -> Tensor:
    """A tensor of a cache's array; a mapped one is noted as file-backed (``read_rows``), an
    unaligned one (a small tensor after an odd-sized one) copied."""
    if not array.flags.aligned:
        return torch.from_numpy(array.copy())
    tensor = torch.from_numpy(array)
    if isinstance(array, np.memmap):
        register_file_backed(tensor, str(array.filename), offset)
    return tensor
