"""Harmony features of a harmonised piece: a melody on one track, the voices on the others.

A MIDI file is read as its melody, the highest note at each onset of the melody track, and its
voices: the notes of every other track (and the melody track's lower notes), one note per
pitch at a time as ``read_notes`` merges them. The melody track is the one named (or numbered)
by the caller, else the first track named S, Soprano (Soprano 1...), Sopran or Melody, else the
first track with notes. A file with one track of notes has no harmony features (NaN).

A note sounds at time t when it starts at or before t and ends after t (to the microsecond).
At a melody onset, the voices sounding form intervals with the melody note: an interval class
(semitones modulo 12) of 0 (unison, octave), 3 or 4 (thirds), 7 (fifth), 8 or 9 (sixths) is
consonant; 5, the fourth, is consonant between the melody and an upper voice and dissonant
when either note is the lowest sounding (the bass), as in common-practice harmony (the 6/4
chord); seconds, sevenths and the tritone are dissonant.

Parallels are counted between parts: the melody and the voice lines, which are numbered at
each onset by pitch from the highest sounding voice down (the melody's pitch is its highest
note sounding then). Between two successive onsets of the
piece (any part's) at which as many voices sound, two parts sounding at both that both move in
the same direction and are a fifth (interval class 7: fifths and twelfths) apart at both
onsets are one parallel fifth; an octave or unison (class 0) at both, a parallel octave. Bars
come from the file's time signatures (4/4 before the first) and tempo map.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations, groupby, pairwise
from operator import attrgetter

import mido
import numpy as np

from seqgen.data.codecs.midi import (
    MidiOptions,
    TrackNotes,
    bar_count,
    find_track,
    merge_unisons,
    read_track_notes,
)
from seqgen.data.notes import Note

HARMONY_FEATURES = {
    "consonant_onsets": "share of accompanied melody onsets at which every voice is consonant "
                        "with the melody",
    "melody_crossings": "share of accompanied melody onsets with a voice above the melody",
    "parallel_fifths_per_bar": "two parts moving in parallel fifths, per bar",
    "parallel_octaves_per_bar": "two parts moving in parallel octaves or unisons, per bar",
}
MELODY_NAMES = ("s", "soprano", "sopran", "melody")  # a track name's first word, any case
CONSONANT = frozenset({0, 3, 4, 7, 8, 9})  # interval classes in semitones
FOURTH, FIFTH, OCTAVE = 5, 7, 0
DECIMALS = 6  # times equal to the microsecond are one time


@dataclass(frozen=True)
class Harmonisation:
    """A piece as a melody (one note per onset) and voices, and its length in bars."""

    melody: list[Note]
    voices: list[Note]
    bars: float


def melody_track(tracks: Sequence[TrackNotes], chosen: str | None = None) -> TrackNotes | None:
    """The melody among a file's tracks with notes: the ``chosen`` one (its name, in any case,
    or its index in the file when all digits), else the first with a melody's name, else the
    first; None when the chosen one is not there."""
    if chosen is None:
        named = [t for t in tracks if (t.name.casefold().split() or [""])[0] in MELODY_NAMES]
        return (named or tracks)[0]
    return find_track(tracks, chosen)


def harmonisation(tracks: Sequence[TrackNotes], bars: float,
                  chosen: str | None = None) -> Harmonisation | None:
    """The melody and the voices of a file's tracks (see ``melody_track``); None without a
    melody track or without another track of notes."""
    melody = melody_track(tracks, chosen) if len(tracks) > 1 else None
    if melody is None:
        return None
    top, lower = [], []
    for _, notes in groupby(melody.notes, key=attrgetter("start")):
        highest, *others = sorted(notes, key=attrgetter("pitch"), reverse=True)
        top.append(highest)
        lower += others
    voices = lower + [note for track in tracks if track is not melody for note in track.notes]
    return Harmonisation(top, merge_unisons(voices), bars)


def read_harmonisation(midi: mido.MidiFile, options: MidiOptions,
                       chosen: str | None = None) -> Harmonisation | None:
    """A parsed file's ``harmonisation``, its bars reaching the end of its last note."""
    tracks = read_track_notes(midi, options)
    end = max(note.end for track in tracks for note in track.notes)
    return harmonisation(tracks, bar_count(midi, end), chosen)


def harmony_features(piece: Harmonisation | None) -> dict[str, float]:
    """Every feature of ``HARMONY_FEATURES`` of a piece, NaN for None (no melody track); the
    shares are NaN when no voice sounds at a melody onset, the rates when the piece has no
    length."""
    if piece is None:
        return dict.fromkeys(HARMONY_FEATURES, math.nan)
    consonant, crossings = melody_onsets(piece)
    fifths, octaves = parallels(piece)
    per_bar = 1 / piece.bars if piece.bars > 0 else math.nan
    return {"consonant_onsets": consonant, "melody_crossings": crossings,
            "parallel_fifths_per_bar": fifths * per_bar,
            "parallel_octaves_per_bar": octaves * per_bar}


def sounding(notes: Sequence[Note], times: np.ndarray) -> list[list[int]]:
    """The pitches of ``notes`` sounding at each of ``times``, highest first."""
    if not notes:
        return [[] for _ in times]
    pitch = np.array([n.pitch for n in notes])
    start = np.round([n.start for n in notes], DECIMALS)
    end = np.round([n.end for n in notes], DECIMALS)
    at = (start[None, :] <= times[:, None]) & (end[None, :] > times[:, None])
    return [sorted(pitch[row].tolist(), reverse=True) for row in at]


def consonant(melody: int, voices: Sequence[int]) -> bool:
    """Whether every voice is consonant with the melody note (a fourth only above the bass)."""
    bass = min(melody, *voices)
    return all(abs(melody - voice) % 12 in CONSONANT
               or (abs(melody - voice) % 12 == FOURTH and min(melody, voice) != bass)
               for voice in voices)


def melody_onsets(piece: Harmonisation) -> tuple[float, float]:
    """Of the melody notes at whose onset a voice sounds, the share where all are consonant
    with it, and the share with a voice above it (NaN for none)."""
    onsets = np.round([n.start for n in piece.melody], DECIMALS)
    pairs = [(note.pitch, voices) for note, voices in
             zip(piece.melody, sounding(piece.voices, onsets), strict=True) if voices]
    if not pairs:
        return math.nan, math.nan
    return (sum(consonant(melody, voices) for melody, voices in pairs) / len(pairs),
            sum(voices[0] > melody for melody, voices in pairs) / len(pairs))


def parallels(piece: Harmonisation) -> tuple[int, int]:
    """The parallel fifths and the parallel octaves (or unisons) between any two parts."""
    onsets = np.unique(np.round([n.start for n in piece.melody + piece.voices], DECIMALS))
    melody = [m[0] if m else None for m in sounding(piece.melody, onsets)]
    parts = [(m, *voices) for m, voices in zip(melody, sounding(piece.voices, onsets),
                                               strict=True)]
    fifths = octaves = 0
    for before, after in pairwise(parts):
        if len(before) != len(after):
            continue
        for a, b in combinations(range(len(before)), 2):
            if None in (before[a], before[b], after[a], after[b]):
                continue
            if (after[a] - before[a]) * (after[b] - before[b]) <= 0:  # not both, or not alike
                continue
            classes = {abs(before[a] - before[b]) % 12, abs(after[a] - after[b]) % 12}
            fifths += classes == {FIFTH}
            octaves += classes == {OCTAVE}
    return fifths, octaves
