"""MIDI ingestion speed: mido's bare parse vs seqgen's full encode vs the cached reload.

Measured side by side in one process, interleaved, median of the repetitions:

- bare parse: ``mido.MidiFile(path)`` for every file, one process (nothing else);
- full encode: ``load_corpus`` with an empty cache: parse, tick-to-second conversion,
  note pairing and tokenising, in seqgen's worker processes, then writing the cache;
- encode, one process: the same per-file work (``read_file_job``, with the codec
  ``load_corpus`` reads the corpus with) with no worker pool, for comparison;
- cached reload: ``load_corpus`` again: hash the files, read the cache.

Targets: full encode <= 1.5 x bare parse; cached reload >= 50 x faster than full encode.
Run alone (other busy processes distort the numbers): python -m benchmarks.midi_ingest
The smoke size (``--quick``): the corpus's first 24 files, one repetition.
"""

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import mido

from benchmarks.common import CHORALES, first_files, timed
from seqgen.data.corpus import load_corpus
from seqgen.data.declaration import corpus_files
from seqgen.data.workers import read_file_job


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.midi_ingest",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=CHORALES, type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="the smoke size: the first 24 files, one repetition")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        corpus = first_files(args.corpus, 24, Path(folder)) if args.quick else args.corpus
        measure(corpus, 1 if args.quick else args.repeats)


def measure(corpus: Path, repeats: int) -> None:
    """Time the four ways of reading ``corpus``, interleaved, and print their medians."""
    with tempfile.TemporaryDirectory() as cache:  # not timed: the codec, and a warm disk cache
        codec = load_corpus(corpus, cache_dir=Path(cache)).codec
    files = corpus_files(corpus, codec.suffixes)
    times: dict[str, list[float]] = {"bare parse": [], "full encode": [],
                                     "encode, one process": [], "cached reload": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            times["bare parse"].append(timed(lambda: [mido.MidiFile(f) for f in files]))
            times["full encode"].append(
                timed(lambda: load_corpus(corpus, cache_dir=Path(cache))))
            times["cached reload"].append(
                timed(lambda: load_corpus(corpus, cache_dir=Path(cache))))
            times["encode, one process"].append(
                timed(lambda: [read_file_job((f, codec, None)) for f in files]))
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"{len(files)} files from {corpus}, {os.cpu_count()} CPUs, "
          f"median of {repeats} interleaved runs")
    for name, seconds in median.items():
        print(f"  {name:<20} {seconds * 1000:9.1f} ms   runs: "
              + ", ".join(f"{t * 1000:.0f}" for t in times[name]))
    encode_ratio = median["full encode"] / median["bare parse"]
    reload_speedup = median["full encode"] / median["cached reload"]
    print(f"full encode / bare parse    = {encode_ratio:.2f}  (target <= 1.5)")
    print(f"one-process encode / bare parse = "
          f"{median['encode, one process'] / median['bare parse']:.2f}")
    print(f"full encode / cached reload = {reload_speedup:.0f}x (target >= 50)")


if __name__ == "__main__":
    main()
