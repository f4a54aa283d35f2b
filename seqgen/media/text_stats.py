"""Statistics of generated texts, and how far they are from a corpus: shared character and word
n-grams, known words and copies."""

import math
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from seqgen.data.corpus import load_corpus
from seqgen.data.declaration import find_files
from seqgen.errors import UsageError
from seqgen.files import json_value

# ---- text ------------------------------------------------------------------------------------

WORD = re.compile(r"\w+")
CHAR_NGRAMS = (1, 2, 3, 4)
WORD_NGRAMS = (1, 2, 3)
BLANK_LINE = re.compile(r"\n[ \t\r]*\n")


@dataclass(frozen=True)
class TextSetStats:
    """A set of text samples on its own. Words are ``\\w+`` runs, case kept; the type/token
    ratio is distinct words over words, pooled over all samples (NaN without words)."""

    samples: int
    mean_length: float  # characters per sample
    distinct_characters: int
    words: int
    type_token_ratio: float

    def to_json(self) -> dict:
        return {name: json_value(value) for name, value in asdict(self).items()}


def text_set_stats(samples: Sequence[str]) -> TextSetStats:
    words = [word for sample in samples for word in WORD.findall(sample)]
    return TextSetStats(
        samples=len(samples),
        mean_length=float(np.mean([len(s) for s in samples])) if samples else math.nan,
        distinct_characters=len(set().union(*samples)),
        words=len(words),
        type_token_ratio=len(set(words)) / len(words) if words else math.nan,
    )


@dataclass(frozen=True)
class TextComparison:
    """Text samples against a corpus.

    ``char_overlap[n]`` (n = 1..4) and ``word_overlap[n]`` (n = 1..3): the share of the
    samples' n-gram occurrences (within each sample, counted with repeats) that occur anywhere
    in the corpus; NaN when the samples have no n-gram of that size. ``word_overlap[1]`` is the
    share of the samples' words found in the corpus vocabulary; ``unknown_words`` are the
    distinct sample words that are not, in order of first appearance. ``copies``: samples
    with a non-space character that occur verbatim (as a substring) in the corpus text;
    ``item_copies``: samples equal to one of the corpus's items (lines or files), both
    stripped of surrounding whitespace, or None for a corpus that is one stream.
    """

    samples: TextSetStats
    char_overlap: dict[int, float]
    word_overlap: dict[int, float]
    unknown_words: list[str]
    copies: int
    item_copies: int | None

    def to_json(self) -> dict:
        return {
            "samples": self.samples.to_json(),
            "char_overlap": {str(n): json_value(v) for n, v in self.char_overlap.items()},
            "word_overlap": {str(n): json_value(v) for n, v in self.word_overlap.items()},
            "unknown_words": self.unknown_words,
            "copies": self.copies,
            "item_copies": self.item_copies,
        }


def text_stats(samples: Sequence[str], corpus_text: str,
               corpus_items: Sequence[str] | None = None) -> TextComparison:
    """Compare text samples with a corpus (see ``TextComparison``); ``corpus_items`` are its
    lines or files when it is a corpus of items.

    Cost: the sets of the corpus's distinct character 1- to 4-grams and word 1- to 3-grams are
    built, about a second and 40 MB of memory per megabyte of corpus: meant for corpora up to
    some tens of megabytes.
    """
    sample_words = [WORD.findall(sample) for sample in samples]
    corpus_words = WORD.findall(corpus_text)
    vocabulary = set(corpus_words)
    items = {item.strip() for item in corpus_items} if corpus_items is not None else None
    return TextComparison(
        samples=text_set_stats(samples),
        char_overlap={n: ngram_overlap([list(char_ngrams(s, n)) for s in samples],
                                       set(char_ngrams(corpus_text, n))) for n in CHAR_NGRAMS},
        word_overlap={n: ngram_overlap([list(word_ngrams(w, n)) for w in sample_words],
                                       set(word_ngrams(corpus_words, n))) for n in WORD_NGRAMS},
        unknown_words=list(dict.fromkeys(w for ws in sample_words for w in ws
                                         if w not in vocabulary)),
        copies=sum(bool(s.strip()) and s in corpus_text for s in samples),
        item_copies=None if items is None else sum(s.strip() in items for s in samples),
    )


def char_ngrams(text: str, n: int) -> Iterator[str]:
    return (text[i:i + n] for i in range(len(text) - n + 1))


def word_ngrams(words: Sequence[str], n: int) -> Iterator[tuple[str, ...]]:
    return zip(*(words[i:] for i in range(n)), strict=False)


def ngram_overlap(per_sample: list[list], corpus_ngrams: set) -> float:
    """The share of the samples' n-gram occurrences found in the corpus."""
    total = sum(len(ngrams) for ngrams in per_sample)
    found = sum(ngram in corpus_ngrams for ngrams in per_sample for ngram in ngrams)
    return found / total if total else math.nan


def read_text_samples(path: str | Path, items: bool = False) -> list[str]:
    """Text samples, each stripped of surrounding whitespace, empty ones dropped. A file: one
    sample per line with ``items``, else per block of lines between blank lines (as
    ``seqgen sample --out FILE`` writes them; a sample with blank lines of its own is then
    cut into blocks, so write such samples to a folder). A folder: one sample per .txt file
    under it."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path} not found: give a .txt file of samples or a folder of "
                         ".txt files, one sample each")
    if path.is_dir():
        texts = [file.read_text(encoding="utf-8", errors="replace")
                 for file in find_files(path, (".txt",))]
    else:
        text = path.read_text(encoding="utf-8", errors="replace")
        texts = text.split("\n") if items else BLANK_LINE.split(text)
    samples = [text.strip() for text in texts if text.strip()]
    if not samples:
        raise UsageError(f"no text samples in {path}: give a .txt file or a folder of .txt "
                         "files that hold some text")
    return samples


def read_text_corpus(path: str | Path) -> tuple[str, list[str] | None]:
    """A text corpus's text and, for a corpus of items, its items: read as training reads it
    (its ``seqgen.json`` or its files say whether it is lines, files or one stream)."""
    return load_corpus(path, "char").decoded()


# ---- outputs against references --------------------------------------------------------------


NO_SACREBLEU = "chrF needs sacrebleu: pip install 'seqgen[metrics]'"


def output_scores(outputs: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """How close an encoder-decoder's outputs are to the references, in percent: exact match
    (the share equal to their reference) and chrF (sacrebleu's character n-gram F-score, its
    default settings: n-grams up to 6, beta 2). Without sacrebleu (``seqgen[metrics]``), exact
    match alone, and a warning that says so."""
    if len(outputs) != len(references) or not outputs:
        raise ValueError("one output for each reference, and at least one")
    exact = sum(o == r for o, r in zip(outputs, references, strict=True)) / len(outputs)
    try:
        from sacrebleu.metrics import CHRF
    except ImportError:
        warnings.warn(NO_SACREBLEU, stacklevel=2)
        return {"exact match": 100 * exact}
    return {"exact match": 100 * exact,
            "chrF": CHRF().corpus_score(list(outputs), [list(references)]).score}
