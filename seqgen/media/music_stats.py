"""Statistics of generated pieces of music, and how far they are from a corpus.

Music follows Yang and Lerch 2018, "On the evaluation of generative models in music": features
computed per piece, an absolute measurement (each feature's mean and standard deviation over
a set) and a relative one: the intra-set distances between the pieces of one set and the
inter-set distances between the pieces of two sets, each smoothed by a Gaussian kernel density
estimate; the overlap area (OA) and the Kullback-Leibler divergence (KL) of an intra-set
density against the inter-set density say how well one set stands in for the other.

As in the paper, a per-note quantity is one value per piece, its mean (the paper's average
inter-onset interval); its pitch count, pitch range and pitch-class histogram are here too.
Its beat-based features (note length histogram, transition matrices) need a meter that
performance MIDI lacks and are left out; mean pitch and velocity are added, and so are the
harmony features of a harmonised piece (``seqgen.media.harmony``: a melody track and voices),
NaN for a piece without a melody track. Each piece's music controls
(``seqgen.data.controls``: density, key, register, dynamics, over the whole piece) are kept
beside the features, summarised over a set by ``MusicStats.control``. Unlike the
paper's toolkit (mgeval), both densities are evaluated on one grid for KL, and OA integrates
over their tails too (see ``overlap_and_kl``).
"""

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from seqgen.data.codecs.midi import MidiCodec, MidiFileError, MidiOptions, load_midi, read_notes
from seqgen.data.controls import CONTROLS, commonest, piece_controls
from seqgen.data.declaration import corpus_files
from seqgen.data.describe import summarize_skipped
from seqgen.data.notes import Note, polyphony
from seqgen.data.workers import FileProgress
from seqgen.errors import SeqgenError, UsageError
from seqgen.files import json_value
from seqgen.media.harmony import (
    HARMONY_FEATURES,
    Harmonisation,
    harmony_features,
    read_harmonisation,
)

# ---- music: features of a piece --------------------------------------------------------------

PIECE_FEATURES = {
    "pitch_class_histogram": "share of the notes in each pitch class C, C#, ..., B",
    "pitch_count": "distinct pitches",
    "pitch_range": "highest minus lowest pitch, semitones",
    "mean_pitch": "mean MIDI pitch (the register)",
    "note_density": "notes per second from the first onset to the last note's end",
    "polyphony": "notes sounding at once, averaged over the time any note sounds",
    "inter_onset_interval": "mean seconds between successive distinct onsets",
    "note_duration": "mean note duration, seconds",
    "velocity": "mean note-on velocity",
}
FEATURES = PIECE_FEATURES | HARMONY_FEATURES
PITCH_CLASSES = 12
ONSET_DECIMALS = 6  # onsets equal to the microsecond are one onset


def piece_features(notes: Sequence[Note]) -> dict[str, np.ndarray]:
    """Every feature of ``PIECE_FEATURES`` of one piece (at least one note), as a 1-D array:
    12 values for the pitch-class histogram, one for the others (NaN where a piece has none:
    one onset has no inter-onset interval, notes of no duration no density or polyphony)."""
    if not notes:
        raise ValueError("a piece with no notes has no features")
    pitch = np.array([n.pitch for n in notes])
    start = np.array([n.start for n in notes], dtype=np.float64)
    end = np.array([n.end for n in notes], dtype=np.float64)
    onsets = np.unique(np.round(start, ONSET_DECIMALS))
    span = end.max() - start.min()
    scalars = {
        "pitch_count": len(np.unique(pitch)),
        "pitch_range": pitch.max() - pitch.min(),
        "mean_pitch": pitch.mean(),
        "note_density": len(notes) / span if span > 0 else math.nan,
        "polyphony": polyphony(start, end),
        "inter_onset_interval": np.diff(onsets).mean() if len(onsets) > 1 else math.nan,
        "note_duration": (end - start).mean(),
        "velocity": np.mean([n.velocity for n in notes]),
    }
    histogram = np.bincount(pitch % PITCH_CLASSES, minlength=PITCH_CLASSES) / len(notes)
    features = {"pitch_class_histogram": histogram.astype(np.float64)}
    features |= {name: np.array([value], dtype=np.float64) for name, value in scalars.items()}
    return {name: features[name] for name in PIECE_FEATURES}


# ---- music: a set of pieces ------------------------------------------------------------------


Value = float | list[float]  # a scalar feature's, or the pitch-class histogram's, per bin


@dataclass
class MusicStats:
    """The features of a set of pieces: ``values[name]`` has one row per piece (NaN where the
    piece has no such value); the files read and the files skipped, with the reasons."""

    values: dict[str, np.ndarray]
    files: list[str]
    skipped: list[tuple[str, str]]
    # each music control's value of each piece (``seqgen.data.controls``), NaN: none
    controls: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def pieces(self) -> int:
        return len(self.files)

    def defined(self, feature: str) -> np.ndarray:
        """The rows of ``feature`` of the pieces that have it."""
        rows = self.values[feature]
        return rows[~np.isnan(rows).any(axis=1)]

    def features(self) -> list[str]:
        """The features of ``FEATURES`` that some piece of the set has (the harmony features
        only in a set with harmonised pieces)."""
        return [name for name in FEATURES if len(self.defined(name))]

    def mean(self, feature: str) -> Value:
        return summarize(self.defined(feature), np.mean)

    def std(self, feature: str) -> Value:
        """The population standard deviation over the pieces, as ``numpy.std``."""
        return summarize(self.defined(feature), np.std)

    def control(self, name: str) -> dict:
        """A control's distribution over the pieces that have a value of it: the mean and
        standard deviation (population, as ``std``), or for a control of classes (key) the
        commonest with their shares; and how many pieces."""
        values = self.controls[name]
        defined = values[~np.isnan(values)]
        summary: dict = {"pieces": len(defined)}
        if CONTROLS[name].classes:
            return summary | {"commonest": [{"value": value, "share": share} for value, share
                                            in commonest(defined, name, most=5)]}
        return summary | {"mean": float(defined.mean()) if len(defined) else math.nan,
                          "std": float(defined.std()) if len(defined) else math.nan}

    def to_json(self) -> dict:
        return {
            "files": self.pieces,
            "skipped": [{"file": file, "reason": reason} for file, reason in self.skipped],
            "features": {name: {"mean": json_value(self.mean(name)),
                                "std": json_value(self.std(name)),
                                "pieces": len(self.defined(name))} for name in FEATURES},
            "controls": {name: {key: json_value(value) for key, value in
                                self.control(name).items()} for name in self.controls},
        }


def summarize(rows: np.ndarray, statistic: Callable[..., np.ndarray]) -> Value:
    """``statistic`` over the pieces: a float for a scalar feature, a list per bin otherwise."""
    if not len(rows):
        return math.nan if rows.shape[1] == 1 else [math.nan] * rows.shape[1]
    values = statistic(rows, axis=0)
    return float(values[0]) if len(values) == 1 else values.tolist()


def pieces_stats(pieces: Sequence[Sequence[Note]], names: Sequence[str] | None = None,
                 skipped: Sequence[tuple[str, str]] = (),
                 harmonisations: Sequence[Harmonisation | None] | None = None) -> MusicStats:
    """The ``MusicStats`` of pieces given as notes (each with at least one note), and as
    melody and voices where they have them (without, the harmony features are NaN)."""
    names = list(names) if names is not None else [f"piece {i}" for i in range(1, len(pieces) + 1)]
    harmonisations = harmonisations or [None] * len(pieces)
    per_piece = [piece_features(notes) | {name: np.array([value]) for name, value in
                                          harmony_features(harmonisation).items()}
                 for notes, harmonisation in zip(pieces, harmonisations, strict=True)]
    values = {name: np.array([f[name] for f in per_piece], dtype=np.float64)
              .reshape(len(pieces), feature_width(name)) for name in FEATURES}
    controls = [piece_controls(notes) for notes in pieces]
    measured = {name: np.array([c[name] for c in controls], dtype=np.float64)
                for name in CONTROLS}
    return MusicStats(values, names, list(skipped), measured)


def feature_width(feature: str) -> int:
    return PITCH_CLASSES if feature == "pitch_class_histogram" else 1


def music_stats(source: str | Path | Iterable[str | Path], options: MidiOptions | None = None,
                progress: FileProgress | None = None,
                melody_track: str | None = None) -> MusicStats:
    """The ``MusicStats`` of MIDI files (a list of them, or a file or a folder of them)
    read with ``read_notes``, and as melody and voices with ``read_harmonisation`` (the melody
    track ``melody_track``, a name or an index, or found by its name); a file that cannot be
    used is skipped with its reason, and none usable is an error, as is a ``melody_track``
    that no file has beside another track of notes. ``progress(done, total)`` is called after
    each file."""
    paths = corpus_files(Path(source), MidiCodec.suffixes) if isinstance(source, str | Path) \
        else list(source)
    options = options or MidiOptions()
    pieces, harmonisations, names, skipped = [], [], [], []
    for done, path in enumerate(paths, 1):
        try:
            midi = load_midi(path)
            pieces.append(read_notes(midi, options))
            harmonisations.append(read_harmonisation(midi, options, melody_track))
            names.append(str(path))
        except MidiFileError as exc:
            skipped.append((str(path), str(exc)))
        if progress:
            progress(done, len(paths))
    if not pieces:
        raise SeqgenError(f"no usable MIDI file: {summarize_skipped(skipped)}")
    if melody_track is not None and not any(harmonisations):
        where = source if isinstance(source, str | Path) else "the files"
        raise UsageError(f"no file in {where} has a melody track {melody_track!r} beside "
                         "another track of notes: give a track's name or its index from 0")
    return pieces_stats(pieces, names, skipped, harmonisations)


# ---- music: comparing two sets ---------------------------------------------------------------

DISTANCE_PIECES = 1000  # larger sets are thinned (evenly, in order) to this for the distances
GRID_POINTS = 1024  # where each density is evaluated
GRID_MARGIN = 4.0  # the grid reaches this many bandwidths beyond the data on either side
MIN_BANDWIDTH = 0.01  # of the distances' span: a set whose distances are all equal


@dataclass(frozen=True)
class Comparison:
    """One feature of two sets a and b: the absolute measurement (mean and standard deviation
    over each set's pieces) and the relative one: the overlap area and KL(intra || inter) of
    each set's intra-set distance density against the inter-set distance density. NaN where
    there is no such density, and ``unmeasured_a`` (``_b``) says why: fewer than three of the
    set's pieces have the feature (fewer than two intra-set distances), no piece of the other
    set has it, or every one has the same value (no spread: its distances are all zero) and
    the other set's pieces do not all have it too (then OA is 1 and KL 0)."""

    feature: str
    mean_a: Value
    std_a: Value
    mean_b: Value
    std_b: Value
    overlap_a: float
    kl_a: float
    overlap_b: float
    kl_b: float
    unmeasured_a: str = ""
    unmeasured_b: str = ""

    def to_json(self) -> dict:
        return {name: json_value(value) for name, value in asdict(self).items()}


def compare_music(a: MusicStats, b: MusicStats) -> list[Comparison]:
    """Each feature that either set has compared between the two (see ``Comparison``)."""
    return [compare_feature(name, a, b) for name in FEATURES
            if name in a.features() or name in b.features()]


def compare_feature(feature: str, a: MusicStats, b: MusicStats) -> Comparison:
    rows_a, rows_b = thinned(a.defined(feature)), thinned(b.defined(feature))
    inter = inter_set_distances(rows_a, rows_b)
    why_a, why_b = unmeasured(rows_a, rows_b), unmeasured(rows_b, rows_a)
    overlap_a, kl_a = distance_fit(rows_a, inter, why_a)
    overlap_b, kl_b = distance_fit(rows_b, inter, why_b)
    return Comparison(feature, a.mean(feature), a.std(feature), b.mean(feature), b.std(feature),
                      overlap_a, kl_a, overlap_b, kl_b, why_a, why_b)


def control_overlap(name: str, a: MusicStats, b: MusicStats) -> float:
    """How well set a's distribution of a music control (each piece measured whole) stands
    for set b's: for a control of numbers, the overlap area of a's intra-set distances against
    the inter-set ones, as for a feature (``compare_feature``); for a key, the overlap of the
    two sets' shares of each key (the sum over the keys of the smaller share). NaN where a set
    has no value of it (a control of numbers: fewer than three pieces, or no spread)."""
    rows_a, rows_b = (s.controls[name][~np.isnan(s.controls[name])] for s in (a, b))
    if not len(rows_a) or not len(rows_b):
        return math.nan
    if CONTROLS[name].classes:
        classes = len(CONTROLS[name].classes)
        shares_a, shares_b = (np.bincount(rows.astype(np.int64), minlength=classes) / len(rows)
                              for rows in (rows_a, rows_b))
        return float(np.minimum(shares_a, shares_b).sum())
    rows_a, rows_b = thinned(rows_a[:, None]), thinned(rows_b[:, None])
    overlap, _ = distance_fit(rows_a, inter_set_distances(rows_a, rows_b),
                              unmeasured(rows_a, rows_b))
    return overlap


def unmeasured(rows: np.ndarray, other: np.ndarray) -> str:
    """Why a set of ``rows`` has no overlap area and KL against ``other``'s; "" where it has."""
    if len(rows) < 3:
        return "fewer than 3 of its pieces have the feature"
    if not len(other):
        return "no piece of the other set has the feature"
    if (rows == rows[0]).all() and not (other == rows[0]).all():  # one value in both: OA 1
        return "no spread (every piece has the same value)"
    return ""


def distance_fit(rows: np.ndarray, inter: np.ndarray, why: str) -> tuple[float, float]:
    """The overlap area and KL of a set's intra-set distances against the inter-set ones;
    NaN where ``why`` says they cannot be measured."""
    return (math.nan, math.nan) if why else overlap_and_kl(intra_set_distances(rows), inter)


def thinned(rows: np.ndarray, most: int = DISTANCE_PIECES) -> np.ndarray:
    """At most ``most`` rows, evenly spaced (deterministic)."""
    if len(rows) <= most:
        return rows
    return rows[np.linspace(0, len(rows) - 1, most).round().astype(int)]


def pairwise_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Euclidean distances between each row of ``x`` and each row of ``y``: (len(x), len(y))."""
    squares = sum((x[:, None, k] - y[None, :, k]) ** 2 for k in range(x.shape[1]))
    return np.sqrt(squares)


def intra_set_distances(rows: np.ndarray) -> np.ndarray:
    """The distance between every two pieces of a set, each pair once."""
    return pairwise_distances(rows, rows)[np.triu_indices(len(rows), k=1)]


def inter_set_distances(rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
    """The distance from every piece of one set to every piece of the other."""
    return pairwise_distances(rows_a, rows_b).ravel()


def overlap_and_kl(p_samples: np.ndarray, q_samples: np.ndarray) -> tuple[float, float]:
    """The overlap area and KL(p || q), in nats, of the Gaussian kernel density estimates p
    and q of two samples; NaN for a sample of fewer than two values.

    Each density has its own bandwidth, Scott's rule as ``scipy.stats.gaussian_kde`` (sample
    standard deviation times n ** -1/5), at least ``MIN_BANDWIDTH`` of the span of both
    samples. Both are evaluated on one grid of ``GRID_POINTS`` over the span plus
    ``GRID_MARGIN`` bandwidths each side, normalised there, and integrated with the grid step:
    OA = sum(min(p, q)) dx, KL = sum(p log(p / q)) dx with log densities computed exactly
    (log-sum-exp), so KL is finite and grows without bound as the densities part.
    Two samples of one and the same value give OA 1 and KL 0.
    """
    if len(p_samples) < 2 or len(q_samples) < 2:
        return math.nan, math.nan
    low = min(p_samples.min(), q_samples.min())
    high = max(p_samples.max(), q_samples.max())
    if high == low:
        return 1.0, 0.0
    floor = MIN_BANDWIDTH * (high - low)
    p_width = max(scott_bandwidth(p_samples), floor)
    q_width = max(scott_bandwidth(q_samples), floor)
    margin = GRID_MARGIN * max(p_width, q_width)
    grid = np.linspace(low - margin, high + margin, GRID_POINTS)
    log_p, log_q = log_density(p_samples, grid, p_width), log_density(q_samples, grid, q_width)
    step = grid[1] - grid[0]
    p = np.exp(log_p)
    overlap = np.minimum(p, np.exp(log_q)).sum() * step
    kl = (p * (log_p - log_q)).sum() * step
    return float(overlap), float(max(kl, 0.0))


def scott_bandwidth(samples: np.ndarray) -> float:
    return float(np.std(samples, ddof=1)) * len(samples) ** -0.2


def log_density(samples: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """The log of a Gaussian KDE on an even grid (inside which the samples lie), normalised to
    integrate to 1 there; the samples are first binned linearly onto the grid points."""
    step = grid[1] - grid[0]
    position = (samples - grid[0]) / step
    left = np.floor(position).astype(np.int64)
    right_share = position - left
    weights = (np.bincount(left, 1 - right_share, len(grid))
               + np.bincount(left + 1, right_share, len(grid)))
    used = weights > 0
    offsets = (grid[:, None] - grid[used][None, :]) / bandwidth
    log_values = log_sum_exp(np.log(weights[used]) - 0.5 * offsets**2, axis=1)
    return log_values - log_sum_exp(log_values) - math.log(step)


def log_sum_exp(values: np.ndarray, axis: int | None = None) -> np.ndarray:
    top = values.max(axis=axis, keepdims=True)
    sums = np.log(np.exp(values - top).sum(axis=axis, keepdims=True)) + top
    return sums.squeeze(axis) if axis is not None else sums.item()
