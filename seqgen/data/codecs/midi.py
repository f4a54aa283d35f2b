"""The performance MIDI codec: MIDI files <-> notes <-> Performance RNN event tokens.

The vocabulary is Magenta's Performance RNN one: NOTE_ON and NOTE_OFF for each of the 128
pitches, TIME_SHIFT of 1 to ``max_shift_steps`` steps of ``resolution_ms``, and VELOCITY bins,
after the PAD, BOS and EOS tokens a trainer needs.

A file's tracks and channels merge into one stream of notes with one voice per pitch: a
single-stream performance encoding cannot hold unisons. Notes are paired per track and channel
first, so each voice's note_off ends its own note; then a note that starts while the same
pitch sounds (another voice) cuts the sounding note there and lasts until the later of the two
ends, and notes of one pitch starting together become one note.
"""

import math
from array import array
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from operator import attrgetter, itemgetter
from pathlib import Path

import mido
import numpy as np
import torch
from torch import Tensor

from seqgen.data.codecs.base import Augmentation, CodecFileError, FileCodec, MissingTrack
from seqgen.data.controls import NoteArrays
from seqgen.data.notes import Note
from seqgen.errors import UsageError

NUM_PITCHES = 128
DRUM_CHANNEL = 9  # MIDI channel 10
SUSTAIN_CONTROL = 64
DEFAULT_TEMPO = 500_000  # microseconds per beat, until a set_tempo says otherwise
DEFAULT_VELOCITY = 64  # decoding, before any VELOCITY token
TICKS_PER_BEAT = 500  # written files: with the default tempo, one tick is one millisecond


@dataclass(frozen=True)
class MidiOptions:
    """How MIDI files become notes and notes become tokens."""

    resolution_ms: int = 10  # one TIME_SHIFT step
    max_shift_ms: int = 1000  # the longest single TIME_SHIFT token
    velocity_bins: int = 32
    keep_drums: bool = False  # channel 10 (index 9) is dropped unless True
    sustain: bool = True  # CC 64 extends notes until the pedal is released, as Magenta does
    max_note_s: float = 5.0  # decoding: a note never closed ends after this long (or at the end)

    def __post_init__(self) -> None:
        for name in ("resolution_ms", "max_shift_ms", "velocity_bins"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UsageError(f"MIDI option {name} must be a positive integer, not {value!r}")
        for name in ("keep_drums", "sustain"):
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"MIDI option {name} must be true or false")
        if self.max_shift_ms < self.resolution_ms:
            raise UsageError("MIDI option max_shift_ms must be at least resolution_ms")
        if self.velocity_bins > 127:
            raise UsageError("MIDI option velocity_bins must be at most 127")
        if not isinstance(self.max_note_s, int | float) or not self.max_note_s > 0:
            raise UsageError(f"MIDI option max_note_s must be a positive number of seconds, "
                             f"not {self.max_note_s!r}")

    @property
    def max_shift_steps(self) -> int:
        return self.max_shift_ms // self.resolution_ms

    @property
    def velocity_bin_size(self) -> int:
        return math.ceil(127 / self.velocity_bins)


class MidiFileError(CodecFileError):
    """A file that cannot be used; ``str(exc)`` is a short reason for a user."""


class NoNotesError(MidiFileError):
    """A valid MIDI file without a note to use."""


# ---- reading MIDI files ----------------------------------------------------------------------


def load_midi(path: str | Path) -> mido.MidiFile:
    """Parse a MIDI file (data bytes over 127 clipped); any failure is a MidiFileError."""
    try:
        return mido.MidiFile(path, clip=True)
    except EOFError as exc:
        raise MidiFileError("truncated file") from exc
    except OSError as exc:
        if exc.strerror:  # the operating system's: missing file, no permission, a folder
            raise MidiFileError(f"cannot read the file: {exc.strerror}") from exc
        if str(exc).startswith("MThd not found"):
            raise MidiFileError("not a MIDI file (bad header)") from exc
        raise MidiFileError(f"corrupt MIDI data: {exc}") from exc
    except Exception as exc:
        raise MidiFileError(f"corrupt MIDI data: {type(exc).__name__}: {exc}") from exc


def as_midi(source: str | Path | mido.MidiFile) -> mido.MidiFile:
    """A parsed file as it is, a path parsed with ``load_midi``."""
    return source if isinstance(source, mido.MidiFile) else load_midi(source)


def check_format(midi: mido.MidiFile) -> None:
    """Only type 0 and 1 files with a ticks-per-beat time division have one timeline."""
    if midi.type == 2:
        raise MidiFileError("type 2 (asynchronous tracks) is not supported")
    if midi.type not in (0, 1):
        raise MidiFileError(f"unknown MIDI file type {midi.type}")
    # mido reads the division as a signed number: SMPTE divisions have the top bit set.
    if midi.ticks_per_beat < 0:
        raise MidiFileError("SMPTE time division is not supported")
    if midi.ticks_per_beat == 0:
        raise MidiFileError("invalid time division (0 ticks per beat)")


PERFORMANCE_MESSAGES = frozenset({"note_on", "note_off", "control_change", "set_tempo"})
METER_MESSAGES = frozenset({"set_tempo", "time_signature"})


def timed_messages(midi: mido.MidiFile, wanted: frozenset[str] = PERFORMANCE_MESSAGES,
                   ) -> tuple[list[tuple[int, int, mido.Message]], int]:
    """The messages of the ``wanted`` types (the note, control and tempo messages) of all
    tracks as (tick, track, message) in time order (track order at equal ticks), and the tick
    of the file's last event."""
    timed = []
    end_tick = 0
    for track_index, track in enumerate(midi.tracks):
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type in wanted:
                timed.append((tick, track_index, msg))
        end_tick = max(end_tick, tick)
    timed.sort(key=itemgetter(0))
    return timed, end_tick


class _TempoClock:
    """Absolute ticks to seconds, for ticks in time order, as set_tempo messages come."""

    def __init__(self, ticks_per_beat: int) -> None:
        self.ticks_per_beat = ticks_per_beat
        self.tempo_tick, self.tempo_seconds = 0, 0.0
        self.seconds_per_tick = DEFAULT_TEMPO * 1e-6 / ticks_per_beat

    def seconds(self, tick: int) -> float:
        return self.tempo_seconds + (tick - self.tempo_tick) * self.seconds_per_tick

    def tick(self, seconds: float) -> float:
        """The inverse of ``seconds``, for a time after the last tempo change."""
        return self.tempo_tick + (seconds - self.tempo_seconds) / self.seconds_per_tick

    def set_tempo(self, tick: int, tempo: int) -> None:
        self.tempo_tick, self.tempo_seconds = tick, self.seconds(tick)
        self.seconds_per_tick = tempo * 1e-6 / self.ticks_per_beat


@dataclass
class _Sounding:
    start: float
    velocity: int
    released: bool = False  # its note_off came while the sustain pedal was down


class _NotePairing:
    """note_on/note_off messages to notes, voice by voice; a voice is (track, channel, pitch).
    ``notes`` holds each track's notes, in the order they end."""

    def __init__(self) -> None:
        self.sounding: dict[tuple[int, int, int], _Sounding] = {}
        self.pedal_down: set[int] = set()  # channels
        self.notes: dict[int, list[Note]] = defaultdict(list)

    def note_on(self, voice: tuple[int, int, int], time: float, velocity: int) -> None:
        """A new note; striking a sounding pitch again ends the sounding note first."""
        if voice in self.sounding:
            self.end(voice, time)
        self.sounding[voice] = _Sounding(time, velocity)

    def note_off(self, voice: tuple[int, int, int], time: float) -> None:
        """End the voice's note, or mark it to end with the pedal; ignored if none sounds."""
        note = self.sounding.get(voice)
        if note is None:
            return
        if voice[1] in self.pedal_down:
            note.released = True
        else:
            self.end(voice, time)

    def pedal(self, channel: int, down: bool, time: float) -> None:
        """Press or release the sustain pedal; releasing it ends the notes it was holding."""
        if down:
            self.pedal_down.add(channel)
        elif channel in self.pedal_down:
            self.pedal_down.remove(channel)
            held = [v for v, note in self.sounding.items() if v[1] == channel and note.released]
            for voice in held:
                self.end(voice, time)

    def end(self, voice: tuple[int, int, int], time: float) -> None:
        note = self.sounding.pop(voice)
        self.notes[voice[0]].append(Note(voice[2], note.start, time, note.velocity))

    def end_all(self, time: float) -> None:
        for voice in list(self.sounding):
            self.end(voice, time)


def merge_unisons(notes: list[Note]) -> list[Note]:
    """One voice per pitch, sorted by (start, pitch); times in any unit.

    A note starting while the same pitch sounds cuts that note at its start and lasts until
    the later of the two ends; notes of one pitch starting together become one note (the
    latest end, the loudest velocity).
    """
    merged: list[Note] = []
    last_of_pitch: dict[int, int] = {}  # pitch -> index in merged
    for note in sorted(notes, key=attrgetter("start", "pitch")):
        index = last_of_pitch.get(note.pitch)
        if index is not None:
            sounding = merged[index]
            if note.start == sounding.start:
                merged[index] = replace(sounding, end=max(sounding.end, note.end),
                                        velocity=max(sounding.velocity, note.velocity))
                continue
            if note.start < sounding.end:
                merged[index] = replace(sounding, end=note.start)
                note = replace(note, end=max(note.end, sounding.end))
        last_of_pitch[note.pitch] = len(merged)
        merged.append(note)
    return merged


def read_notes(source: str | Path | mido.MidiFile, options: MidiOptions) -> list[Note]:
    """The notes of a MIDI file (parsed first if given a path) in absolute seconds, sorted by
    (start, pitch); a file that cannot be used is a MidiFileError."""
    tracks = track_notes(source, options)
    return merge_unisons([note for notes in tracks.values() for note in notes])


@dataclass(frozen=True)
class TrackNotes:
    """The notes of one track of a MIDI file."""

    index: int  # the track's place in the file, from 0
    name: str  # its track_name, "" without one
    notes: list[Note]  # one voice per pitch, sorted by (start, pitch)


def read_track_notes(source: str | Path | mido.MidiFile, options: MidiOptions,
                     ) -> list[TrackNotes]:
    """The notes of each track of a MIDI file that has notes, in file order, read as
    ``read_notes`` reads the whole file; a file that cannot be used is a MidiFileError."""
    midi = as_midi(source)
    return [TrackNotes(index, midi.tracks[index].name, merge_unisons(notes))
            for index, notes in sorted(track_notes(midi, options).items())]


def track_notes(source: str | Path | mido.MidiFile, options: MidiOptions,
                ) -> dict[int, list[Note]]:
    """The notes of a MIDI file in absolute seconds, unmerged and unsorted, by the index of
    their track; a file that cannot be used is a MidiFileError."""
    midi = as_midi(source)
    check_format(midi)
    timed, end_tick = timed_messages(midi)
    pairing = _NotePairing()
    clock = _TempoClock(midi.ticks_per_beat)
    drum_notes = 0
    for tick, track, msg in timed:
        time = clock.seconds(tick)
        if msg.type == "set_tempo":
            clock.set_tempo(tick, msg.tempo)
        elif msg.type == "control_change":
            if options.sustain and msg.control == SUSTAIN_CONTROL:
                pairing.pedal(msg.channel, msg.value >= 64, time)
        elif msg.channel == DRUM_CHANNEL and not options.keep_drums:
            drum_notes += 1
        elif msg.type == "note_on" and msg.velocity > 0:
            pairing.note_on((track, msg.channel, msg.note), time, msg.velocity)
        else:
            pairing.note_off((track, msg.channel, msg.note), time)
    pairing.end_all(clock.seconds(end_tick))
    if not pairing.notes:
        raise NoNotesError("no notes (only drums, which keep_drums=false drops)" if drum_notes
                           else "no notes")
    return pairing.notes


def bar_count(midi: mido.MidiFile, seconds: float) -> float:
    """The bars from the start of a file to ``seconds`` into it (2.5: two bars and a half), by
    its time signatures (4/4 before the first) and its tempo map."""
    clock = _TempoClock(midi.ticks_per_beat)
    bars, bar_start, bar_ticks = 0.0, 0, 4 * midi.ticks_per_beat
    for tick, _, msg in timed_messages(midi, METER_MESSAGES)[0]:
        if clock.seconds(tick) >= seconds:
            break
        if msg.type == "set_tempo":
            clock.set_tempo(tick, msg.tempo)
        else:
            bars += (tick - bar_start) / bar_ticks
            bar_start = tick
            bar_ticks = msg.numerator * midi.ticks_per_beat * 4 / msg.denominator
    return bars + (clock.tick(seconds) - bar_start) / bar_ticks


def find_track(tracks: Sequence[TrackNotes], wanted: str) -> TrackNotes | None:
    """The track named ``wanted`` (any case), or numbered so (its index in the file)."""
    wanted = wanted.strip().casefold()
    return next((t for t in tracks if wanted in (t.name.strip().casefold(), str(t.index))), None)


def pick_track(tracks: Sequence[TrackNotes], wanted: str) -> TrackNotes:
    """``find_track``, or a MissingTrack error that lists the tracks."""
    track = find_track(tracks, wanted)
    if track is None:
        found = ", ".join(f"{t.index} {t.name!r}" if t.name else str(t.index)
                          for t in tracks) or "none"
        raise MissingTrack(f"no track {wanted!r}; tracks with notes: {found}")
    return track


# ---- writing MIDI files ----------------------------------------------------------------------


def note_events(notes: list[Note], channel: int = 0) -> mido.MidiTrack:
    """A track of ``notes`` (no tempo), one tick per millisecond at the default tempo; a note
    lasts at least one tick, and note_offs come before note_ons at a tick."""
    events = []  # (tick, 0 for off / 1 for on, pitch, velocity)
    for note in notes:
        start = round(note.start * 1000)
        end = max(round(note.end * 1000), start + 1)
        events += [(start, 1, note.pitch, min(127, max(1, note.velocity))), (end, 0, note.pitch, 0)]
    events.sort(key=itemgetter(0, 1))
    track = mido.MidiTrack([mido.Message("program_change", channel=channel, program=0, time=0)])
    now = 0
    for tick, is_on, pitch, velocity in events:
        kind = "note_on" if is_on else "note_off"
        track.append(mido.Message(kind, channel=channel, note=pitch, velocity=velocity,
                                  time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def notes_to_midi(notes: list[Note]) -> mido.MidiFile:
    """A type-0 MIDI file of ``notes`` on a piano (program 0, channel 0)."""
    track = note_events(notes)
    track.insert(0, mido.MetaMessage("set_tempo", tempo=DEFAULT_TEMPO, time=0))
    return mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT, tracks=[track])


def tracks_to_midi(parts: list[tuple[str, list[Note]]]) -> mido.MidiFile:
    """A type-1 MIDI file with a named track of notes for each part (a tempo track first),
    on a channel each, in turn, of the 15 that are not the drums'."""
    tempo = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=DEFAULT_TEMPO, time=0),
                            mido.MetaMessage("end_of_track", time=0)])
    tracks = [tempo]
    channels = [c for c in range(16) if c != DRUM_CHANNEL]
    for index, (name, notes) in enumerate(parts):
        track = note_events(notes, channels[index % len(channels)])
        track.insert(0, mido.MetaMessage("track_name", name=name, time=0))
        tracks.append(track)
    return mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT, tracks=tracks)


# ---- tensor helpers --------------------------------------------------------------------------


def note_table(notes: list[Note]) -> Tensor:
    """Rows (pitch, start, end, velocity) in float64, through a C array: much faster than
    torch.tensor on Python floats."""
    flat = array("d", [value for n in notes for value in (n.pitch, n.start, n.end, n.velocity)])
    return torch.frombuffer(flat, dtype=torch.float64).reshape(-1, 4)


def round_half_up(values: Tensor) -> Tensor:
    """The nearest integers (int64), halves rounded up (torch.round rounds them to even)."""
    return torch.floor(values + 0.5).long()


def overlaps_in_a_pitch(rows: Tensor) -> bool:
    """Whether two of the (pitch, start, end, ...) ``rows`` of one pitch overlap."""
    by_start = rows[torch.argsort(rows[:, 1], stable=True)]
    by_pitch = by_start[torch.argsort(by_start[:, 0], stable=True)]
    same_pitch = by_pitch[1:, 0] == by_pitch[:-1, 0]
    return bool((same_pitch & (by_pitch[1:, 1] < by_pitch[:-1, 2])).any())


def insert_before(values: Tensor, where: Tensor, inserted: Tensor) -> Tensor:
    """``values`` with ``inserted`` (one per True in the mask ``where``), each just before the
    value it marks."""
    at = torch.arange(len(values)) + torch.cumsum(where, 0)
    result = values.new_empty(len(values) + len(inserted))
    result[at] = values
    result[at[where] - 1] = inserted
    return result


# ---- the codec -------------------------------------------------------------------------------


class MidiCodec(FileCodec):
    """Notes <-> event tokens: PAD, BOS, EOS, NOTE_ON x128, NOTE_OFF x128, TIME_SHIFT (1 to
    max_shift_steps steps), VELOCITY (bins)."""

    name = "midi"
    suffixes = (".mid", ".midi")
    output_suffix = ".mid"
    SPECIALS = ("PAD", "BOS", "EOS")

    @classmethod
    def default_options(cls) -> dict[str, object]:
        return asdict(MidiOptions())

    @classmethod
    def from_options(cls, **options: object) -> "MidiCodec":
        return cls(MidiOptions(**options))

    def read(self, path: Path) -> tuple[Tensor, dict[str, float]]:
        """A file's tokens, with its number of notes and its length in seconds."""
        notes = read_notes(path, self.options)
        return self.encode_notes(notes), {"notes": len(notes),
                                          "seconds": max(n.end for n in notes)}

    def write(self, tokens: Tensor, path: Path) -> None:
        self.to_midi(tokens).save(path)

    def read_source(self, path: Path, source_track: str | None) -> Tensor:
        """The track ``source_track`` of a file with several tracks of notes (an error that
        lists them if it has none of that name), else the whole file."""
        tracks = read_track_notes(path, self.options)
        if source_track is None or len(tracks) == 1:
            return self.encode_notes(merge_unisons([n for t in tracks for n in t.notes]))
        return self.encode_notes(pick_track(tracks, source_track).notes)

    def read_pair(self, path: Path, source_track: str) -> tuple[Tensor, Tensor, dict[str, float]]:
        """The tokens of one track (the source) and of the other tracks merged (the target),
        on one timeline, with the file's notes and length in seconds."""
        tracks = read_track_notes(path, self.options)
        source = pick_track(tracks, source_track)
        if len(tracks) == 1:
            raise MidiFileError("one track with notes: no target beside the source")
        melody = source.notes
        voices = merge_unisons([note for t in tracks if t is not source for note in t.notes])
        return self.encode_notes(melody), self.encode_notes(voices), {
            "notes": len(melody) + len(voices),
            "seconds": max(n.end for n in melody + voices)}

    def write_pair(self, source: Tensor, target: Tensor, path: Path,
                   names: Sequence[str] = ()) -> None:
        """The source on the track "input" and the target on "generated" (its voices merged
        into one track: ``names`` name none)."""
        tracks_to_midi([("input", self.decode_notes(source)),
                        ("generated", self.decode_notes(target))]).save(path)

    def token_seconds(self) -> Tensor:
        return self._shift_steps(torch.arange(self.size)) * (self.options.resolution_ms / 1000)

    def __init__(self, options: MidiOptions | None = None) -> None:
        self.options = options or MidiOptions()
        self.note_on_base = len(self.SPECIALS)
        self.note_off_base = self.note_on_base + NUM_PITCHES
        self.time_shift_base = self.note_off_base + NUM_PITCHES  # TIME_SHIFT of one step
        self.velocity_base = self.time_shift_base + self.options.max_shift_steps
        self._size = self.velocity_base + self.options.velocity_bins

    @property
    def size(self) -> int:
        return self._size

    def token_name(self, token: int) -> str:
        """``PAD``, ``NOTE_ON_60``, ``NOTE_OFF_60``, ``TIME_SHIFT_10`` (steps), ``VELOCITY_5``
        (bin)."""
        if not 0 <= token < self.size:
            raise ValueError(f"token {token} is not in the vocabulary (0..{self.size - 1})")
        if token < self.note_on_base:
            return self.SPECIALS[token]
        if token < self.note_off_base:
            return f"NOTE_ON_{token - self.note_on_base}"
        if token < self.time_shift_base:
            return f"NOTE_OFF_{token - self.note_off_base}"
        if token < self.velocity_base:
            return f"TIME_SHIFT_{token - self.time_shift_base + 1}"
        return f"VELOCITY_{token - self.velocity_base}"

    # ---- time and velocity ----

    def _to_steps(self, seconds: Tensor) -> Tensor:
        """Seconds (float64) to the nearest step."""
        return round_half_up(seconds * (1000 / self.options.resolution_ms))

    def _to_seconds(self, steps: int) -> float:
        return steps * self.options.resolution_ms / 1000

    def _velocity_bin(self, velocity: Tensor) -> Tensor:
        return (velocity.clamp(1, 127) - 1) // self.options.velocity_bin_size

    def _bin_velocity(self, velocity_bin: int) -> int:
        """The velocity a bin decodes to: the middle of its range."""
        size = self.options.velocity_bin_size
        return min(127, 1 + velocity_bin * size + size // 2)

    # ---- encoding ----

    def _quantise(self, notes: list[Note]) -> Tensor:
        """Rows (pitch, start step, end step, velocity) in (start, pitch) order: times rounded
        to the nearest step, each note at least one step long, one voice per pitch."""
        table = note_table(notes)
        if not ((table[:, 0] >= 0) & (table[:, 0] < NUM_PITCHES)).all():
            raise ValueError("note pitches must be in 0..127")
        rows = table.long()
        rows[:, 1:3] = self._to_steps(table[:, 1:3])
        rows[:, 2] = torch.maximum(rows[:, 2], rows[:, 1] + 1)
        if overlaps_in_a_pitch(rows):
            merged = merge_unisons([Note(*row) for row in rows.tolist()])
            return torch.tensor([(n.pitch, n.start, n.end, n.velocity) for n in merged])
        return rows[torch.argsort(rows[:, 1] * NUM_PITCHES + rows[:, 0], stable=True)]

    def encode_notes(self, notes: list[Note]) -> Tensor:
        """Event tokens (int64, no BOS/EOS): in time order, NOTE_OFFs before VELOCITY/NOTE_ONs
        at a step, VELOCITY only when the bin changes from the previous note-on's."""
        if not notes:
            return torch.zeros(0, dtype=torch.long)
        pitches, starts, ends, velocities = self._quantise(notes).T
        steps = torch.cat([ends, starts])
        tokens = torch.cat([self.note_off_base + pitches, self.note_on_base + pitches])
        is_on = torch.arange(len(steps)) >= len(pitches)
        # Stable: at a step, offs (the first half) before ons, each in (start, pitch) order.
        order = torch.argsort(steps, stable=True)
        steps, tokens, is_on = steps[order], tokens[order], is_on[order]
        bins = self._velocity_bin(velocities.repeat(2)[order])
        on_bins = bins[is_on]
        changed = torch.ones_like(on_bins, dtype=torch.bool)
        changed[1:] = on_bins[1:] != on_bins[:-1]
        needs_velocity = torch.zeros_like(is_on)
        needs_velocity[is_on] = changed
        tokens = insert_before(tokens, needs_velocity, self.velocity_base + bins[needs_velocity])
        steps = insert_before(steps, needs_velocity, steps[needs_velocity])
        return self._place_in_time(tokens, steps, int(steps[-1]))

    def _place_in_time(self, tokens: Tensor, steps: Tensor, end_step: int) -> Tensor:
        """``tokens`` at their (non-decreasing) absolute ``steps``, each preceded by the
        TIME_SHIFTs that reach its step, then those that reach ``end_step``."""
        longest = self.options.max_shift_steps
        tokens = torch.cat([tokens, tokens.new_tensor([self.PAD])])  # marks the end; dropped
        steps = torch.cat([steps, steps.new_tensor([end_step])])
        gaps = torch.diff(steps, prepend=steps.new_zeros(1))
        # A gap is TIME_SHIFTs of the longest kind, then one for what is left.
        num_shifts = (gaps + longest - 1) // longest
        rest = gaps - (num_shifts - 1) * longest
        at = torch.arange(len(tokens)) + torch.cumsum(num_shifts, 0)
        placed = torch.full((int(at[-1]) + 1,), self.time_shift_base + longest - 1)
        after_gap = num_shifts > 0
        placed[at[after_gap] - 1] = self.time_shift_base + rest[after_gap] - 1
        placed[at] = tokens
        return placed[:-1]

    # ---- decoding ----

    def _as_tokens(self, tokens: Tensor | list[int]) -> Tensor:
        """A 1-D int64 tensor of token ids, checked to be in the vocabulary."""
        ids = torch.as_tensor(tokens, dtype=torch.long)
        if ids.dim() != 1:
            raise ValueError(f"tokens must be one sequence, not of shape {tuple(ids.shape)}")
        if len(ids) and not (int(ids.min()) >= 0 and int(ids.max()) < self.size):
            raise ValueError(f"token ids must be in 0..{self.size - 1}")
        return ids

    def decode_notes(self, tokens: Tensor | list[int]) -> list[Note]:
        """The notes of any token sequence, however ill-formed, sorted by (start, pitch).

        PAD and BOS are ignored and EOS ends decoding; a NOTE_OFF with no sounding note is
        ignored; a note never closed ends after max_note_s or at the end, whichever is first.
        """
        step, velocity = 0, DEFAULT_VELOCITY
        sounding: dict[int, tuple[int, int]] = {}  # pitch -> (start step, velocity)
        notes = []  # times in steps until the end

        def end(pitch: int) -> None:
            start, loudness = sounding.pop(pitch)
            notes.append(Note(pitch, start, max(step, start + 1), loudness))

        for token in self._as_tokens(tokens).tolist():  # ranges in vocabulary order, last first
            if token == self.EOS:
                break
            if token >= self.velocity_base:
                velocity = self._bin_velocity(token - self.velocity_base)
            elif token >= self.time_shift_base:
                step += token - self.time_shift_base + 1
            elif token >= self.note_off_base:
                if token - self.note_off_base in sounding:
                    end(token - self.note_off_base)
            elif token >= self.note_on_base:
                if token - self.note_on_base in sounding:
                    end(token - self.note_on_base)
                sounding[token - self.note_on_base] = (step, velocity)
        max_steps = max(1, round(self.options.max_note_s * 1000 / self.options.resolution_ms))
        for pitch, (start, loudness) in sounding.items():
            notes.append(Note(pitch, start, max(min(start + max_steps, step), start + 1), loudness))
        # A note ended in the step it began lasts a step: one struck again then merges into it.
        return [Note(n.pitch, self._to_seconds(n.start), self._to_seconds(n.end), n.velocity)
                for n in merge_unisons(notes)]

    def to_midi(self, tokens: Tensor | list[int]) -> mido.MidiFile:
        return notes_to_midi(self.decode_notes(tokens))

    # ---- augmentation and measures ----

    def augment(self, tokens: Tensor, augmentation: Augmentation,
                generator: torch.Generator) -> Tensor:
        """Transposed by a whole number of semitones and stretched in time, both drawn
        uniformly within the augmentation's amounts (Magenta's Performance RNN does the same)."""
        semitones = augmentation.semitones(generator)
        factor = 1 + augmentation.stretch * (2 * float(torch.rand((), generator=generator)) - 1)
        return self.stretch(self.transpose(tokens, semitones), factor)

    def transpose(self, tokens: Tensor | list[int], semitones: int) -> Tensor:
        """Shift every NOTE_ON/NOTE_OFF; a note pushed out of 0..127 is dropped, on and off."""
        ids = self._as_tokens(tokens)
        is_on = (ids >= self.note_on_base) & (ids < self.note_off_base)
        is_note = is_on | ((ids >= self.note_off_base) & (ids < self.time_shift_base))
        pitch = torch.where(is_on, ids - self.note_on_base, ids - self.note_off_base) + semitones
        keep = ~is_note | ((pitch >= 0) & (pitch < NUM_PITCHES))
        return torch.where(is_note, ids + semitones, ids)[keep]

    def _shift_steps(self, ids: Tensor) -> Tensor:
        """The steps each token moves time forward (0 for all but TIME_SHIFTs)."""
        is_shift = (ids >= self.time_shift_base) & (ids < self.velocity_base)
        return torch.where(is_shift, ids - self.time_shift_base + 1, 0)

    def stretch(self, tokens: Tensor | list[int], factor: float) -> Tensor:
        """All times scaled by ``factor``: every other token keeps its order, at its scaled step
        rounded to the nearest, with the TIME_SHIFTs between them re-split."""
        if not factor > 0:
            raise ValueError(f"a stretch factor must be positive, not {factor}")
        ids = self._as_tokens(tokens)
        shifts = self._shift_steps(ids)
        steps = torch.cumsum(shifts, 0)
        is_event = shifts == 0
        scaled = round_half_up(steps.double() * factor)
        end_step = int(scaled[-1]) if len(scaled) else 0
        return self._place_in_time(ids[is_event], scaled[is_event], end_step)

    # ---- controls ----

    def controls(self) -> tuple[str, ...]:
        """Every control: a performance has velocities, so dynamics too."""
        return ("density", "key", "register", "dynamics")

    def control_notes(self, tokens: Tensor | list[int]) -> tuple[NoteArrays, Tensor]:
        """The notes ``decode_notes`` reads (as arrays, read at once: training measures every
        piece anew each epoch), and each token's time: the steps of the TIME_SHIFTs before
        it, in seconds."""
        ids = self._as_tokens(tokens)
        steps = self._shift_steps(ids)
        before = torch.cumsum(steps, 0) - steps
        return self.note_arrays(ids), before.double() * (self.options.resolution_ms / 1000)

    def note_arrays(self, ids: Tensor) -> NoteArrays:
        """``decode_notes`` of ``ids`` as arrays, without a loop over the tokens: each NOTE_ON
        ends at the next NOTE_ON or NOTE_OFF of its pitch (at least a step on), a note never
        ended after max_note_s or at the end. A pitch struck twice in one step, which
        ``decode_notes`` merges into one note, is read by it."""
        eos = (ids == self.EOS).nonzero()
        ids = ids[: int(eos[0])] if len(eos) else ids
        shifts = self._shift_steps(ids)
        step = (torch.cumsum(shifts, 0) - shifts).numpy()
        final = int(shifts.sum())
        tokens = ids.numpy()
        is_velocity = tokens >= self.velocity_base
        bins = np.arange(self.options.velocity_bins)
        size = self.options.velocity_bin_size
        decoded = np.concatenate([[DEFAULT_VELOCITY], np.minimum(127, 1 + bins * size + size // 2)])
        last = np.maximum.accumulate(np.where(is_velocity, np.arange(len(tokens)), -1))
        velocity = decoded[np.where(last >= 0, tokens[np.maximum(last, 0)] - self.velocity_base
                                    + 1, 0)]
        is_on = (tokens >= self.note_on_base) & (tokens < self.note_off_base)
        is_note = is_on | ((tokens >= self.note_off_base) & (tokens < self.time_shift_base))
        events = np.flatnonzero(is_note)
        pitch = np.where(is_on, tokens - self.note_on_base, tokens - self.note_off_base)[events]
        order = np.lexsort((events, pitch))  # by pitch, then in time
        events, pitch = events[order], pitch[order]
        has_next = np.append(pitch[1:] == pitch[:-1], False)
        ons = is_on[events]
        start = step[events]
        max_steps = max(1, round(self.options.max_note_s * 1000 / self.options.resolution_ms))
        after = np.append(start[1:], 0)
        end = np.where(has_next, after, np.minimum(start + max_steps, final))
        struck = pitch[ons] * (final + 1) + start[ons]
        if len(np.unique(struck)) < len(struck):
            return NoteArrays.of(self.decode_notes(ids))  # a pitch struck twice in a step
        end = np.maximum(end, start + 1)[ons]
        ms = self.options.resolution_ms  # seconds as _to_seconds counts them
        return NoteArrays.of_arrays(pitch[ons].astype(np.float64), start[ons] * ms / 1000,
                                    end * ms / 1000, velocity[events[ons]].astype(np.float64))

    def duration_s(self, tokens: Tensor | list[int]) -> float:
        """The total of the TIME_SHIFTs, in seconds."""
        return self._to_seconds(int(self._shift_steps(self._as_tokens(tokens)).sum()))

    # ---- configuration ----

    def to_json(self) -> dict:
        return {"name": self.name, **asdict(self.options)}

    @classmethod
    def from_json(cls, data: dict) -> "MidiCodec":
        if data.get("name") != cls.name:
            raise ValueError(f"not a {cls.name} codec: {data.get('name')!r}")
        known = {f.name for f in fields(MidiOptions)}
        unknown = sorted(set(data) - known - {"name"})
        if unknown:
            raise ValueError(f"unknown MIDI codec options: {', '.join(unknown)}")
        try:
            return cls(MidiOptions(**{k: v for k, v in data.items() if k in known}))
        except UsageError as exc:
            raise ValueError(str(exc)) from None
