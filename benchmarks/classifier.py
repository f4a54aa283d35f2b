"""The classifier (many-to-one), against references measured in the same run.

- **Accuracy**: the bundled ``checkpoints/names-classifier`` labels the validation names of
  ``corpora/names`` (the split it was trained beside) with a macro-averaged accuracy (each
  language counted equally) at least 10 points above a character-trigram naive Bayes
  classifier (add-one smoothing, uniform prior: ``names_quality.TrigramClassifier``) fitted
  on the same training names.
- **Speed**: item tokens per second of seqgen's training step (the trainer's own
  ``train_step``: schedule, autocast, the chunk's targets, clipping) against a plain PyTorch
  loop over the same batches with the same encoder, pooling and head (``model.classify``,
  cross-entropy, AdamW, clipping), at least 0.9x.

    python -m benchmarks classifier            # the bundled checkpoint, a 2x256 GRU for speed
    python -m benchmarks classifier --quick    # the smoke size (the tests)

The smoke size trains a 1x16 GRU classifier for 10 steps as the stand-in of the checkpoint.
"""

import copy
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.common import CPU, ROOT, Row, median_interleaved, timed
from benchmarks.names_quality import NAMES, TrigramClassifier, names_by_label
from seqgen.config import TrainConfig
from seqgen.data.batching import Batches
from seqgen.tasks.many_to_one import Confusion
from seqgen.training.checkpoint import load_checkpoint
from seqgen.training.evaluation import evaluate_checkpoint
from seqgen.training.runs import load_run_corpus, train
from seqgen.training.trainer import Trainer

CHECKPOINT = ROOT / "checkpoints" / "names-classifier"
STAND_IN = TrainConfig(arch="many-to-one", cell="gru", layers=1, hidden=16, steps=10,
                       eval_interval=10, device="cpu", curves=False)
SPEED = TrainConfig(arch="many-to-one", cell="gru", layers=2, hidden=256, steps=1000,
                    device="cpu", curves=False, precision="fp32", dropout=0.0)


def classifier_rows(quick: bool) -> list[Row]:
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = CHECKPOINT
        if quick:
            checkpoint = Path(folder) / "stand-in"
            train(NAMES, STAND_IN, checkpoint)
        return [accuracy_row(checkpoint), speed_row(quick, Path(folder) / "speed")]


def accuracy_row(checkpoint: Path) -> Row:
    """The classifier's macro accuracy on its validation names, and the trigram model's."""
    ckpt = load_checkpoint(checkpoint)
    train_data, val = ckpt.split(ckpt.load_corpus())
    labels = ckpt.label_names
    trigram = TrigramClassifier(names_by_label(train_data.items, ckpt.codec, labels))
    truth = val.labels
    guessed = torch.tensor([labels.index(trigram.label(ckpt.codec.decode(item)))
                            for item in val.items.items])
    reference = Confusion.of((truth, guessed), labels).macro_accuracy
    ours = evaluate_checkpoint(checkpoint, device="cpu").classes.macro_accuracy
    gap = ours - reference
    return Row("names: classifier's macro accuracy (vs trigram naive Bayes, same split)",
               ours, reference, "accuracy", ">= +0.10", ours / reference, gap >= 0.10)


def speed_row(quick: bool, run_dir: Path) -> Row:
    """Item tokens per second of seqgen's training step and of a plain loop, side by side."""
    config = STAND_IN if quick else SPEED
    trainer = Trainer(load_run_corpus(NAMES, config), config, run_dir)
    epoch = trainer.epoch_batches(0)
    batches = Batches(epoch.chunks[: 2 if quick else 100], epoch.device)
    tokens = sum(int(chunk.source_lengths.sum()) for chunk in batches)
    plain = copy.deepcopy(trainer.model).train()  # the same model, trained by the plain loop
    optimizer = torch.optim.AdamW(plain.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)

    def ours() -> float:
        trainer.batches, trainer.index = batches, 0
        return tokens / timed(lambda: [trainer.train_step() for _ in batches], CPU)

    def reference() -> float:
        return tokens / timed(lambda: [plain_step(plain, optimizer, chunk, config.clip)
                                       for chunk in batches], CPU)

    ours_rate, plain_rate = median_interleaved([ours, reference], 1 if quick else 5)
    ratio = ours_rate / plain_rate
    size = f"{config.layers}x{config.hidden} {config.cell}"
    return Row(f"train many-to-one {size} on names (vs plain PyTorch loop)", ours_rate,
               plain_rate, "tokens/s", ">= 0.9", ratio, ratio >= 0.9)


def plain_step(model: nn.Module, optimizer: torch.optim.Optimizer, chunk, clip: float) -> None:
    """The plain loop's step: classify the items, cross-entropy against their labels."""
    logits = model.classify(chunk.source, chunk.source_lengths)
    loss = F.cross_entropy(logits, chunk.targets[:, 0])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
