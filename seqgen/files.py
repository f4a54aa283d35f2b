"""Files seqgen reads and writes.

Everything seqgen reads back (JSON, JSON lines, safetensors) goes through one reader here that
turns a missing or damaged file into a one-line error naming it; every output path is checked
before the work that fills it starts; files are written whole or not at all. No torch at import.
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from seqgen.errors import SeqgenError, UsageError

if TYPE_CHECKING:
    from torch import Tensor


class Record(dict):
    """A JSON object read from a file: a missing key is an error naming the file and the key."""

    def __init__(self, data: object = (), path: Path | None = None) -> None:
        super().__init__(data)
        self.path = path

    def __missing__(self, key: str) -> object:
        if self.path is None:  # a copy (dataclasses.asdict makes them)
            raise KeyError(key)
        raise SeqgenError(f"{self.path} is damaged: it has no {key!r}")


def read_json(path: Path) -> Record:
    """A JSON object from a file; missing, unreadable or not an object: a one-line error."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f, object_hook=lambda obj: Record(obj, path))
    except FileNotFoundError:
        raise SeqgenError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SeqgenError(f"{path} is damaged: not readable JSON ({exc})") from None
    if not isinstance(data, Record):
        raise SeqgenError(f"{path} is damaged: not a JSON object")
    return data


def read_json_lines(path: Path) -> Iterator[Record]:
    """The JSON objects of a JSON-lines file (a line cut short by a crash is skipped)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise SeqgenError(f"cannot read {path}: {exc.strerror or exc}") from None
    for line in text.splitlines():
        try:
            record = json.loads(line, object_hook=lambda obj: Record(obj, path))
        except ValueError:
            continue
        if isinstance(record, Record):
            yield record


def read_tensors(path: Path) -> dict[str, Tensor]:
    """The tensors of a safetensors file; missing or damaged: a one-line error."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise SeqgenError(f"{path} is missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise SeqgenError(f"{path} is damaged: {first_line(exc)}") from None


def json_value(value: object) -> object:
    """A value made JSON-safe: NaN becomes None, in lists too."""
    if isinstance(value, list):
        return [json_value(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def first_line(exc: BaseException) -> str:
    """An exception's message, first line only (or its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---- writing ---------------------------------------------------------------------------------


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable_folder(folder: Path, flag: str) -> None:
    """``folder`` is (or can be made) a writable folder; else a usage error naming ``flag``."""
    existing = nearest_existing(folder)
    if not existing.is_dir():
        raise UsageError(f"{flag} {folder}: {existing} is a file, not a folder; "
                         f"choose another {flag}")
    try:  # the real test: root may "access" a folder it cannot create files in (/proc)
        os.rmdir(tempfile.mkdtemp(prefix=".seqgen-probe-", dir=existing))
    except OSError:
        raise UsageError(f"{flag} {folder}: cannot write in {existing}; choose another "
                         f"{flag}") from None


def prepare_output_file(path: Path, flag: str, force: bool = True) -> Path:
    """Before any work: ``path`` can be written (not a folder; an existing file only with
    ``force``), its folder made if missing. Returns ``path``."""
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; give a file name")
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it or choose another {flag}")
    make_folder(path.parent, flag)
    return path


def make_folder(folder: Path, flag: str) -> Path:
    """Make an output folder (and its parents), or a usage error naming ``flag``."""
    check_writable_folder(folder, flag)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{flag} {folder}: cannot make the folder ({exc.strerror})") from None
    return folder


class NoSpaceLeft(SeqgenError):
    """The disk filled up while seqgen wrote to it; what it was writing has been removed."""


def out_of_space(exc: BaseException) -> bool:
    """Whether an error says the disk is full: an OSError, or an error of a library that writes
    for itself (safetensors, fluidsynth) whose message carries the system's."""
    return getattr(exc, "errno", None) == errno.ENOSPC or os.strerror(errno.ENOSPC) in str(exc)


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix) to write; it replaces ``path`` when
    the block ends normally and is removed when the block raises (a full disk: NoSpaceLeft,
    naming the folder)."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except Exception as exc:
        if isinstance(exc, NoSpaceLeft) or not out_of_space(exc):
            raise
        raise no_space_left(path) from exc
    finally:
        tmp.unlink(missing_ok=True)


def no_space_left(path: Path) -> NoSpaceLeft:
    """The error of a file that did not fit on its disk."""
    return NoSpaceLeft(f"no space left in {path.parent} to write {path.name}: free some space "
                       "there, or write elsewhere")


def append_text(path: Path, text: str) -> None:
    """Append to a log (a line a crash cuts short is skipped when it is read); a full disk:
    NoSpaceLeft, naming the folder."""
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        if not out_of_space(exc):
            raise
        raise no_space_left(path) from None


def write_text(path: Path, text: str) -> None:
    """Write a text file whole or not at all."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
