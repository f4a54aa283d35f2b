"""A MIDI file at a glance in the terminal: its facts and a compact piano roll, for rich.

The roll puts two pitches in each text row with half blocks (upper pitch ▀, lower pitch ▄,
both █), high pitches at the top, time across the width: one colour per velocity band, or for
a file of several tracks (a melody and its voices) one colour per track.
"""

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import mido
import numpy as np
from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.text import Text

from seqgen.data.codecs.midi import (
    DEFAULT_TEMPO,
    MidiOptions,
    NoNotesError,
    TrackNotes,
    load_midi,
    read_notes,
    read_track_notes,
)
from seqgen.data.controls import describe_piece
from seqgen.data.notes import Note, note_name, polyphony

# (lowest velocity, highest velocity, colour) of each band; a cell shows its loudest note.
VELOCITY_BANDS = ((1, 32, "dodger_blue2"), (33, 64, "green3"), (65, 96, "orange1"),
                  (97, 127, "red1"))
BAND_COLOURS = ("",) + tuple(colour for _, _, colour in VELOCITY_BANDS)  # by band, 0: none
# one per track, in file order (repeated past the eighth)
TRACK_COLOURS = ("red1", "dodger_blue2", "green3", "orange1", "magenta2", "cyan2", "yellow2",
                 "purple")
TICK_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800,
              3600)
MIN_TICK_GAP = 8  # columns between two time labels
MIN_COLUMNS = 10


def velocity_band(velocity: int) -> int:
    """1 to 4: the index (plus one) of the velocity band of ``velocity``; 0 is no note."""
    return min(len(VELOCITY_BANDS), max(1, math.ceil(velocity / 32)))


# ---- facts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MidiFacts:
    duration_s: float  # from time 0 to the end of the last note
    notes: int
    lowest: int  # pitch
    highest: int
    tempo_bpm: float | None  # the file's first set_tempo (120 if none); None for bare notes
    mean_polyphony: float  # notes sounding at once, averaged over the time any note sounds

    @property
    def pitch_range(self) -> str:
        return f"{note_name(self.lowest)}–{note_name(self.highest)}"


def first_tempo_bpm(midi: mido.MidiFile) -> float:
    """The tempo of the first set_tempo message in the file (in time), 120 BPM if none."""
    tempos = []
    for track in midi.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                tempos.append((tick, msg.tempo))
                break
    return mido.tempo2bpm(min(tempos, key=lambda t: t[0])[1] if tempos else DEFAULT_TEMPO)


def read_midi(path: str | Path) -> tuple[list[Note], float]:
    """A file's notes (as the MIDI codec reads them) and its first tempo in BPM; a file that
    cannot be used is a MidiFileError."""
    midi = load_midi(path)
    return read_notes(midi, MidiOptions()), first_tempo_bpm(midi)


def midi_facts(source: str | Path | Sequence[Note], tempo_bpm: float | None = None) -> MidiFacts:
    """The facts of a MIDI file (tempo read from it) or of notes (tempo as given)."""
    if isinstance(source, str | Path):
        source, tempo_bpm = read_midi(source)
    if not source:
        raise ValueError("no notes")
    pitches = [n.pitch for n in source]
    return MidiFacts(duration_s=max(n.end for n in source), notes=len(source),
                     lowest=min(pitches), highest=max(pitches), tempo_bpm=tempo_bpm,
                     mean_polyphony=polyphony(np.array([n.start for n in source]),
                                              np.array([n.end for n in source])))


def facts_text(facts: MidiFacts) -> Text:
    """One line: duration, notes, pitch range, tempo, polyphony."""
    parts = [("duration", f"{facts.duration_s:.1f} s"), ("notes", f"{facts.notes:,}"),
             ("pitch", facts.pitch_range)]
    if facts.tempo_bpm is not None:
        parts.append(("tempo", f"{facts.tempo_bpm:.0f} BPM"))
    parts.append(("polyphony", f"{facts.mean_polyphony:.1f}"))
    text = Text()
    for i, (key, value) in enumerate(parts):
        text.append(("  " if i else "") + f"{key} ", style="dim")
        text.append(value, style="bold")
    return text


def controls_text(notes: Sequence[Note]) -> Text:
    """One line: each music control's value of the whole piece (``seqgen.data.controls``):
    density in notes per second, key with its correlation, register as the mean pitch and its
    note, dynamics as the mean velocity."""
    text = Text("controls", style="dim")
    for name, value in describe_piece(notes).items():
        text.append(f"  {name} ", style="dim")
        text.append(value, style="bold")
    return text


def track_name(track: TrackNotes) -> str:
    """A track's name, or its index where it has none."""
    return track.name or str(track.index)


def tracks_text(tracks: Sequence[TrackNotes]) -> Text | None:
    """A line naming the tracks that have notes and their notes (an encoder-decoder's input
    and generated voices, say), or None for a file with one such track."""
    if len(tracks) < 2:
        return None
    text = Text("tracks", style="dim")
    for track in tracks:
        text.append(f"  {track_name(track)} ", style="bold")
        text.append(f"{len(track.notes):,} notes", style="dim")
    return text


def midi_view(path: str | Path, width: int | None = None) -> RenderableType:
    """A MIDI file's facts line, its controls' line (and its tracks', when it has several)
    and piano roll (``width`` columns, or the console's; coloured by track where it has
    several, else by velocity); for a file without notes, a line that says so."""
    try:
        notes, tempo = read_midi(path)
    except NoNotesError as exc:
        return Text(str(exc), style="yellow")
    tracks = read_track_notes(load_midi(path), MidiOptions())
    lines = [facts_text(midi_facts(notes, tempo)), controls_text(notes), tracks_text(tracks)]
    roll = PianoRoll(notes, width) if len(tracks) < 2 else track_roll(tracks, width)
    return Group(*[line for line in lines if line is not None], roll)


def roll_notes(path: str | Path) -> list[Note] | list[tuple[str, list[Note]]]:
    """What a piano roll of a MIDI file shows (``seqgen.media.plots.piano_roll_png`` draws
    either): its notes, coloured by velocity, or for a file of several tracks each track's
    notes and name, coloured by track as ``midi_view`` colours them; a file that cannot be
    used is a MidiFileError."""
    tracks = read_track_notes(load_midi(path), MidiOptions())
    if len(tracks) < 2:
        return read_midi(path)[0]
    return [(track_name(track), track.notes) for track in tracks]


# ---- the roll --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shading:
    """How a roll colours its cells: a value for each note (a cell shows the largest of its
    notes'), the colour of each value (0: no note) and the legend that names them."""

    values: tuple[int, ...]
    colours: tuple[str, ...]
    legend: Text


def by_velocity(notes: Sequence[Note]) -> Shading:
    """A colour per velocity band: a cell shows its loudest note."""
    return Shading(tuple(velocity_band(n.velocity) for n in notes), BAND_COLOURS,
                   velocity_legend())


def by_track(tracks: Sequence[TrackNotes]) -> Shading:
    """A colour per track, for the notes of ``tracks`` in order: where two meet, the cell
    shows the earlier track's (the melody, before its voices)."""
    values = tuple(len(tracks) - i for i, track in enumerate(tracks) for _ in track.notes)
    colours = [track_colour(i) for i in range(len(tracks))]
    legend = Text.assemble(("tracks", "dim"), *[part for track, colour in zip(
        tracks, colours, strict=True) for part in ("  ", ("█", colour), f" {track_name(track)}")])
    return Shading(values, ("", *reversed(colours)), legend)


def track_colour(index: int) -> str:
    """The colour of the track at ``index`` among those with notes."""
    return TRACK_COLOURS[index % len(TRACK_COLOURS)]


def track_roll(tracks: Sequence[TrackNotes], width: int | None = None) -> "PianoRoll":
    """The piano roll of a file's tracks, a colour each."""
    return PianoRoll([n for track in tracks for n in track.notes], width, by_track(tracks))


class PianoRoll:
    """A rich renderable: ``notes`` (at least one) as a piano roll ``width`` columns wide
    (labels included; the console's width if None), a time axis in seconds and a legend;
    coloured by ``shading`` (by default by velocity)."""

    def __init__(self, notes: Sequence[Note], width: int | None = None,
                 shading: Shading | None = None) -> None:
        if not notes:
            raise ValueError("no notes")
        self.notes = notes
        self.width = width
        self.shading = shading or by_velocity(notes)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        width = self.width or options.max_width
        low = min(n.pitch for n in self.notes) & ~1  # even: a C is always a lower half
        high = max(n.pitch for n in self.notes) | 1
        labels = pitch_labels(low, high)
        label_width = max(map(len, labels.values()))
        columns = max(MIN_COLUMNS, width - label_width - 2)
        duration = max(n.end for n in self.notes) or 1.0
        grid = value_grid(self.notes, self.shading.values, low, high, columns, duration)
        for upper in range(high, low, -2):
            label = labels.get(upper - 1, "")
            axis = f"{label:>{label_width}} " + ("┤" if label else "│")
            row = roll_row(grid[upper - low], grid[upper - 1 - low],
                           plain=console.no_color or console.color_system is None,
                           colours=self.shading.colours)
            yield Text.assemble((axis, "dim"), row)
        yield from time_axis(duration, columns, label_width + 2)
        yield self.shading.legend


def pitch_labels(low: int, high: int) -> dict[int, str]:
    """Names of the lower pitches of rows to label: every C, or the lowest if there is none."""
    labels = {p: note_name(p) for p in range(low, high, 2) if p % 12 == 0}
    return labels or {low: note_name(low)}


def value_grid(notes: Sequence[Note], values: Sequence[int], low: int, high: int,
               columns: int, duration: float) -> np.ndarray:
    """(pitch - low, column) -> the largest value of the notes there (0: none); a note covers
    every column its time span touches, at least one."""
    grid = np.zeros((high - low + 1, columns), dtype=np.int32)
    per_column = duration / columns
    for note, value in zip(notes, values, strict=True):
        first = min(int(note.start / per_column), columns - 1)
        last = min(columns, max(first + 1, math.ceil(note.end / per_column - 1e-9)))
        cells = grid[note.pitch - low, first:last]
        np.maximum(cells, value, out=cells)
    return grid


def roll_row(upper: np.ndarray, lower: np.ndarray, plain: bool,
             colours: Sequence[str] = BAND_COLOURS) -> Text:
    """One text row of two pitches' values, in ``colours``; ``plain`` (no colours) shows any
    two notes as █."""
    text = Text()
    cells = (cell(int(up), int(down), plain, colours)
             for up, down in zip(upper, lower, strict=True))
    for (char, style), run in groupby(cells):
        text.append(char * len(list(run)), style=style)
    return text


def cell(upper: int, lower: int, plain: bool,
         colour: Sequence[str] = BAND_COLOURS) -> tuple[str, str]:
    """The character and style of a cell whose upper and lower pitches have these values (in
    ``colour``: velocity bands by default)."""
    if not lower:
        return ("▀", colour[upper]) if upper else (" ", "")
    if not upper:
        return "▄", colour[lower]
    if upper == lower or plain:
        return "█", colour[max(upper, lower)]
    return "▀", f"{colour[upper]} on {colour[lower]}"


def tick_step(duration: float, columns: int) -> float:
    """The smallest round step between time labels at least MIN_TICK_GAP columns apart."""
    return next((s for s in TICK_STEPS if s * columns / duration >= MIN_TICK_GAP), TICK_STEPS[-1])


def time_axis(duration: float, columns: int, indent: int) -> Iterator[Text]:
    """Two rows: the axis line with a tick at each label, and the labels in seconds."""
    step = tick_step(duration, columns)
    ticks = {}  # column -> label
    for k in range(int(duration / step) + 1):
        column = math.floor(k * step * columns / duration + 1e-9)
        label = f"{round(k * step, 6):g}s"
        if column + len(label) <= columns:
            ticks[column] = label
    line = "".join("┬" if c in ticks else "─" for c in range(columns))
    yield Text(" " * (indent - 1) + "└" + line, style="dim")
    labels = [" "] * columns
    for column, label in ticks.items():
        labels[column:column + len(label)] = label
    yield Text(" " * indent + "".join(labels), style="dim")


def velocity_legend() -> Text:
    bands = [part for lowest, highest, colour in VELOCITY_BANDS
             for part in ("  ", ("█", colour), f" {lowest}-{highest}")]
    return Text.assemble(("velocity", "dim"), *bands)
