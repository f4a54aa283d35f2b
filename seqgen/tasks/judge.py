"""The judge: how recognisable a labelled generator's output is, asked of a classifier.

The generator writes items for each of its labels; the classifier labels them; the share it
labels as asked, per label and macro-averaged, is set beside the classifier's own macro
accuracy on real validation items: their ratio is how recognisable the generated items are
(1: as recognisable as real ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from seqgen.config import at_least, check_seed
from seqgen.errors import UsageError
from seqgen.tasks.many_to_one import Confusion, check_classifier, label_probabilities, predictions

if TYPE_CHECKING:
    from seqgen.training.evaluation import EvalProgress

MAX_ITEM_TOKENS = 1000  # a generated item ends here if the generator has not ended it


@dataclass
class Judgement:
    """What a classifier made of a generator's items, and of real ones."""

    labels: tuple[str, ...]
    samples: int  # items generated per label
    recognised: dict[str, float]  # by label: the share of its items labelled as asked
    classifier_accuracy: float  # the classifier's macro accuracy on real validation items

    @property
    def macro(self) -> float:
        return sum(self.recognised.values()) / len(self.recognised)

    @property
    def ratio(self) -> float:
        """How recognisable the generated items are, against real ones."""
        return self.macro / self.classifier_accuracy if self.classifier_accuracy else 0.0

    def to_json(self) -> dict:
        return {"labels": list(self.labels), "samples_per_label": self.samples,
                "recognised": self.recognised, "macro": self.macro,
                "classifier_macro_accuracy": self.classifier_accuracy, "ratio": self.ratio}


def check_judged_pair(generator, classifier) -> None:
    """The classifier is one, the generator writes labelled items, and they share labels."""
    check_classifier(classifier, "--judge")
    if not generator.label_names:
        raise UsageError(f"--judge asks which label a generator's items have: {generator.path} "
                         "is not conditioned on labels (train it with --label-from)")
    if not generator.makes_items:
        raise UsageError(f"{generator.path} writes one stream, not items: the judge labels "
                         "whole items (a generator trained on --items lines or files)")
    if set(generator.label_names) != set(classifier.label_names):
        raise UsageError(f"the generator's labels ({', '.join(generator.label_names)}) are not "
                         f"the classifier's ({', '.join(classifier.label_names)}): judge with a "
                         "classifier trained on the same labels")


def judge(generator, classifier, num_samples: int = 100, seed: int = 0,
          precision: str = "fp32", progress: EvalProgress | None = None) -> Judgement:
    """Generate ``num_samples`` items per label with ``generator`` (a loaded checkpoint) and
    ask ``classifier`` (another) which label each has; ``progress`` is told the items
    written and labelled so far, after each label's."""
    from seqgen.nn.sampling import generate_items
    from seqgen.training.evaluation import counting, validation_batches

    at_least(1, num_samples=num_samples)
    check_seed(seed)
    check_judged_pair(generator, classifier)
    recognised = {}
    told = counting(progress, num_samples * len(generator.label_names),
                    f"writing {num_samples} items per label")
    for index, name in enumerate(generator.label_names):
        labels = torch.full((num_samples,), index)
        items = generate_items(generator.model, generator.codec, num_samples, labels=labels,
                               seed=seed + index, max_length=MAX_ITEM_TOKENS)
        readable = [classifier.codec.translate(item, generator.codec, what="a generated item")
                    for item in items]
        kept = [item for item in readable if item.numel()]
        asked = classifier.label_names.index(name)
        found = label_probabilities(classifier, kept, precision).argmax(-1) if kept else \
            torch.zeros(0)
        recognised[name] = float((found == asked).sum()) / num_samples
        if told is not None:
            told(num_samples * (index + 1))
    config = classifier.training_config()
    _, val = classifier.split(classifier.load_corpus())
    batches = validation_batches(val, config).to(classifier.model.head.weight.device)
    real = Confusion.of(predictions(classifier.model, batches, precision),
                        classifier.label_names)
    return Judgement(generator.label_names, num_samples, recognised, real.macro_accuracy)
