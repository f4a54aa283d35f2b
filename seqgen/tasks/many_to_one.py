"""The classifier (many-to-one): a whole item in, its label out.

It trains on labelled items of any codec (text lines or files, MIDI pieces) with the same
loop as every task: a batch's chunk carries the items as its sources and each item's label
as its one target. ``seqgen eval`` reports accuracy, macro-averaged accuracy and F1, and each
label's figures; ``classify`` gives the likeliest labels of new items.
"""

from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from seqgen.config import POOLINGS, ModelConfig, TrainConfig
from seqgen.errors import UsageError
from seqgen.task import Task


class ManyToOne(Task):
    """An encoder reads the whole item; pooling and a head score its labels."""

    name = "many-to-one"
    loss_per = "label"
    own_settings = ("bidirectional", "pool")

    def check_settings(self, config: TrainConfig) -> None:
        if config.tie_weights:
            raise UsageError("a classifier's head scores labels, not tokens: drop "
                             "--tie-weights")

    def load_corpus(self, path, config: TrainConfig, *, strict=False, progress=None,
                    fitted=None) -> Any:
        from seqgen.data.corpus import load_corpus

        corpus = load_corpus(path, config.format, config.codec_options, items=config.items,
                             label_from=config.label_from, strict=strict, progress=progress,
                             val_fraction=config.val_fraction, fitted=fitted)
        return self.prepare_corpus(corpus)

    def prepare_corpus(self, corpus: Any) -> Any:
        from seqgen.data.classes import LabelledItems

        if isinstance(corpus, LabelledItems):
            return corpus
        if hasattr(corpus, "source_codec"):
            raise UsageError("a classifier trains on labelled items, not pairs: give items "
                             "and --label-from stem, folder or a CSV/JSON file")
        if corpus.items == "stream":
            raise UsageError("a classifier reads whole items: give a corpus of items "
                             "(--items lines or files) with labels (--label-from)")
        if len(corpus.label_names) < 2:
            found = "no labels" if not corpus.label_names else \
                f"one label ({corpus.label_names[0]})"
            raise UsageError(f"a classifier needs items of at least two labels, and {corpus.path} "
                             f"has {found}: give --label-from stem, folder or a CSV/JSON file")
        return LabelledItems(corpus)

    def model_config(self, config: TrainConfig, corpus: Any) -> ModelConfig:
        return replace(config.model_config(corpus.codec.size, len(corpus.label_names)),
                       pool=config.pool or POOLINGS[0])

    def build_model(self, config: ModelConfig, corpus: Any = None) -> Any:
        from seqgen.nn.classifier import Classifier

        return Classifier(config)

    def tokens_read(self, chunk: Any, targets: Tensor) -> Tensor:
        """The items' tokens (each has one target, its label)."""
        return chunk.source_lengths.sum().to(targets.device)

    def evaluate(self, ckpt, val, batches, precision: str, beam: int, result,
                 progress=None) -> None:
        """Accuracy, macro accuracy and F1, and each label's figures, on the validation items."""
        result.classes = Confusion.of(predictions(ckpt.model, batches, precision),
                                      ckpt.label_names)

    def predicts_labels(self) -> bool:
        return True


def predictions(model: Any, batches: Any, precision: str) -> tuple[Tensor, Tensor]:
    """(true labels, predicted labels) of every item of ``batches``."""
    from seqgen.training.devices import autocast

    truth, guessed = [], []
    model.eval()
    with torch.no_grad():
        for chunk in batches:
            with autocast(chunk.inputs.device, precision):
                logits = model.classify(chunk.source, chunk.source_lengths)
            truth.append(chunk.targets[:, 0].cpu())
            guessed.append(logits.float().argmax(-1).cpu())
    return torch.cat(truth), torch.cat(guessed)


class Confusion:
    """A confusion matrix [true label, predicted label] and the figures read from it."""

    def __init__(self, counts: Tensor, labels: tuple[str, ...]) -> None:
        self.counts, self.labels = counts, labels

    @classmethod
    def of(cls, found: tuple[Tensor, Tensor], labels: tuple[str, ...]) -> "Confusion":
        truth, guessed = found
        counts = torch.zeros(len(labels), len(labels), dtype=torch.long)
        counts.index_put_((truth, guessed), torch.ones_like(truth), accumulate=True)
        return cls(counts, labels)

    @property
    def items(self) -> int:
        return int(self.counts.sum())

    @property
    def accuracy(self) -> float:
        return float(self.counts.diag().sum() / self.counts.sum().clamp(min=1))

    def recall(self) -> Tensor:
        """Each label's accuracy: the share of its items labelled so (NaN: none validated)."""
        return self.counts.diag() / self.counts.sum(1).double()

    def precision(self) -> Tensor:
        """Of the items given each label, the share that have it (0 where none was given)."""
        return self.counts.diag() / self.counts.sum(0).double().clamp(min=1)

    def f1(self) -> Tensor:
        recall, precision = self.recall().nan_to_num(0.0), self.precision()
        both = recall + precision
        return torch.where(both > 0, 2 * recall * precision / both.clamp(min=1e-12), 0.0)

    def validated(self) -> Tensor:
        """The labels that have validation items: what the macro averages are over."""
        return self.counts.sum(1) > 0

    @property
    def macro_accuracy(self) -> float:
        return float(self.recall()[self.validated()].mean())

    @property
    def macro_f1(self) -> float:
        return float(self.f1()[self.validated()].mean())

    def per_label(self) -> list[dict]:
        """Each label's items, accuracy, precision and F1."""
        recall, precision, f1 = self.recall(), self.precision(), self.f1()
        return [{"label": name, "items": int(self.counts[i].sum()),
                 "accuracy": float(recall[i]), "precision": float(precision[i]),
                 "f1": float(f1[i])} for i, name in enumerate(self.labels)]

    def to_json(self) -> dict:
        return {"items": self.items, "accuracy": self.accuracy,
                "macro_accuracy": self.macro_accuracy, "macro_f1": self.macro_f1,
                "per_label": self.per_label(), "confusion": self.counts.tolist()}


def label_probabilities(ckpt: Any, items: list[Tensor], precision: str = "fp32",
                        batch_size: int = 64) -> Tensor:
    """Each label's probability [items, labels] for token sequences of the classifier's
    codec (none empty)."""
    from seqgen.training.devices import autocast

    model = ckpt.model.eval()
    device = model.head.weight.device
    found = []
    with torch.no_grad():
        for start in range(0, len(items), batch_size):
            group = items[start : start + batch_size]
            lengths = torch.tensor([item.numel() for item in group])
            padded = torch.zeros(len(group), int(lengths.max()), dtype=torch.long)
            for row, item in enumerate(group):
                padded[row, : item.numel()] = item
            with autocast(device, precision):
                logits = model.classify(padded.to(device), lengths)
            found.append(logits.float().softmax(-1).cpu())
    return torch.cat(found)


def check_classifier(ckpt: Any, flag: str) -> None:
    """``ckpt`` is a classifier, or a usage error naming ``flag`` and what it is."""
    if not ckpt.task.predicts_labels():
        raise UsageError(f"{flag} needs a classifier (trained with --arch many-to-one); "
                         f"{ckpt.path} is a {ckpt.task.name} model")
