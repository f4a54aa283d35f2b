"""Music controls: does a model trained with ``--controls`` write what it is asked?

On the bundled ``checkpoints/bach-controls`` (the chorales, trained with ``--controls all``),
for each control, samples asked for several values and measured with the very measurement
training used (``seqgen.data.controls``), each sample measured whole:

- density and register: each of the control's bins asked by name, ``SAMPLES`` samples each;
  the Spearman correlation between the value asked (the bin's centre) and the value measured
  (target at least 0.9; the reference pairs the free samples with the same asked values in
  turn: what no steering gives), and the share of samples measured in the asked bin (target
  at least 70%; reference: the share of the free samples in the bins asked);
- key: ``KEYS`` asked, ``SAMPLES`` samples each; the share estimated in the asked key, tonic
  and mode (target at least 80%), against the share of the free samples in those keys;
- every control left free: ``FREE_SAMPLES`` samples, each as long as the model makes it, each
  control's distribution (each piece measured whole) against the training pieces' as the
  model was trained on them (each augmented as in two epochs: transposed pieces in their new
  keys), as ``seqgen stats --against`` computes it (``control_overlap``: target at least 0.8),
  beside the same figure for the bundled model trained without controls (``checkpoints/bach``).

And two runs trained side by side, with every setting the bundled model's (its time budget
too) but ``--controls`` (one with, one without; the same seed, so the same initial weights
and batches): the validation loss of the run with controls, each left free, against the run
without (target: no worse, a ratio of at most 1.0; with the controls measured from the
validation pieces given, it is reported beside), and their training tokens per second
(target at least 0.9x, over each run: the tokens it trained on over its seconds).

    python -m benchmarks controls           # the bundled model; two runs of its budget
    python -m benchmarks controls --quick   # a tiny model on a few chorales: every row runs
"""

import tempfile
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import CHORALES, ROOT, Row, first_files
from seqgen.config import DEFAULT_GUIDANCE, TrainConfig
from seqgen.data.codecs.base import Augmentation
from seqgen.data.controls import KEY_NAMES, ControlScheme, parse_controls
from seqgen.files import read_json
from seqgen.media.music_stats import MusicStats, control_overlap, pieces_stats
from seqgen.nn.sampling import generate_pieces
from seqgen.nn.steering import Steering
from seqgen.training.checkpoint import Checkpoint, load_checkpoint
from seqgen.training.evaluation import evaluate_checkpoint
from seqgen.training.runs import train
from seqgen.training.trainer import TrainResult

BUNDLED = ROOT / "checkpoints" / "bach-controls"
WITHOUT = ROOT / "checkpoints" / "bach"  # the same model trained without controls
SAMPLES = 16  # per value asked
FREE_SAMPLES = 256  # the key is 24 classes: fewer samples leave most shares a sample or two off
LONGEST = 4000  # tokens of a free sample the model has not ended (quick: QUICK_LONGEST)
AUGMENTED_DRAWS = 2  # epochs' augmentations of the training pieces the free samples match
SECONDS = 20.0  # of music per sample
KEYS = ("C-major", "D-major", "A-minor", "Bb-minor")
SEED = 0
GUIDANCE = DEFAULT_GUIDANCE  # what seqgen sample uses unless told
QUICK = dict(cell="gru", layers=1, hidden=16, batch_size=2, seq_len=32, steps=3,
             eval_interval=3, precision="fp32", controls=("all",))
QUICK_PIECES = 6
QUICK_SAMPLES, QUICK_FREE, QUICK_SECONDS, QUICK_LONGEST = 2, 8, 4.0, 200


def controls_rows(quick: bool) -> list[Row]:
    """The steering rows on the bundled model (in quick mode, a tiny one trained here), then
    the two side-by-side runs'."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        corpus = first_files(CHORALES, QUICK_PIECES, work) if quick else CHORALES
        runs = side_by_side(corpus, work, quick)
        model, without = (run.run_dir for run in runs) if quick else (BUNDLED, WITHOUT)
        ckpt, plain = load_checkpoint(model, "cpu"), load_checkpoint(without, "cpu")
        count, free, seconds, longest = (QUICK_SAMPLES, QUICK_FREE, QUICK_SECONDS,
                                         QUICK_LONGEST) if quick else \
            (SAMPLES, FREE_SAMPLES, SECONDS, LONGEST)
        return steering_rows(ckpt, count, seconds) + overlap_rows(ckpt, plain, free, longest) \
            + training_rows(*runs)


def side_by_side(corpus: Path, work: Path, quick: bool) -> tuple[TrainResult, TrainResult]:
    """Two runs, with and without controls, every other setting the bundled model's (or the
    quick size's)."""
    settings = (dict(QUICK) if quick else bundled_settings()) | {"curves": False,
                                                                 "device": "cpu"}
    return (train(corpus, TrainConfig(**settings), work / "with-controls"),
            train(corpus, TrainConfig(**settings | {"controls": ()}), work / "without"))


def bundled_settings() -> dict:
    """The bundled model's training settings, as recorded."""
    recorded = load_checkpoint(BUNDLED, "cpu").training_config()
    return {name: getattr(recorded, name) for name in recorded.__dataclass_fields__}


def draw(ckpt: Checkpoint, asked: dict[str, str], count: int, seconds: float | None,
         seed: int, longest: int = LONGEST) -> list[list]:
    """``count`` pieces of ``seconds`` (None: as long as the model makes each, at most
    ``longest`` tokens) with the controls ``asked`` (the rest free), as notes."""
    scheme: ControlScheme = ckpt.controls
    settings = parse_controls([f"{name}={value}" for name, value in asked.items()],
                              scheme.by_name()) if scheme is not None else {}
    steering = Steering.of(scheme, settings, ckpt.codec, GUIDANCE) if scheme is not None \
        else None
    pieces = generate_pieces(ckpt.model, ckpt.codec, seconds=seconds, num_samples=count,
                             seed=seed, steering=steering, max_length=longest)
    return [ckpt.codec.decode_notes(piece) for piece in pieces]


def measured(pieces: list[list], names: list[str] | None = None) -> MusicStats:
    return pieces_stats([p for p in pieces if p], names)


def steering_rows(ckpt: Checkpoint, count: int, seconds: float) -> list[Row]:
    """Each control of ``ckpt`` asked for, ``count`` samples of ``seconds`` a value, against
    as many samples with every control free."""
    scheme = ckpt.controls
    free = measured(draw(ckpt, {}, count * 4, seconds, SEED))
    rows = []
    for bins in scheme.bins:
        if bins.classes:
            rows.append(key_row(ckpt, free, count, seconds))
        else:
            rows += number_rows(ckpt, bins, free, count, seconds)
    return rows


def overlap_rows(ckpt: Checkpoint, without: Checkpoint, count: int, longest: int) -> list[Row]:
    """``count`` samples with every control free, each as long as the model makes it: each
    control's distribution against the training pieces' as trained; the same of a model
    without controls."""
    free = measured(draw(ckpt, {}, count, None, SEED, longest))
    reference = measured(draw(without, {}, count, None, SEED, longest))
    truth = as_trained(ckpt)
    rows = []
    for name in ckpt.controls.names:
        ours, theirs = control_overlap(name, free, truth), control_overlap(name, reference, truth)
        rows.append(Row(f"controls: {name} left free, overlap with the training pieces' as "
                        f"trained ({len(free.files)} samples; reference: a model without "
                        "controls)", ours, theirs, "OA", ">= 0.8",
                        ours / theirs if theirs else float("nan"), ours >= 0.8))
    return rows


def as_trained(ckpt: Checkpoint) -> MusicStats:
    """The training pieces of ``ckpt``'s run as it trained on them: each augmented as in
    ``AUGMENTED_DRAWS`` epochs."""
    config = ckpt.training_config()
    augmentation = Augmentation(config.transpose, config.stretch) if config.augment else None
    train_data, _ = ckpt.load_corpus().split(config.val_fraction, codec=ckpt.codec,
                                             augmentation=augmentation)
    pieces = [tokens for epoch in range(AUGMENTED_DRAWS)
              for tokens in train_data.draw(epoch, config.seed, train=True)[0]]
    return measured([ckpt.codec.decode_notes(tokens) for tokens in pieces])


def number_rows(ckpt: Checkpoint, bins, free: MusicStats, count: int,
                seconds: float) -> list[Row]:
    """Each bin of a control of numbers asked by name: Spearman and the share in the bin."""
    asked, values = [], []
    for index, name in enumerate(bins.names):
        stats = measured(draw(ckpt, {bins.control: name}, count, seconds, SEED + index))
        got = stats.controls[bins.control]
        asked += [index] * len(got)
        values += got.tolist()
    asked_arr, values_arr = np.array(asked), np.array(values)
    centres = np.array(bins.centres)[asked_arr]
    in_bin = float(np.mean(bins.bins_of(torch.tensor(values_arr)).numpy() == asked_arr))
    free_values = free.controls[bins.control]
    paired = np.resize(free_values, len(centres))
    free_in = float(np.mean(bins.bins_of(torch.tensor(paired)).numpy() == asked_arr))
    rho, free_rho = spearman(centres, values_arr), spearman(centres, paired)
    label = f"{len(bins.names)} bins x {count} samples of {seconds:g} s"
    return [Row(f"controls: {bins.control}, Spearman of asked and measured ({label}; reference: "
                "free samples)", rho, free_rho, "rho", ">= 0.9", float("nan"), rho >= 0.9),
            Row(f"controls: {bins.control}, samples in the asked bin ({label}; reference: free "
                "samples)", 100 * in_bin, 100 * free_in, "%", ">= 70%",
                in_bin / free_in if free_in else float("nan"), in_bin >= 0.7)]


def key_row(ckpt: Checkpoint, free: MusicStats, count: int, seconds: float) -> Row:
    """``KEYS`` asked: the share of samples estimated in the asked key."""
    hits, free_hits = [], []
    for index, key in enumerate(KEYS):
        got = measured(draw(ckpt, {"key": key}, count, seconds, SEED + index)).controls["key"]
        wanted = KEY_NAMES.index(key)
        hits += (got == wanted).tolist()
        free_hits.append(float(np.mean(free.controls["key"] == wanted)))
    share, baseline = float(np.mean(hits)), float(np.mean(free_hits))
    return Row(f"controls: key, samples in the asked key ({len(KEYS)} keys x {count} samples; "
               "reference: free samples in those keys)", 100 * share, 100 * baseline, "%",
               ">= 80%", share / baseline if baseline else float("nan"), share >= 0.8)


def training_rows(with_controls: TrainResult, without: TrainResult) -> list[Row]:
    """The side-by-side runs: the loss with every control free (and with the true controls)
    against the run without, and training tokens per second."""
    ours, theirs = (evaluate_checkpoint(run.run_dir, device="cpu")
                    for run in (with_controls, without))
    speed = [tokens_per_second(run.run_dir) for run in (with_controls, without)]
    free, plain = ours.free_controls_loss, theirs.loss
    length = f"{with_controls.seconds:.0f} and {without.seconds:.0f} s, {with_controls.step} and " \
        f"{without.step} steps"
    return [Row(f"controls: validation loss, every control free, against a run without controls "
                f"({length})", free, plain, "nats/token", "<= 1.0x", free / plain,
                free <= plain),
            Row("controls: validation loss, the controls measured from each piece given, "
                "against a run without controls", ours.loss, plain, "nats/token", "report",
                ours.loss / plain, True),
            Row("controls: training tokens per second, with controls against without",
                speed[0], speed[1], "tokens/s", ">= 0.9x", speed[0] / speed[1],
                speed[0] >= 0.9 * speed[1])]


def tokens_per_second(run: Path) -> float:
    """The tokens a run trained on over the seconds it trained (its last snapshot's)."""
    info = read_json(run / "last" / "trainer.json")
    return info["tokens_trained"] / info["elapsed"]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (ties given their mean rank); NaN without spread."""
    keep = ~(np.isnan(x) | np.isnan(y))
    rx, ry = ranks(x[keep]), ranks(y[keep])
    if len(rx) < 2 or rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their mean rank."""
    order = np.argsort(values, kind="stable")
    ranked = np.empty(len(values))
    ranked[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranked[tied] = ranked[tied].mean()
    return ranked
