"""Files a codec reads (MIDI, ABC...), read in parallel worker processes.

Each file is read by one job, ``read_file_job``, as an item (``FileCodec.read``) or as a pair
of tracks (``FileCodec.read_pair``, given the source's track): its token arrays and statistics,
or the reason it cannot be used. ``read_files`` runs the jobs in a pool (one process for a
few files) and yields the results in order as they arrive, telling a ``FileProgress``.
"""

import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from seqgen.data.codecs.base import CodecFileError, FileCodec


class FileProgress(Protocol):
    """Told how far reading a corpus has got: files read, or bytes of text encoded."""

    def __call__(self, done: int, total: int, unit: str = "files") -> None: ...


FileResult = tuple[tuple[np.ndarray, ...], dict[str, float]] | str
"""A file's token arrays (one, or a pair's source and target) and statistics, or why it
cannot be used."""


def file_token_dtype(codec: FileCodec) -> np.dtype:
    """The type of a file codec's tokens in the cache."""
    return np.dtype(np.int16 if codec.size < 2**15 else np.int32)


def read_file_job(job: tuple[Path, FileCodec, str | None]) -> FileResult:
    """Worker: what a file holds for ``job = (path, codec, source_track)``: with no
    ``source_track``, its tokens as one item; with one, the tokens of that track and of the
    others merged, as a pair. Each with the file's statistics, or the reason the file cannot
    be used."""
    path, codec, source_track = job
    try:
        if source_track is None:
            tokens, stats = codec.read(path)
            arrays = (tokens,)
        else:
            source, target, stats = codec.read_pair(path, source_track)
            arrays = (source, target)
    except CodecFileError as exc:
        return str(exc)
    dtype = file_token_dtype(codec)
    return tuple(a.numpy().astype(dtype) for a in arrays), stats


def read_files(files: list[Path], codec: FileCodec, progress: FileProgress | None,
               source_track: str | None = None) -> Iterator[FileResult]:
    """Read files in parallel worker processes (``read_file_job``: as items, or as pairs
    with ``source_track``): the results in order, as they arrive, reporting progress per
    file."""
    jobs = [(f, codec, source_track) for f in files]
    workers = min(len(files) // 8, os.cpu_count() or 1)  # a few files are not worth a pool
    with ExitStack() as stack:
        if workers > 1:
            pool = stack.enter_context(ProcessPoolExecutor(
                workers, initializer=torch.set_num_threads, initargs=(1,)))
            mapped = pool.map(read_file_job, jobs, chunksize=4)
        else:
            mapped = map(read_file_job, jobs)
        for done, result in enumerate(mapped, 1):
            if progress:
                progress(done, len(files))
            yield result
