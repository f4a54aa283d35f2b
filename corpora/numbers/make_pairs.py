"""Write corpora/numbers/pairs.tsv: numbers in digits -> the number written out in words.

Each line is ``LANG DIGITS<TAB>WORDS``, e.g. ``de 4721<TAB>viertausendsiebenhunderteinundzwanzig``,
written out by num2words. For each language, every number from 1 to 100 and a sample of
distinct numbers from each band above (``BANDS``); the small numbers are all in the training
part, so the model learns each irregular word as itself. The validation part, the last 10% of
the lines (seqgen's default ``--val-fraction``), is a fixed number of numbers above 100 per
language and band, drawn apart from the training ones; each part is shuffled with the one
seed. Prints the figures SOURCE.md records.

Not part of seqgen: it needs ``pip install num2words==0.5.14`` (seqgen does not depend on it).
Run from the repository root: ``python corpora/numbers/make_pairs.py``.
"""

import hashlib
import random
import statistics
from importlib.metadata import version
from pathlib import Path

import num2words

LANGUAGES = ("de", "en", "es", "fr")
# (lowest, highest, numbers for training, numbers held out) in each language. Zero is left
# out: one pair per language could not be learnt from the others.
BANDS = ((1, 9, 9, 0), (10, 99, 90, 0), (100, 100, 1, 0), (101, 999, 500, 100),
         (1000, 9999, 3000, 300))
SEED = 15
VALIDATION_SHARE = 0.1  # seqgen's default --val-fraction: the last 10% of the lines
OUT = Path(__file__).with_name("pairs.tsv")

Pair = tuple[str, int, str, str]  # (language, number, source, target)


def band_name(lowest: int, highest: int) -> str:
    return str(lowest) if lowest == highest else f"{lowest}-{highest}"


def words(language: str, number: int) -> Pair:
    written = num2words.num2words(number, lang=language)
    if written != written.lower() or "\t" in written or "\n" in written:
        raise ValueError(f"{language} {number}: unexpected words {written!r}")
    return language, number, f"{language} {number}", written


def make_pairs(rng: random.Random) -> tuple[list[Pair], list[Pair]]:
    """(training, validation) pairs: in each language and band, distinct numbers drawn
    together, the first for training and the rest held out; each part shuffled."""
    training, validation = [], []
    for language in LANGUAGES:
        for lowest, highest, train, held in BANDS:
            numbers = rng.sample(range(lowest, highest + 1), train + held)
            training += [words(language, n) for n in numbers[:train]]
            validation += [words(language, n) for n in numbers[train:]]
    rng.shuffle(training)
    rng.shuffle(validation)
    if len(validation) != round((len(training) + len(validation)) * VALIDATION_SHARE):
        raise ValueError("the held-out pairs are not the last 10% of the lines")
    return training, validation


def band_table(training: list[Pair], validation: list[Pair]) -> str:
    """Markdown: pairs per band, for training and validation, and their target lengths."""
    rows = ["| numbers | of the band | training pairs (per language) | validation pairs (per "
            "language) | target length min / mean / max |", "| --- | ---: | ---: | ---: | ---: |"]
    for lowest, highest, train, held in BANDS:
        chosen = [p for p in training + validation if lowest <= p[1] <= highest]
        targets = [len(p[3]) for p in chosen]
        share = (train + held) / (highest - lowest + 1)
        rows.append(f"| {band_name(lowest, highest)} | {share:.0%} | {4 * train:,} ({train:,}) "
                    f"| {4 * held:,} ({held:,}) | {min(targets)} / "
                    f"{statistics.mean(targets):.1f} / {max(targets)} |")
    return "\n".join(rows)


def length_table(pairs: list[Pair]) -> str:
    """Markdown: source and target lengths (characters) per language."""
    rows = ["| language | pairs | source length min / mean / max | target length min / mean "
            "/ max | target / source |", "| --- | ---: | ---: | ---: | ---: |"]
    for language in (*LANGUAGES, None):
        chosen = [p for p in pairs if language in (None, p[0])]
        sources = [len(p[2]) for p in chosen]
        targets = [len(p[3]) for p in chosen]
        ratio = statistics.mean(t / s for s, t in zip(sources, targets, strict=True))
        rows.append(f"| {language or 'all'} | {len(chosen):,} | {min(sources)} / "
                    f"{statistics.mean(sources):.1f} / {max(sources)} | {min(targets)} / "
                    f"{statistics.mean(targets):.1f} / {max(targets)} | {ratio:.2f} |")
    return "\n".join(rows)


def spread_table(pairs: list[Pair]) -> str:
    """Markdown: for each source length, the range of target lengths (lengths do not align)."""
    rows = ["| source length | pairs | target length min / mean / max |", "| ---: | ---: | ---: |"]
    for length in sorted({len(p[2]) for p in pairs}):
        targets = [len(p[3]) for p in pairs if len(p[2]) == length]
        rows.append(f"| {length} | {len(targets):,} | {min(targets)} / "
                    f"{statistics.mean(targets):.1f} / {max(targets)} |")
    return "\n".join(rows)


def main() -> None:
    training, validation = make_pairs(random.Random(SEED))
    pairs = training + validation
    text = "".join(f"{source}\t{target}\n" for _, _, source, target in pairs)
    OUT.write_text(text, encoding="utf-8")
    print(f"num2words {version('num2words')}, "
          f"seed {SEED}: {len(pairs):,} pairs, {len(text.encode()):,} bytes, sha256 "
          f"{hashlib.sha256(text.encode()).hexdigest()}")
    print(f"the last {len(validation):,} lines (validation), per language: "
          f"{ {language: sum(p[0] == language for p in validation) for language in LANGUAGES} }")
    print(f"characters: {''.join(sorted(set(text) - {chr(9), chr(10)}))!r}\n")
    print(band_table(training, validation) + "\n")
    print(length_table(pairs) + "\n")
    print(spread_table(pairs))


if __name__ == "__main__":
    main()
