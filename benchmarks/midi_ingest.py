"""MIDI ingestion speed: mido's bare parse vs seqgen's full encode vs the cached reload.

Measured side by side in one process, interleaved, median of the repetitions:

- bare parse: ``mido.MidiFile(path)`` for every file, one process (nothing else);
- full encode: ``load_midi_corpus`` with an empty cache: parse, tick-to-second conversion,
  note pairing and tokenising, in seqgen's worker processes, then writing the cache;
- encode, one process: the same per-file work with no worker pool (for comparison);
- cached reload: ``load_midi_corpus`` again: hash the files, read the cache.

Targets: full encode <= 1.5 x bare parse; cached reload >= 50 x faster than full encode.
Run alone (other busy processes distort the numbers): python benchmarks/midi_ingest.py
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import mido

from seqgen.data.corpus import find_files, load_midi_corpus, read_file_job
from seqgen.data.midi import MidiCodec

ROOT = Path(__file__).resolve().parent.parent


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=ROOT / "corpora" / "bach-chorales", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    files = find_files(args.corpus, (".mid", ".midi"))
    codec = MidiCodec()
    times: dict[str, list[float]] = {"bare parse": [], "full encode": [],
                                     "encode, one process": [], "cached reload": []}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            times["bare parse"].append(timed(lambda: [mido.MidiFile(f) for f in files]))
            times["full encode"].append(
                timed(lambda: load_midi_corpus(args.corpus, cache_dir=Path(cache))))
            times["cached reload"].append(
                timed(lambda: load_midi_corpus(args.corpus, cache_dir=Path(cache))))
            times["encode, one process"].append(
                timed(lambda: [read_file_job((f, codec)) for f in files]))
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"{len(files)} files from {args.corpus}, {os.cpu_count()} CPUs, "
          f"median of {args.repeats} interleaved runs")
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
