"""Composer classification: seqgen's MIDI classifier against a logistic regression on note
histograms, measured in the same run on the same split of the same pieces.

The pieces come from music21's public-domain corpus (the ``benchmarks`` extra installs it):
Bach's four-part chorales (``bach/bwv*``, MusicXML; bwv846, a prelude, left out), movements
of Palestrina's masses (``palestrina/*.krn``, Humdrum) and Monteverdi's madrigals (books 3-5,
``monteverdi/madrigal.*.mxl``; the ``_old`` duplicate left out). Each collection's files are
shuffled once with a fixed seed (sorted first, so the order is the same everywhere) and taken
in that order; music21 parses each and writes it as MIDI into a cache folder,
``SEQGEN_CACHE_DIR`` (else ``~/.cache/seqgen``) ``/benchmarks/composers/music21-VERSION/``,
one sub-folder per label, converted once and reused. A piece music21 cannot parse or write
is skipped, remembered and counted, and the next one in the order taken instead; every label
gets as many pieces as the smallest has: 48 at the full size (Monteverdi's madrigals are all
there are), 3 at the smoke size. The row's count of skipped pieces adds those seqgen's MIDI
codec could not use (left out of both models' data).

- **seqgen**: ``seqgen train CORPUS --arch many-to-one --label-from folder --format midi
  --time 240 --batch-size 8 --hidden 128 --val-fraction 0.25 --device cpu``, every other
  setting its default (a 2-layer LSTM encoder, attention pooling, augmented by transposition
  and time stretch), its macro accuracy on the validation split (``seqgen eval``). Eight
  pieces a batch and 128 units, because with the defaults (64 rows, 256 units) a step is the
  whole training split of these long pieces: 33 steps in 240 s. The *last* snapshot is
  evaluated, not the best: the best is chosen by the validation loss of the very pieces the
  row scores, which the reference never sees.
- **reference**: a multinomial logistic regression (L2 on the weights, fitted by L-BFGS in
  float64 on features standardized over its training pieces) on each piece's normalised
  histograms of melodic intervals (each note to the next in its track, -12..+12 semitones,
  and one bin either way for larger leaps), note durations (half-octave bins of seconds,
  1/16 s to 8 s) and pitch classes. Its L2 strength is chosen from a grid by 5-fold
  cross-validation within the training split (macro accuracy, ties by cross-entropy), then it
  is refitted on the whole training split and scored on the validation split.

A quarter of each label's pieces is validated (``--val-fraction 0.25``: 12 of 48, so 36 pieces
score each row rather than the 15 of seqgen's default 10%). Target: seqgen's macro accuracy
higher than the reference's.

    pip install -e ".[benchmarks]"             # music21
    python -m benchmarks composers             # 48 pieces per label, 240 s of training
    python -m benchmarks composers --quick     # the smoke size (the tests)

The smoke size trains a 1x16 GRU for 4 steps in fp32 on 3 pieces per label (2 trained on, 1
validated).
"""

import json
import math
import random
import shutil
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.common import Row
from seqgen.config import TrainConfig
from seqgen.data.cache import default_cache_dir
from seqgen.data.codecs.midi import MidiOptions, read_track_notes
from seqgen.data.splits import split_items
from seqgen.files import atomic_write
from seqgen.tasks.many_to_one import Confusion
from seqgen.training.checkpoint import Checkpoint, find_snapshot, load_checkpoint
from seqgen.training.evaluation import evaluate_checkpoint
from seqgen.training.runs import train

# label: (folder of music21's corpus, file patterns, files left out)
COLLECTIONS = {
    "bach-chorales": ("bach", ("bwv*.mxl", "bwv*.xml"), {"bwv846.mxl"}),
    "monteverdi-madrigals": ("monteverdi", ("madrigal.*.mxl",), {"madrigal.3.1_old.mxl"}),
    "palestrina-masses": ("palestrina", ("*.krn",), set()),
}
ORDER_SEED = 0  # the shuffle that picks each collection's pieces
PIECES, QUICK_PIECES = 48, 3  # per label
VAL_FRACTION = 0.25
TIME = 240.0  # seconds of training at the full size
COMMON = dict(arch="many-to-one", format="midi", label_from="folder", device="cpu",
              curves=False, val_fraction=VAL_FRACTION)
# 8 pieces a batch, 128 units: the defaults (64 rows, 256 units) make each step the whole
# training split of these long pieces (median 1,000 events), 33 steps in 240 s; these make 480
# in 120 s (measured on a 2-core CPU)
FULL = TrainConfig(time=TIME, batch_size=8, hidden=128, **COMMON)
# fp32: bf16 autocast runs a 16-unit GRU several times slower on a CPU
QUICK = TrainConfig(cell="gru", layers=1, hidden=16, steps=4, eval_interval=4, precision="fp32",
                    **COMMON)

LEAP = 12  # melodic intervals beyond an octave share one bin either way
SHORTEST, LONGEST = -8, 6  # duration bins: round(2 * log2(seconds)), 1/16 s to 8 s
L2_GRID = tuple(10.0 ** (e / 2) for e in range(-10, 3))  # 1e-5 ... 10
FOLDS = 5
INSTALL = 'pip install -e ".[benchmarks]"'


def composers_rows(quick: bool) -> list[Row]:
    """One row: seqgen's macro accuracy and the logistic regression's, same split; none (and
    one line) without music21."""
    try:
        import music21
    except ImportError:
        print(f"composers: nothing measured, music21 is not installed ({INSTALL})",
              file=sys.stderr)
        return []
    pieces, skipped = converted(music21, QUICK_PIECES if quick else PIECES)
    config = QUICK if quick else FULL
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "composers"
        for label, files in pieces.items():
            (corpus / label).mkdir(parents=True)
            for file in files:
                shutil.copy(file, corpus / label / file.name)
        run = Path(folder) / "run"
        train(corpus, config, run)
        snapshot = find_snapshot(run, prefer="last")
        ours = evaluate_checkpoint(snapshot, device="cpu").classes.macro_accuracy
        ckpt = load_checkpoint(snapshot)
        read = ckpt.load_corpus()
        reference, l2 = logistic_macro_accuracy(ckpt, read)
        skipped += len(read.skipped)  # pieces seqgen's MIDI codec could not use
    per_label = len(next(iter(pieces.values())))
    size = f"{config.model_size()[0]}x{config.model_size()[1]} {config.cell}"
    length = f"{ckpt.trainer['step']} steps" if quick else \
        f"{TIME:g} s: {ckpt.trainer['step']} steps"
    return [Row(f"composers: classifier's macro accuracy (vs logistic regression on note "
                f"histograms, same split; {size}, {length}; {per_label} pieces each of Bach "
                f"chorales, Palestrina masses, Monteverdi madrigals, {skipped} skipped; the "
                f"regression's L2 {l2:.2g})", ours, reference, "accuracy", "> reference",
                ours / reference if reference > 0 else math.inf, ours > reference)]


# ---- the pieces ----------------------------------------------------------------------------


def converted(music21, count: int) -> tuple[dict[str, list[Path]], int]:
    """``count`` MIDI files per label (fewer where a collection has fewer: then every label
    as many as the smallest), converted into the cache as needed; and the pieces skipped on
    the way (music21 could not parse or write them)."""
    folder = default_cache_dir() / "benchmarks" / "composers" / f"music21-{music21.__version__}"
    failures_file = folder / "failed.json"
    failed = json.loads(failures_file.read_text(encoding="utf-8")) \
        if failures_file.exists() else {}
    root = Path(music21.__file__).parent / "corpus"
    pieces, skipped = {}, 0
    for label, (source_folder, patterns, left_out) in COLLECTIONS.items():
        sources = sorted({file for pattern in patterns
                          for file in (root / source_folder).glob(pattern)
                          if file.name not in left_out})
        random.Random(ORDER_SEED).shuffle(sources)
        (folder / label).mkdir(parents=True, exist_ok=True)
        chosen = []
        for rank, source in enumerate(sources):
            if len(chosen) == count:
                break
            target = folder / label / f"{rank:04d}-{source.stem}.mid"
            if not target.exists():
                if source.name in failed.get(label, {}):
                    skipped += 1
                    continue
                try:
                    convert(music21, source, target)
                except Exception as exc:  # music21 raises many kinds on a piece it cannot use
                    failed.setdefault(label, {})[source.name] = f"{type(exc).__name__}: {exc}"
                    with atomic_write(failures_file) as tmp:
                        tmp.write_text(json.dumps(failed, indent=1), encoding="utf-8")
                    skipped += 1
                    continue
            chosen.append(target)
        pieces[label] = chosen
    fewest = min(len(files) for files in pieces.values())
    return {label: files[:fewest] for label, files in pieces.items()}, skipped


def convert(music21, source: Path, target: Path) -> None:
    """A score parsed by music21 (from its file, no pickled copy) and written as MIDI."""
    score = music21.converter.parse(source, forceSource=True)
    with atomic_write(target) as tmp:
        score.write("midi", fp=tmp)


# ---- the reference ---------------------------------------------------------------------------


def features(file: Path, options: MidiOptions) -> torch.Tensor:
    """A piece's histograms, each summing to 1: melodic intervals (each track's notes in
    order), note durations and pitch classes."""
    intervals = torch.zeros(2 * LEAP + 3, dtype=torch.float64)
    durations = torch.zeros(LONGEST - SHORTEST + 1, dtype=torch.float64)
    classes = torch.zeros(12, dtype=torch.float64)
    for track in read_track_notes(file, options):
        notes = sorted(track.notes, key=lambda note: (note.start, note.pitch))
        for note, following in zip(notes, notes[1:], strict=False):
            step = max(-LEAP - 1, min(LEAP + 1, following.pitch - note.pitch))
            intervals[step + LEAP + 1] += 1
        for note in notes:
            seconds = max(note.end - note.start, 1e-6)
            durations[max(SHORTEST, min(LONGEST, round(2 * math.log2(seconds)))) - SHORTEST] += 1
            classes[note.pitch % 12] += 1
    return torch.cat([h / h.sum().clamp(min=1) for h in (intervals, durations, classes)])


def logistic_macro_accuracy(ckpt: Checkpoint, corpus) -> tuple[float, float]:
    """The logistic regression's macro accuracy on the checkpoint's validation pieces of
    ``corpus`` (the corpus it was trained on), fitted on its training pieces; and the L2
    strength it chose."""
    _, val = ckpt.split(corpus)
    labels, names = corpus.labels, ckpt.label_names
    train_ids, val_ids = split_items(len(corpus.files), labels, ckpt.training_config().val_fraction)
    if not torch.equal(labels[val_ids], val.labels) or not all(
            torch.equal(corpus.pieces[i], item) for i, item in zip(val_ids, val.items.items,
                                                                   strict=True)):
        raise AssertionError("the reference's split is not the checkpoint's")
    x = torch.stack([features(file, ckpt.codec.options) for file in corpus.files])
    l2 = tuned_l2(x[train_ids], labels[train_ids], len(names))
    guessed = predict(fit(x[train_ids], labels[train_ids], len(names), l2), x[val_ids]).argmax(1)
    return Confusion.of((labels[val_ids], guessed), names).macro_accuracy, l2


def tuned_l2(x: torch.Tensor, y: torch.Tensor, classes: int) -> float:
    """The L2 strength of ``L2_GRID`` with the best macro accuracy (then cross-entropy) over
    stratified folds of the training pieces (each label's pieces dealt round in turn)."""
    folds = min(FOLDS, int(torch.bincount(y, minlength=classes).min()))
    if folds < 2:  # a label with one training piece: nothing to hold out
        return L2_GRID[len(L2_GRID) // 2]
    fold = torch.empty_like(y)
    for label in range(classes):
        where = torch.nonzero(y == label).flatten()
        fold[where] = torch.arange(len(where)) % folds
    names = tuple(str(label) for label in range(classes))
    scores = []
    for l2 in L2_GRID:
        log_probs = torch.empty(len(y), classes, dtype=torch.float64)
        for k in range(folds):
            held = fold == k
            log_probs[held] = predict(fit(x[~held], y[~held], classes, l2), x[held])
        accuracy = Confusion.of((y, log_probs.argmax(1)), names).macro_accuracy
        scores.append((-accuracy, float(F.nll_loss(log_probs, y)), l2))
    return min(scores)[2]


def fit(x: torch.Tensor, y: torch.Tensor, classes: int, l2: float) -> tuple:
    """Multinomial logistic regression on standardized ``x``: mean cross-entropy plus
    ``l2`` times the squared weights (the biases free), minimised by L-BFGS."""
    mean, std = x.mean(0), x.std(0, correction=0)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))
    z = (x - mean) / std
    weights = torch.zeros(x.shape[1], classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], lr=1, max_iter=1000, tolerance_grad=1e-9,
                                  tolerance_change=1e-12, history_size=20,
                                  line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = F.cross_entropy(z @ weights + bias, y) + l2 * weights.pow(2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    return mean, std, weights.detach(), bias.detach()


def predict(model: tuple, x: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of each label."""
    mean, std, weights, bias = model
    return F.log_softmax((x - mean) / std @ weights + bias, dim=1)
