"""What a corpus is before it is read: its folder's declaration (``seqgen.json``), its files,
and the format and items they are read as where nothing declares them.

A folder's ``seqgen.json`` may declare its ``format`` with the format's ``codec_options``,
``items`` and ``label_from``; a corpus of pairs also ``files``, ``source_track`` and
``shared_vocab``. What it leaves open comes from the files: the format is the registered codec
whose suffixes they have (a text codec for a file of no format's suffix), the items are
``lines`` when every file is a list of short lines, else one ``stream``.
"""

import re
from pathlib import Path

from seqgen.data.codecs.base import Codec, TextCodec, codecs, get_codec
from seqgen.errors import UsageError
from seqgen.files import read_json
from seqgen.plugins import install_hint

DECLARATION = "seqgen.json"  # a corpus folder's own settings
PAIR_SUFFIXES = (".tsv", ".csv")  # files of text pairs, for an encoder-decoder


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


# ---- files, format and items -----------------------------------------------------------------


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
        text_formats = [n for n, spec in codecs().items() if spec.cls.reads_text]
        return (matches or text_formats)[0]
    found = [name for name, suffixes in formats.items() if find_files(path, suffixes)]
    if len(found) > 1:
        raise UsageError(f"{path} mixes {' and '.join(found)} files; put them in separate "
                         f"folders or choose one with --format {'|'.join(found)}")
    if not found:
        unread = {file.suffix.lower() for file in path.rglob("*") if file.is_file()}
        raise UsageError(f"no {all_suffixes} files in {path}"
                         f"{pairs_hint(path) or install_hint(unread)}")
    return found[0]


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


# ---- a file read as text because nothing said what it is -------------------------------------

HEAD_BYTES = 1 << 16  # of each file, looked at to tell what it holds
NOT_TEXT_SHARE = 0.25  # a file with a larger share of bytes that are no text is no text
PAIRS_SHARE = 0.95  # a file with at least this share of lines of one TAB looks like pairs
CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # control characters, less whitespace


def check_detected_text(path: Path, suffixes: tuple[str, ...]) -> None:
    """A corpus read as text because no format was given or declared: stop where a file does
    not look like text (a binary file) or looks like the pairs of an encoder-decoder."""
    for file in corpus_files(path, suffixes):
        head = read_head(file)
        check_text_bytes(file, head)
        check_not_pairs(file, head.decode("utf-8", errors="replace"))


def not_text_share(data: bytes) -> float:
    """The share of ``data``'s bytes that are not text: invalid UTF-8 and control characters
    (tab, newline, carriage return, vertical tab and form feed are text)."""
    text = data.decode("utf-8", errors="replace")
    return (text.count("\ufffd") + len(CONTROL.findall(text))) / len(data) if data else 0.0


def check_text_bytes(file: Path, head: bytes) -> None:
    share = not_text_share(head)
    if share > NOT_TEXT_SHARE:
        raise UsageError(f"{file} does not look like text: {share:.0%} of its first "
                         f"{len(head):,} bytes are invalid UTF-8 or control characters; give "
                         "--format char to train on it as characters anyway")


def tab_lines_share(text: str) -> float:
    """The share of a text's non-blank lines (at least two) with exactly one TAB; 0 for less."""
    lines = [line for line in text.split("\n") if line.strip()]
    return sum(line.count("\t") == 1 for line in lines) / len(lines) if len(lines) > 1 else 0.0


def pairs_hint(folder: Path) -> str:
    """For a folder with no file of any format: ``; it holds pairs ...`` where its .tsv or
    .csv files hold what an encoder-decoder trains on (``--arch encoder-decoder``), else ""."""
    files = find_files(folder, PAIR_SUFFIXES)
    pairs = [file for file in files if file.suffix.lower() == ".csv" or looks_like_pairs(
        read_head(file).decode("utf-8", errors="replace"))]
    if not pairs:
        return ""
    shown = ", ".join(str(file.relative_to(folder)) for file in pairs[:3])
    more = f" and {len(pairs) - 3} more" if len(pairs) > 3 else ""
    return (f"; it holds pairs ({shown}{more}: lines of a source and its target): train an "
            "encoder-decoder on them with --arch encoder-decoder")


def read_head(file: Path) -> bytes:
    with open(file, "rb") as f:
        return f.read(HEAD_BYTES)


def looks_like_pairs(text: str) -> bool:
    """Whether a text's lines are (nearly) all source<TAB>target."""
    return tab_lines_share(text) >= PAIRS_SHARE


def check_not_pairs(file: Path, text: str) -> None:
    if (share := tab_lines_share(text)) >= PAIRS_SHARE:
        raise UsageError(f"{file} looks like pairs ({share:.0%} of its lines are "
                         "source<TAB>target): train an encoder-decoder on them with --arch "
                         "encoder-decoder, or give --format char to train a character model "
                         "of the file anyway")
