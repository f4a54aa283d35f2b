"""Does a names model write names of the language it is asked for?

A character-trigram language classifier (naive Bayes, add-one smoothing, uniform prior over the
18 languages) is fitted on the training names of ``corpora/names`` (the split seqgen trains
on). It recognises the language of the real held-out names some share of the time: the
ceiling a model's names are measured against. Then it classifies names the checkpoint
generates for each language (``seqgen sample --condition LANGUAGE``, temperature 1), and
``seqgen eval`` gives the validation loss with the right and with the wrong labels.

Real and generated names are compared at the same weighting of the languages: each language
counted equally (the target), and each weighted by its share of the held-out names (where
Russian, English and Arabic, the easiest to recognise, are two thirds).

    python -m benchmarks.names_quality                       # checkpoints/names, 50 per language
    python -m benchmarks.names_quality RUN --per-label 10
    python -m benchmarks.names_quality --quick               # the smoke size (the tests)

The smoke size: a 1x16 GRU trained 10 steps here stands in for the checkpoint (evaluating the
bundled one takes a quarter of a minute), 2 names per language.
"""

import argparse
import math
import tempfile
from collections import Counter
from pathlib import Path

from benchmarks.common import ROOT
from seqgen.config import TrainConfig
from seqgen.data.corpus import load_corpus
from seqgen.nn.sampling import condition_labels, generate_text
from seqgen.training.checkpoint import load_checkpoint
from seqgen.training.evaluation import evaluate_checkpoint
from seqgen.training.runs import train

NAMES = ROOT / "corpora" / "names"
# the smoke size's stand-in: the bundled model's kind (one-to-many GRU), tiny
STAND_IN = TrainConfig(arch="one-to-many", cell="gru", layers=1, hidden=16, steps=10,
                       eval_interval=10, device="cpu", curves=False)


def trigrams(name: str) -> list[str]:
    padded = f"^^{name}$"
    return [padded[i:i + 3] for i in range(len(padded) - 2)]


class TrigramClassifier:
    """Naive Bayes over character trigrams with add-one smoothing and a uniform prior."""

    def __init__(self, names_by_label: dict[str, list[str]]) -> None:
        self.counts = {label: Counter(t for name in names for t in trigrams(name))
                       for label, names in names_by_label.items()}
        self.vocab = len(set().union(*self.counts.values()))
        self.totals = {label: sum(c.values()) for label, c in self.counts.items()}

    def label(self, name: str) -> str:
        def score(label: str) -> float:
            counts, total = self.counts[label], self.totals[label] + self.vocab
            return sum(math.log((counts[t] + 1) / total) for t in trigrams(name))

        return max(self.counts, key=score)

    def accuracy(self, names_by_label: dict[str, list[str]]) -> dict[str, float]:
        """The share of each label's names the classifier gives that label."""
        return {label: sum(self.label(name) == label for name in names) / len(names)
                for label, names in names_by_label.items()}


def weighted(accuracy: dict[str, float], weights: dict[str, float]) -> float:
    return sum(accuracy[label] * w for label, w in weights.items()) / sum(weights.values())


def names_by_label(data, codec, label_names) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {label: [] for label in label_names}
    for tokens, label in zip(data.items, data.labels.tolist(), strict=True):
        grouped[label_names[label]].append(codec.decode(tokens))
    return grouped


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.names_quality",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", default=str(ROOT / "checkpoints" / "names"))
    parser.add_argument("--per-label", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="the smoke size: a tiny stand-in model, 2 names per language")
    args = parser.parse_args(argv)
    if not args.quick:
        measure(args.checkpoint, args.per_label, args.seed)
        return
    with tempfile.TemporaryDirectory() as folder:
        train(NAMES, STAND_IN, Path(folder) / "run")
        measure(Path(folder) / "run", 2, args.seed)


def measure(checkpoint: str | Path, per_label: int, seed: int) -> None:
    """Classify real held-out and generated names, and evaluate ``checkpoint``; print it."""
    corpus = load_corpus(NAMES)
    train, val = corpus.split(0.1)
    training_names = names_by_label(train, corpus.codec, corpus.label_names)
    classifier = TrigramClassifier(training_names)
    held_out = names_by_label(val, corpus.codec, corpus.label_names)
    real = classifier.accuracy(held_out)
    ckpt = load_checkpoint(checkpoint)
    samples = {}
    for label in ckpt.config["labels"]:
        ids, _ = condition_labels(ckpt.config["labels"], label, per_label)
        samples[label] = generate_text(ckpt.model, ckpt.codec, "", 50, per_label,
                                       seed=seed, labels=ids)
    generated = classifier.accuracy(samples)
    evaluation = evaluate_checkpoint(checkpoint, device="cpu")
    equal = dict.fromkeys(real, 1.0)
    natural = {label: float(len(names)) for label, names in held_out.items()}
    for name, weights, target in (("each language counted equally", equal, " (target >= 0.90)"),
                                  ("weighted by held-out names", natural, "")):
        ours, ceiling = weighted(generated, weights), weighted(real, weights)
        print(f"{name}: real held-out names {ceiling:.1%}, generated ({per_label} per "
              f"language) {ours:.1%} = {ours / ceiling:.2f} of the real rate{target}")
    known = {name for names in training_names.values() for name in names}
    drawn = [name for names in samples.values() for name in names]
    print(f"generated names that are training names: "
          f"{sum(n in known for n in drawn) / len(drawn):.1%} (the classifier has seen them)")
    for label, names in samples.items():
        print(f"  {label}: {generated[label]:.0%} (real {real[label]:.0%})  "
              f"{', '.join(names[:5])}")
    gap = evaluation.wrong_label_loss - evaluation.loss
    print(f"validation loss: {evaluation.loss:.3f} with the right label, "
          f"{evaluation.wrong_label_loss:.3f} with a wrong one: {gap:.3f} nats apart "
          "(target >= 0.8)")


if __name__ == "__main__":
    main()
