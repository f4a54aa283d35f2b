"""Notes and the facts of notes: what MIDI files are read into, and what the piano roll and
the music statistics measure."""

import math
from dataclasses import dataclass

import numpy as np

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass(frozen=True)
class Note:
    pitch: int
    start: float  # seconds
    end: float  # seconds
    velocity: int


def note_name(pitch: int) -> str:
    """``60`` -> ``C4`` (scientific pitch notation)."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def polyphony(start: np.ndarray, end: np.ndarray) -> float:
    """The summed note durations over the time at least one note sounds (rests left out):
    the time-weighted mean number of sounding notes. NaN when no note has a duration."""
    order = np.argsort(start, kind="stable")
    start, end = start[order], end[order]
    reach = np.maximum.accumulate(end)  # the latest end of the notes begun so far
    rests = np.maximum(start[1:] - reach[:-1], 0).sum()
    sounding = reach[-1] - start[0] - rests
    return float((end - start).sum() / sounding) if sounding > 0 else math.nan
