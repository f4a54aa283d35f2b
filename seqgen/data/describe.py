"""What a corpus holds, in words: the rows ``seqgen corpus inspect`` shows.

Each kind of corpus describes itself (``describe(val_fraction, batch_size, seq_len)``: a
stream, items, pairs) from the rows here that they share: its files and size, the files
skipped and why, the codec's statistics, how many tokens each item has, and whether it came
from the cache.
"""

from collections import Counter
from pathlib import Path

import torch
from torch import Tensor

from seqgen.data.cache import relative_name

Rows = list[tuple[str, str]]  # (name, value), in the order shown


def files_row(files: list[Path], root: Path | None = None, shown: int = 5) -> tuple[str, str]:
    """How many files were read, and with the folder ``root``, the first few of them."""
    if root is None:
        return "files", f"{len(files)} read"
    names = ", ".join(relative_name(f, root) for f in files[:shown])
    more = f" and {len(files) - shown} more" if len(files) > shown else ""
    return "files", f"{len(files)} read: {names}{more}"


def size_row(num_bytes: int) -> tuple[str, str]:
    return "size", f"{num_bytes:,} bytes"


def invalid_row(invalid_bytes: int) -> tuple[str, str]:
    return "invalid UTF-8", f"{invalid_bytes} byte sequences replaced"


def cache_row(from_cache: bool) -> tuple[str, str]:
    return "encoding", "from the cache" if from_cache else "encoded now and cached"


def token_counts(pieces: list[Tensor], per: str, mean: bool = True) -> str:
    """``"12,345; per item: min 3, median 40, mean 41, max 90"`` (``per`` names a piece)."""
    lengths = torch.tensor([p.numel() for p in pieces], dtype=torch.float)
    stats = [("min", lengths.min()), ("median", lengths.median()),
             *([("mean", lengths.mean())] if mean else []), ("max", lengths.max())]
    return f"{sum(p.numel() for p in pieces):,}; per {per}: " + ", ".join(
        f"{name} {value:.0f}" for name, value in stats)


SHOWN_DETAILS = 8  # of the details of one reason, gathered from many files


def summarize_skipped(skipped: list[tuple[str, str]]) -> str:
    """``"3 skipped (2 truncated file, 1 no notes)"``: one short line however many files.

    A reason's detail, after ``"; "`` (``"no track 'S'; tracks with notes: 1 'Alto', 2
    'Bass'"``), differs from file to file: the files of one reason are counted together, and
    the items of their details (``"LABEL: a, b"``) gathered, the commonest first, at most
    ``SHOWN_DETAILS`` of them."""
    if not skipped:
        return "none skipped"
    items: dict[tuple[str, str], Counter] = {}  # by (reason, label of its details)
    files: Counter = Counter()
    details: dict[tuple[str, str], set[str]] = {}
    for _, reason in skipped:
        head, _, detail = reason.partition("; ")
        label, colon, listed = detail.rpartition(": ") if ": " in detail else ("", "", detail)
        key = (head, label)
        files[key] += 1
        details.setdefault(key, set()).add(detail)
        items.setdefault(key, Counter()).update(listed.split(", ") if colon else [listed])
    reasons = []
    for key, n in files.most_common():
        head, label = key
        found = [item for item, _ in items[key].most_common() if item]
        shown = ", ".join(found[:SHOWN_DETAILS]) + (
            f" and {len(found) - SHOWN_DETAILS} more" if len(found) > SHOWN_DETAILS else "")
        if label:
            shown = f"{label}{' include' if len(details[key]) > 1 else ''}: {shown}"
        reasons.append(f"{n} {head}" + (f"; {shown}" if found else ""))
    return f"{len(skipped)} skipped ({', '.join(reasons)})"


def describe_stat(name: str, value: float) -> tuple[str, str]:
    """A row of a codec's statistic summed over a corpus (notes, seconds)."""
    if name == "seconds":
        return "duration", f"{value / 3600:.2f} hours ({value:,.0f} s)"
    return name, f"{value:,.0f}"
