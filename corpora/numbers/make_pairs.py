"""Write corpora/numbers/pairs.tsv: numbers in digits -> the number written out in words.

Each line is ``LANG DIGITS<TAB>WORDS``, e.g. ``de 4721<TAB>viertausendsiebenhunderteinundzwanzig``:
for each language a random sample of distinct numbers from 1 to 9999, written out by
num2words; the lines of all languages shuffled together with one seed, so the last 10% (the
validation split) is a random sample too. Prints the figures SOURCE.md records.

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
LOWEST, HIGHEST = 1, 9999  # zero is left out: one pair per language could not be learnt
PER_LANGUAGE = 4000
SEED = 15
VALIDATION_SHARE = 0.1
OUT = Path(__file__).with_name("pairs.tsv")


def make_pairs(rng: random.Random) -> list[tuple[str, str, str]]:
    """(language, source, target) for a sample of distinct numbers in each language."""
    pairs = []
    for language in LANGUAGES:
        for number in rng.sample(range(LOWEST, HIGHEST + 1), PER_LANGUAGE):
            words = num2words.num2words(number, lang=language)
            if words != words.lower() or "\t" in words or "\n" in words:
                raise ValueError(f"{language} {number}: unexpected words {words!r}")
            pairs.append((language, f"{language} {number}", words))
    rng.shuffle(pairs)
    return pairs


def length_table(pairs: list[tuple[str, str, str]]) -> str:
    """Markdown: source and target lengths (characters) per language."""
    rows = ["| language | pairs | source length min / mean / max | target length min / mean "
            "/ max | target / source |", "| --- | ---: | ---: | ---: | ---: |"]
    for language in (*LANGUAGES, None):
        chosen = [p for p in pairs if language in (None, p[0])]
        sources = [len(p[1]) for p in chosen]
        targets = [len(p[2]) for p in chosen]
        ratio = statistics.mean(t / s for s, t in zip(sources, targets, strict=True))
        rows.append(f"| {language or 'all'} | {len(chosen):,} | {min(sources)} / "
                    f"{statistics.mean(sources):.1f} / {max(sources)} | {min(targets)} / "
                    f"{statistics.mean(targets):.1f} / {max(targets)} | {ratio:.2f} |")
    return "\n".join(rows)


def spread_table(pairs: list[tuple[str, str, str]]) -> str:
    """Markdown: for each source length, the range of target lengths (lengths do not align)."""
    rows = ["| source length | pairs | target length min / mean / max |", "| ---: | ---: | ---: |"]
    for length in sorted({len(p[1]) for p in pairs}):
        targets = [len(p[2]) for p in pairs if len(p[1]) == length]
        rows.append(f"| {length} | {len(targets):,} | {min(targets)} / "
                    f"{statistics.mean(targets):.1f} / {max(targets)} |")
    return "\n".join(rows)


def main() -> None:
    pairs = make_pairs(random.Random(SEED))
    text = "".join(f"{source}\t{target}\n" for _, source, target in pairs)
    OUT.write_text(text, encoding="utf-8")
    validation = round(len(pairs) * VALIDATION_SHARE)
    held_out = {language: sum(p[0] == language for p in pairs[-validation:])
                for language in LANGUAGES}
    print(f"num2words {version('num2words')}, "
          f"seed {SEED}: {len(pairs):,} pairs, {len(text.encode()):,} bytes, sha256 "
          f"{hashlib.sha256(text.encode()).hexdigest()}")
    print(f"last {validation:,} lines (validation) per language: {held_out}")
    print(f"characters: {''.join(sorted(set(text) - {chr(9), chr(10)}))!r}\n")
    print(length_table(pairs) + "\n")
    print(spread_table(pairs))


if __name__ == "__main__":
    main()
