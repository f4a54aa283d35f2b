"""Music controls: values measured from the music itself, a window centred on each token, that
a model can be given to steer what it writes (as Magenta's Performance RNN does with note
density and a pitch-class histogram).

A ``Control`` says what one measures and how: its name, unit and description, the value of a
window of notes (``Control.measure``) and of a whole piece (``Control.measure_piece``), how a
user's value reads (``Control.parse``) and shows (``Control.show``). The controls:

- ``density``: onsets per second in the window (the window cut to the piece: no fewer notes
  per second at its edges);
- ``key``: the tonic and mode of the window's duration-weighted pitch-class histogram,
  Krumhansl-Schmuckler: the likeliest of the 24 rotated Krumhansl-Kessler major and minor
  profiles by Pearson correlation; a class index, 0-11 major on C..B, 12-23 minor on C..B;
- ``register``: the mean MIDI pitch of the notes sounding in the window;
- ``dynamics``: the mean velocity of the window's onsets.

A window with no note sounding in it has no value (NaN; dynamics: no onset in it), a state of
its own: ``Bins.none``.

A codec that can be measured declares which controls (``Codec.controls``) and decodes its
tokens to notes and each token's time (``Codec.control_notes``); ``measure_controls`` then
measures every control at every token (of an augmented item too: on the tokens as trained).
``fit_bins`` cuts a corpus's values into named bins at its quantiles (``Bins``: JSON, for a
checkpoint); ``parse_control`` reads a user's ``--control NAME=VALUE`` (a bin's name, a number
in the control's unit, a key's name, or a ramp ``2@0s,8@20s``) as a ``ControlSetting``, a value
at every second. A model trained with controls records its ``ControlScheme`` (``fit_scheme``:
the bins of each control fitted to its training pieces), which gives each step's ids: measured,
left free, or as a user set them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from seqgen.config import DEFAULT_CONTROL_BINS, DEFAULT_CONTROL_FREE
from seqgen.config import MAX_CONTROL_BINS as MAX_BINS
from seqgen.data.notes import Note, note_name
from seqgen.errors import PluginError, UsageError

if TYPE_CHECKING:
    from seqgen.data.codecs.base import Codec

DEFAULT_WINDOW = 4.0  # seconds, centred on the token (Performance RNN: 2 to 4 s)
PITCH_CLASSES = 12

# Krumhansl and Kessler 1982: the probe-tone ratings of each pitch class in C major and C minor
MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
# a key's tonic as its key signature spells it (the fewer accidentals; six: F# major, Eb minor)
MAJOR_TONICS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MINOR_TONICS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
KEY_NAMES = tuple(f"{tonic}-major" for tonic in MAJOR_TONICS) + \
    tuple(f"{tonic}-minor" for tonic in MINOR_TONICS)
KEY_FORMS = "a key such as D-major, Bb-minor, F#-major, 'D major', Dm, Ebmin, C (major)"
LETTERS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
ACCIDENTALS = {"": 0, "#": 1, "\u266f": 1, "b": -1, "\u266d": -1}
KEY_PATTERN = re.compile(r"([a-g])\s*(#|\u266f|b|\u266d)?\s*[-_ ]?\s*(major|maj|minor|min|m)?",
                         re.IGNORECASE)

# bin names by the number of bins; more than seven are level-1 ... level-N
BIN_NAMES = {
    1: ("mid",),
    2: ("low", "high"),
    3: ("low", "mid", "high"),
    4: ("very-low", "low", "high", "very-high"),
    5: ("very-low", "low", "mid", "high", "very-high"),
    6: ("very-low", "low", "mid-low", "mid-high", "high", "very-high"),
    7: ("very-low", "low", "mid-low", "mid", "mid-high", "high", "very-high"),
}


def bin_names(count: int) -> tuple[str, ...]:
    """The names of ``count`` bins, lowest first."""
    return BIN_NAMES.get(count) or tuple(f"level-{i}" for i in range(1, count + 1))


# ---- notes as arrays -------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteArrays:
    """Notes as arrays (seconds, float64), with what the windows' sums need: starts and ends
    sorted, and the running sums of the values a control adds up in each order."""

    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray

    @classmethod
    def of(cls, notes: Iterable[Note]) -> NoteArrays:
        """Anything with ``pitch``, ``start``, ``end`` and ``velocity`` (a ``seqgen.Note``);
        an end before its start is taken as the start."""
        rows = np.array([(n.start, n.end, n.pitch, n.velocity) for n in notes],
                        dtype=np.float64).reshape(-1, 4)
        order = np.argsort(rows[:, 0], kind="stable")
        start, end, pitch, velocity = rows[order].T
        return cls(start, np.maximum(end, start), pitch, velocity)

    @classmethod
    def of_arrays(cls, pitch: np.ndarray, start: np.ndarray, end: np.ndarray,
                  velocity: np.ndarray) -> NoteArrays:
        """Notes given as arrays (float64, seconds), in any order."""
        order = np.argsort(start, kind="stable")
        return cls(start[order], np.maximum(end, start)[order], pitch[order], velocity[order])

    def __len__(self) -> int:
        return len(self.start)

    @property
    def span(self) -> tuple[float, float]:
        """From the first onset to the last end (0, 0 without notes)."""
        return (float(self.start.min()), float(self.end.max())) if len(self) else (0.0, 0.0)

    def onsets(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The onsets in each window [a, b), as a slice of the sorted starts: (first,
        last + 1) of each."""
        first = np.searchsorted(self.start, a, "left")
        last = np.searchsorted(self.start, b, "left")
        return first, last

    def sounding(self, a: np.ndarray, b: np.ndarray, values: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        """The count of the notes sounding in each window (start < b, end > a) and the sum
        of their ``values``: those begun before b less those ended by a."""
        by_end = np.argsort(self.end, kind="stable")
        begun = np.searchsorted(self.start, b, "left")
        ended = np.searchsorted(self.end[by_end], a, "right")
        begun_sum = np.concatenate([[0.0], np.cumsum(values)])[begun]
        ended_sum = np.concatenate([[0.0], np.cumsum(values[by_end])])[ended]
        return begun - ended, begun_sum - ended_sum

    def pitch_class_time(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The seconds each pitch class sounds in each window [windows, 12] (notes of a class
        sounding together counted each): what has sounded by b less what had by a."""
        return self.sounded_by(b) - self.sounded_by(a)

    def sounded_by(self, t: np.ndarray) -> np.ndarray:
        """The seconds each pitch class has sounded by each time t [times, 12]: over its notes,
        the sum of (t - start) over those begun less (t - end) over those ended (running sums
        over the notes by start and by end, a column per class)."""
        classes = np.eye(PITCH_CLASSES)[self.pitch.astype(np.int64) % PITCH_CLASSES]
        by_end = np.argsort(self.end, kind="stable")
        sounded = np.zeros((len(t), PITCH_CLASSES))
        for times, rows, sign in ((self.start, classes, 1.0),
                                  (self.end[by_end], classes[by_end], -1.0)):
            counts = np.concatenate([np.zeros((1, PITCH_CLASSES)), np.cumsum(rows, 0)])
            sums = np.concatenate([np.zeros((1, PITCH_CLASSES)),
                                   np.cumsum(rows * times[:, None], 0)])
            done = np.searchsorted(times, t, "left")
            sounded += sign * (counts[done] * t[:, None] - sums[done])
        return sounded


# ---- the measures ----------------------------------------------------------------------------


def profiles() -> np.ndarray:
    """The 24 key profiles [24, 12]: the major profile rotated to each tonic C..B, then the
    minor's (the order of ``KEY_NAMES``)."""
    rows = [np.roll(profile, tonic) for profile in (MAJOR_PROFILE, MINOR_PROFILE)
            for tonic in range(PITCH_CLASSES)]
    return np.array(rows, dtype=np.float64)


KEY_PROFILES = profiles()


def key_correlations(histograms: np.ndarray) -> np.ndarray:
    """The Pearson correlation of each pitch-class histogram [n, 12] with each key profile:
    [n, 24], NaN for a histogram with no spread (no notes, or every class alike)."""
    centred = histograms - histograms.mean(axis=1, keepdims=True)
    keys = KEY_PROFILES - KEY_PROFILES.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True) * np.linalg.norm(keys, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlations = centred @ keys.T / norms
    spread = histograms.max(axis=1) - histograms.min(axis=1) > 1e-9 * np.maximum(
        histograms.max(axis=1), 1)
    correlations[~spread] = np.nan
    return correlations


def key_of_histograms(histograms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The likeliest key of each pitch-class histogram [n, 12] (a ``KEY_NAMES`` index, NaN
    where none) and its correlation."""
    correlations = key_correlations(histograms)
    defined = ~np.isnan(correlations).any(axis=1)
    best = np.full(len(histograms), np.nan)
    best[defined] = correlations[defined].argmax(axis=1)
    r = np.full(len(histograms), np.nan)
    r[defined] = correlations[defined].max(axis=1)
    return best, r


@dataclass(frozen=True)
class KeyEstimate:
    """A piece's key: its index in ``KEY_NAMES`` (NaN: no key), name and correlation."""

    index: float
    correlation: float

    @property
    def name(self) -> str:
        return "none" if math.isnan(self.index) else KEY_NAMES[int(self.index)]


def estimate_key(notes: Iterable[Note]) -> KeyEstimate:
    """The key of notes (Krumhansl-Schmuckler over their duration-weighted pitch classes)."""
    arrays = notes if isinstance(notes, NoteArrays) else NoteArrays.of(notes)
    low, high = arrays.span
    histogram = arrays.pitch_class_time(np.array([low]), np.array([high]))
    index, r = key_of_histograms(histogram)
    return KeyEstimate(float(index[0]), float(r[0]))


def density(notes: NoteArrays, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    first, last = notes.onsets(a, b)
    count, _ = notes.sounding(a, b, notes.pitch)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = (last - first) / (b - a)
    return np.where(count > 0, values, np.nan)


def key(notes: NoteArrays, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return key_of_histograms(notes.pitch_class_time(a, b))[0]


def register(notes: NoteArrays, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    count, pitches = notes.sounding(a, b, notes.pitch)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, pitches / count, np.nan)


def dynamics(notes: NoteArrays, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    first, last = notes.onsets(a, b)
    sums = np.concatenate([[0.0], np.cumsum(notes.velocity)])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(last > first, (sums[last] - sums[first]) / (last - first), np.nan)


# ---- the controls ----------------------------------------------------------------------------


Measure = Callable[[NoteArrays, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Control:
    """One control: what it measures and how its values read and show.

    ``measure(notes, a, b)``: its value in each window [a, b) (seconds), NaN where a window has
    none. A control of ``classes`` (key) has a class's index as its value, and its names for
    bins; any other has numbers in ``unit``, from ``low`` to ``high`` (what a user may give),
    binned at a corpus's quantiles (``fit_bins``)."""

    name: str
    unit: str
    description: str
    window_measure: Measure
    low: float = -math.inf
    high: float = math.inf
    classes: tuple[str, ...] = ()
    digits: int = 1  # decimals shown
    pitch: bool = False  # a value that is a pitch: shown with its note's name

    def measure(self, notes: NoteArrays | Iterable[Note], a: Sequence[float] | np.ndarray,
                b: Sequence[float] | np.ndarray) -> np.ndarray:
        """The value in each window [a, b) (NaN: none)."""
        arrays = notes if isinstance(notes, NoteArrays) else NoteArrays.of(notes)
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if not len(arrays):
            return np.full(len(a), np.nan)
        return self.window_measure(arrays, a, b)

    def measure_piece(self, notes: NoteArrays | Iterable[Note]) -> float:
        """The value of a whole piece: one window from its first onset to its last end."""
        arrays = notes if isinstance(notes, NoteArrays) else NoteArrays.of(notes)
        low, high = arrays.span
        return float(self.measure(arrays, [low], [max(high, low + 1e-9)])[0])

    def show(self, value: float) -> str:
        """A value as a user reads it: ``6.2 notes/s``, ``G-major``, ``64.3 (E4)``, ``80``;
        ``none`` for NaN."""
        if math.isnan(value):
            return "none"
        if self.classes:
            return self.classes[int(value)]
        text = f"{value:.{self.digits}f}"
        if self.pitch:
            return f"{text} ({note_name(round(value))})"
        return f"{text} {self.unit}" if self.unit == "notes/s" else text

    def accepted(self, bins: Bins | None = None) -> str:
        """What a user may give, for an error."""
        if self.classes:
            return KEY_FORMS
        number = f"a number of {self.unit} from {self.low:g} to {self.high:g}"
        if bins is None:
            return number
        return f"a bin ({', '.join(bins.names)}) or {number}"

    def parse(self, text: str, bins: Bins | None = None, flag: str = "--control") -> float:
        """A user's value of this control: a class's name (a key, any spelling), a bin's name
        (the median of the corpus's values in it), or a number in ``unit`` within ``low`` and
        ``high``. Anything else is a one-line usage error that lists what is accepted."""
        given = text.strip()
        where = f"{flag} {self.name}={text}"
        if self.classes:
            index = parse_key(given)
            if index is None:
                raise UsageError(f"{where}: not a key: give {KEY_FORMS}")
            return float(index)
        if bins is not None and given.casefold() in bins.names:
            return bins.centres[bins.names.index(given.casefold())]
        try:
            value = float(given)
        except ValueError:
            what = "a bin" if bins is not None else "a number"
            raise UsageError(f"{where}: not {what} of {self.name}: give "
                             f"{self.accepted(bins)}") from None
        if not self.low <= value <= self.high:
            raise UsageError(f"{where}: out of range: give {self.accepted(bins)}")
        return value

    def bins(self, values: Tensor | np.ndarray | Sequence[float], count: int) -> Bins:
        """This control's bins for a corpus's ``values`` (NaN: none, left out): its classes
        for a control of classes, else ``fit_bins``."""
        if self.classes:
            return Bins(self.name, self.classes)
        return fit_bins(values, count, self.name)


CONTROLS: dict[str, Control] = {control.name: control for control in (
    Control("density", "notes/s", "onsets per second in the window (cut to the piece)", density,
            low=0.0, high=100.0),
    Control("key", "", "tonic and mode, Krumhansl-Schmuckler on the window's duration-weighted "
            "pitch classes", key, classes=KEY_NAMES),
    Control("register", "MIDI pitch", "mean MIDI pitch of the notes sounding in the window",
            register, low=0.0, high=127.0, pitch=True),
    Control("dynamics", "velocity", "mean velocity of the window's onsets", dynamics,
            low=1.0, high=127.0, digits=0),
)}


def get_control(name: str, flag: str = "--controls") -> Control:
    """The control ``name``, or a usage error listing them."""
    control = CONTROLS.get(name.strip().casefold())
    if control is None:
        raise UsageError(f"{flag}: no control {name.strip()!r}: give any of "
                         f"{', '.join(CONTROLS)}")
    return control


def parse_key(text: str) -> int | None:
    """A key's ``KEY_NAMES`` index from any usual spelling (``D-major``, ``D major``, ``Dmaj``,
    ``Bb-minor``, ``A#m``, ``Dm``, ``D``: major, enharmonics alike), None if it is not one. A
    lone ``m`` is minor and ``M`` major; words of mode in any case."""
    match = KEY_PATTERN.fullmatch(text.strip())
    if match is None:
        return None
    letter, accidental, mode = match.groups()
    tonic = (LETTERS[letter.lower()] + ACCIDENTALS[(accidental or "").lower()]) % PITCH_CLASSES
    minor = mode is not None and (mode == "m" or mode.lower().startswith("min"))
    return tonic + (PITCH_CLASSES if minor else 0)


# ---- measuring a codec's tokens --------------------------------------------------------------


def measure_notes(notes: Iterable[Note], times: Tensor | Sequence[float],
                  names: Sequence[str], window: float = DEFAULT_WINDOW,
                  duration: float | None = None) -> Tensor:
    """Each control of ``names`` at each of ``times`` (seconds): float32 [len(times),
    len(names)], NaN where a window has no value. The window of a time t is [t - window/2,
    t + window/2) cut to the piece, [0, ``duration``] (by default to the last note's end or
    the last time, whichever is later)."""
    if not window > 0:
        raise UsageError(f"a control's window must be a positive number of seconds, "
                         f"not {window!r}")
    controls = [get_control(name) for name in names]
    arrays = notes if isinstance(notes, NoteArrays) else NoteArrays.of(notes)
    t = torch.as_tensor(times, dtype=torch.float64).numpy()
    values = np.full((len(t), len(controls)), np.nan)
    if len(t):
        moments, inverse = np.unique(t, return_inverse=True)
        end = duration if duration is not None else max(arrays.span[1], float(moments[-1]))
        a = np.clip(moments - window / 2, 0.0, None)
        b = np.maximum(np.minimum(moments + window / 2, end), a + 1e-9)
        for column, control in enumerate(controls):
            values[:, column] = control.measure(arrays, a, b)[inverse]
    return torch.from_numpy(values).float()


def codec_controls(codec: Codec) -> tuple[str, ...]:
    """The controls a codec declares it can measure (none for one that does not implement
    ``controls``); a name seqgen does not know is the codec's plugin's bug."""
    if not codec.implements("controls"):
        return ()
    names = tuple(codec.controls())
    unknown = [name for name in names if name not in CONTROLS]
    if unknown or not codec.implements("control_notes"):
        what = f"declares the control {unknown[0]!r}, which seqgen does not know (known: " \
            f"{', '.join(CONTROLS)})" if unknown else "defines controls() without control_notes()"
        raise PluginError(f"the {codec.name} codec {what}")
    return names


def check_controls(codec: Codec, names: Sequence[str], flag: str = "--controls") -> None:
    """Every control of ``names`` is one ``codec`` measures, or a usage error saying which it
    measures."""
    for name in names:
        get_control(name, flag)
    measured = codec_controls(codec)
    missing = [name for name in names if name not in measured]
    if missing:
        offer = f"it measures {', '.join(measured)}" if measured else \
            "it measures none (leave the controls out, or train on a format of notes)"
        raise UsageError(f"{flag}: the {codec.name} codec cannot measure "
                         f"{', '.join(missing)}: {offer}")


def measure_controls(codec: Codec, tokens: Tensor, names: Sequence[str],
                     window: float = DEFAULT_WINDOW) -> Tensor:
    """Each control of ``names`` at each token of ``tokens`` (as trained: after any
    augmentation), measured over a window of ``window`` seconds centred on the token's time:
    float32 [len(tokens), len(names)], NaN where a window has no value. ``codec`` declares the
    controls (``Codec.controls``) and gives the notes and times (``Codec.control_notes``)."""
    check_controls(codec, names)
    tokens = torch.as_tensor(tokens)
    notes, times = codec.control_notes(tokens)
    times = torch.as_tensor(times, dtype=torch.float64)
    if times.shape != (len(tokens),):
        raise PluginError(f"the {codec.name} codec's control_notes gave {tuple(times.shape)} "
                          f"times for {len(tokens)} tokens: give one time per token")
    return measure_notes(notes, times, names, window)


def piece_controls(notes: Iterable[Note], names: Sequence[str] = tuple(CONTROLS)
                   ) -> dict[str, float]:
    """Each control's value of a whole piece (NaN: none)."""
    arrays = notes if isinstance(notes, NoteArrays) else NoteArrays.of(notes)
    return {name: get_control(name).measure_piece(arrays) for name in names}


def describe_piece(notes: Iterable[Note], names: Sequence[str] = tuple(CONTROLS)
                   ) -> dict[str, str]:
    """Each control's value of a whole piece as a user reads it (``Control.show``; a key with
    its correlation: ``G-major (r 0.95)``)."""
    arrays = notes if isinstance(notes, NoteArrays) else NoteArrays.of(notes)
    shown = {name: get_control(name).show(value)
             for name, value in piece_controls(arrays, names).items()}
    if "key" in shown:
        estimate = estimate_key(arrays)
        if not math.isnan(estimate.index):
            shown["key"] = f"{estimate.name} (r {estimate.correlation:.2f})"
    return shown


def commonest(values: Sequence[float] | np.ndarray, control: str, most: int = 3
              ) -> list[tuple[str, float]]:
    """The commonest values of a control of classes (a set's keys) and their shares of the
    values that are not NaN, commonest first (ties: in class order)."""
    classes = get_control(control).classes
    data = np.asarray(values, dtype=np.float64)
    data = data[~np.isnan(data)].astype(np.int64)
    if not len(data):
        return []
    counts = np.bincount(data, minlength=len(classes))
    order = sorted(np.flatnonzero(counts), key=lambda i: (-counts[i], i))[:most]
    return [(classes[i], float(counts[i] / len(data))) for i in order]


# ---- bins ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bins:
    """A control's values cut into named bins, lowest first: a value's bin is the number of
    ``edges`` at or below it (a control of classes: its class). ``centres`` are the median of
    the fitted values in each bin (what a bin's name stands for), ``low`` and ``high`` their
    range. The bin ``none`` (``len(names)``) is a window without a value; a model's input has
    ``states`` of them. JSON-serialisable, for a checkpoint."""

    control: str
    names: tuple[str, ...]
    edges: tuple[float, ...] = ()
    centres: tuple[float, ...] = ()
    low: float = math.nan
    high: float = math.nan
    classes: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", not self.edges and not self.centres)
        if not self.classes and not len(self.edges) + 1 == len(self.names) == len(self.centres):
            raise ValueError(f"bins of {self.control}: {len(self.names)} names, "
                             f"{len(self.edges)} edges and {len(self.centres)} centres")

    @property
    def none(self) -> int:
        """The bin of a window without a value."""
        return len(self.names)

    @property
    def states(self) -> int:
        """The bins and the state of no value."""
        return len(self.names) + 1

    def bin_of(self, value: float) -> int:
        """The bin of one value (``none`` for NaN)."""
        return int(self.bins_of(torch.tensor([value], dtype=torch.float64))[0])

    def bins_of(self, values: Tensor) -> Tensor:
        """The bin of each value (int64, ``none`` for NaN)."""
        values = torch.as_tensor(values, dtype=torch.float64)
        missing = torch.isnan(values)
        if self.classes:
            found = values.nan_to_num(0).long().clamp(0, len(self.names) - 1)
        else:
            edges = torch.tensor(self.edges, dtype=torch.float64)
            found = torch.bucketize(values.nan_to_num(0), edges, right=True)
        return torch.where(missing, self.none, found)

    def name_of(self, index: int) -> str:
        return self.names[index] if index < len(self.names) else "none"

    def to_json(self) -> dict:
        data: dict = {"control": self.control, "names": list(self.names)}
        if not self.classes:
            data |= {"edges": list(self.edges), "centres": list(self.centres),
                     "low": self.low, "high": self.high}
        return data

    @classmethod
    def from_json(cls, data: Mapping) -> Bins:
        return cls(data["control"], tuple(data["names"]), tuple(data.get("edges", ())),
                   tuple(data.get("centres", ())), data.get("low", math.nan),
                   data.get("high", math.nan))


def fit_bins(values: Tensor | np.ndarray | Sequence[float], count: int,
             control: str = "") -> Bins:
    """``count`` bins (at most: fewer where values repeat) of a corpus's ``values`` (NaN left
    out) at their quantiles: each holds about as many values, and none is empty. An edge lies
    halfway between the last value of its lower bin and the next value above it."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_BINS:
        raise UsageError(f"bins of {control or 'a control'}: give a whole number from 1 to "
                         f"{MAX_BINS}, not {count!r}")
    data = torch.as_tensor(values, dtype=torch.float64).reshape(-1).numpy()
    data = np.sort(data[~np.isnan(data)])
    if not len(data):
        raise UsageError(f"no value of {control or 'the control'} to fit bins to: the corpus "
                         "has no window with notes")
    distinct = np.unique(data)
    edges = []
    for k in range(1, count):
        last = data[math.ceil(k * len(data) / count) - 1]  # the last value of bin k - 1
        above = distinct[np.searchsorted(distinct, last, "right"):]
        if len(above) and (not edges or (last + above[0]) / 2 > edges[-1]):
            edges.append(float((last + above[0]) / 2))
    which = np.searchsorted(np.array(edges), data, "right")
    centres = tuple(float(np.median(data[which == i])) for i in range(len(edges) + 1))
    return Bins(control, bin_names(len(edges) + 1), tuple(edges), centres, float(data[0]),
                float(data[-1]))


# ---- settings a user gives -------------------------------------------------------------------


@dataclass(frozen=True)
class ControlSetting:
    """A control's value over time, as a user gave it: ``points`` (seconds, value), in time
    order; between two, a value moves linearly (a control of classes holds each until the
    next); before the first and after the last, it holds."""

    control: str
    points: tuple[tuple[float, float], ...]
    classes: bool = False

    def value_at(self, seconds: float | Tensor) -> Tensor:
        """The value at each of ``seconds`` (float64)."""
        t = torch.as_tensor(seconds, dtype=torch.float64)
        times = torch.tensor([p[0] for p in self.points], dtype=torch.float64)
        values = torch.tensor([p[1] for p in self.points], dtype=torch.float64)
        after = torch.bucketize(t, times, right=True)  # points at or before t
        before_index = (after - 1).clamp(0, len(times) - 1)
        if self.classes:
            return values[before_index]
        next_index = after.clamp(0, len(times) - 1)
        t0, t1 = times[before_index], times[next_index]
        v0, v1 = values[before_index], values[next_index]
        share = torch.where(t1 > t0, (t - t0) / (t1 - t0), torch.zeros_like(t)).clamp(0, 1)
        return v0 + share * (v1 - v0)

    def bins_at(self, seconds: float | Tensor, bins: Bins) -> Tensor:
        """The bin at each of ``seconds``."""
        return bins.bins_of(self.value_at(seconds))


TIME_PATTERN = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*s?", re.IGNORECASE)
CONTROL_FORMS = "NAME=VALUE (density=high, key=D-major, register=60) or a ramp " \
    "NAME=VALUE@SECONDS,... (density=2@0s,8@20s)"


def parse_control(text: str, bins: Mapping[str, Bins] | None = None,
                  flag: str = "--control") -> ControlSetting:
    """A user's ``NAME=VALUE`` or ramp ``NAME=VALUE@SECONDS,VALUE@SECONDS...`` as a
    ``ControlSetting``. ``bins``: a model's bins by control (their names are values; a
    control it lacks is an error); without, numbers and keys only."""
    name, sign, given = text.partition("=")
    if not sign or not name.strip() or not given.strip():
        raise UsageError(f"{flag} {text!r}: give {CONTROL_FORMS}")
    control = get_control(name, flag)
    if bins is not None and control.name not in bins:
        offer = ", ".join(bins) or "none"
        raise UsageError(f"{flag} {text}: the model was not trained with {control.name}: its "
                         f"controls are {offer}")
    its_bins = bins.get(control.name) if bins is not None else None
    parts = [part.strip() for part in given.split(",")]
    if len(parts) == 1 and "@" not in parts[0]:
        return ControlSetting(control.name, ((0.0, control.parse(parts[0], its_bins, flag)),),
                              bool(control.classes))
    points = []
    for part in parts:
        value, at, when = part.rpartition("@")
        if not at or not value.strip():
            raise UsageError(f"{flag} {text}: {part!r} is not a point of a ramp: give each as "
                             "VALUE@SECONDS (density=2@0s,8@20s)")
        match = TIME_PATTERN.fullmatch(when.strip())
        if match is None:
            raise UsageError(f"{flag} {text}: {when.strip()!r} is not a time: give seconds "
                             "such as 0s or 20s after each @")
        seconds = float(match.group(1))
        if points and seconds <= points[-1][0]:
            raise UsageError(f"{flag} {text}: the times of a ramp must rise ({seconds:g}s "
                             f"after {points[-1][0]:g}s): give its points in time order")
        points.append((seconds, control.parse(value, its_bins, flag)))
    return ControlSetting(control.name, tuple(points), bool(control.classes))


def parse_controls(texts: Sequence[str], bins: Mapping[str, Bins] | None = None,
                   flag: str = "--control") -> dict[str, ControlSetting]:
    """Every ``--control`` a user gave, by control (each once)."""
    settings: dict[str, ControlSetting] = {}
    for text in texts:
        setting = parse_control(text, bins, flag)
        if setting.control in settings:
            raise UsageError(f"{flag}: {setting.control} given twice: give each control once "
                             "(a ramp for one that changes: density=2@0s,8@20s)")
        settings[setting.control] = setting
    return settings


# ---- a model's controls ----------------------------------------------------------------------


@dataclass(frozen=True)
class ControlScheme:
    """The controls a model is trained with: each one's bins (fitted on the training items,
    recorded in the checkpoint), the window they are measured over, and the chance ``free``
    that training leaves a control free for a whole item, so that a user may leave it free
    when sampling (as classifier-free guidance drops its condition). A control's input at a
    step is its bin, ``none`` (no note in the window) or free (``Bins.states``): ``sizes``."""

    bins: tuple[Bins, ...]
    window: float = DEFAULT_WINDOW
    free: float = DEFAULT_CONTROL_FREE

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(b.control for b in self.bins)

    @property
    def sizes(self) -> tuple[int, ...]:
        """The inputs of each control: its bins, none and free."""
        return tuple(b.states + 1 for b in self.bins)

    def by_name(self) -> dict[str, Bins]:
        return {b.control: b for b in self.bins}

    def free_ids(self) -> Tensor:
        """Every control free: [controls]."""
        return torch.tensor([b.states for b in self.bins])

    def target_ids(self, codec: Codec, tokens: Tensor) -> Tensor:
        """The controls' ids at each step of an item wrapped in start and end tokens, each
        step's measured at the token it predicts: [len(tokens) + 1, controls] (the end token
        has the last token's; an empty item, none)."""
        if not len(tokens):
            return torch.tensor([[b.none for b in self.bins]])
        measured = measure_controls(codec, tokens, self.names, self.window)
        ids = torch.stack([b.bins_of(measured[:, i]) for i, b in enumerate(self.bins)], 1)
        return torch.cat([ids, ids[-1:]])

    def leave_free(self, ids: Tensor, generator: torch.Generator | None,
                   free: float | None = None) -> Tensor:
        """``ids`` of one item with each control left free at chance ``free`` (the scheme's
        by default; 0: none, 1: every one; between, drawn with ``generator``)."""
        chance = self.free if free is None else free
        if chance <= 0:
            return ids
        drop = torch.ones(len(self.bins), dtype=torch.bool) if chance >= 1 else \
            torch.rand(len(self.bins), generator=generator) < chance
        return torch.where(drop, self.free_ids(), ids)

    def ids_at(self, settings: Mapping[str, ControlSetting], seconds: Tensor) -> Tensor:
        """The controls' ids at each of ``seconds`` [...] as a user set them: [..., controls]
        (free where a control is not set)."""
        columns = []
        for b in self.bins:
            setting = settings.get(b.control)
            columns.append(torch.full(seconds.shape, b.states, dtype=torch.long)
                           if setting is None else setting.bins_at(seconds.cpu(), b))
        return torch.stack(columns, -1).to(seconds.device)

    def to_json(self) -> dict:
        return {"bins": [b.to_json() for b in self.bins], "window": self.window,
                "free": self.free}

    @classmethod
    def from_json(cls, data: Mapping) -> ControlScheme:
        return cls(tuple(Bins.from_json(b) for b in data["bins"]), data["window"], data["free"])


def fit_scheme(codec: Codec, items: Sequence[Tensor], names: Sequence[str],
               count: int = DEFAULT_CONTROL_BINS, window: float = DEFAULT_WINDOW,
               free: float = DEFAULT_CONTROL_FREE) -> ControlScheme:
    """The scheme of ``names`` for a run on ``items`` (its training items, as read): each
    control's bins fitted to its values at every token of them."""
    check_controls(codec, names)
    if not 0 <= free < 1:
        raise UsageError(f"--control-free must be at least 0 and below 1, not {free}")
    values = [measure_controls(codec, item, names, window) for item in items if len(item)]
    measured = torch.cat(values) if values else torch.zeros(0, len(names))
    return ControlScheme(tuple(get_control(name).bins(measured[:, i], count)
                               for i, name in enumerate(names)), window, free)


def varying_controls(scheme: ControlScheme) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The scheme's controls that vary in its corpus (more than one bin), and those that do
    not."""
    varying = tuple(b.control for b in scheme.bins if len(b.names) > 1)
    return varying, tuple(name for name in scheme.names if name not in varying)
