"""The parts codec: MIDI files as parts (one line of notes per track) on a grid of time steps.

Each step of ``step_ms`` holds one token per part, in track order, then STEP: NOTE_p (a note
of pitch p begins), HOLD (the part's note goes on) or REST (the part is silent). A soprano,
alto, tenor and bass at one step are four tokens and a STEP, so a model always knows which
voice it is writing, which voice leading needs (BachBot, Liang 2016, serialises chorales so).
The event codec (``midi``) merges tracks into one stream and loses that.

A part is one line: where a track's notes overlap, a later note cuts the earlier one (at one
start, the highest is kept). Times are rounded to the nearest step, and a note lasts at least
one step. Decoding reads whatever the tokens say: a part that a step leaves out rests, a HOLD
with nothing sounding is silent. Augmentation transposes; a grid is not stretched.

A pair's target may count its notes from the source (``relative``): NOTE_64 is then the pitch
the source sounds at that step, NOTE_61 three semitones below it. A voice a fifth under the
melody is the same token in every key, and a parallel fifth with the melody is that token twice
while the melody moves, so a small model can learn what voice leading forbids without learning
the intervals between 128 pitches first.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from seqgen.data.codecs.base import Augmentation, CodecFileError, FileCodec, Rules
from seqgen.data.codecs.midi import (
    DEFAULT_VELOCITY,
    NUM_PITCHES,
    MidiOptions,
    TrackNotes,
    pick_track,
    read_track_notes,
    tracks_to_midi,
)
from seqgen.data.notes import Note
from seqgen.errors import UsageError

SPECIALS = ("PAD", "BOS", "EOS", "STEP", "HOLD", "REST")
STEP, HOLD, REST = 3, 4, 5
NOTE_BASE = len(SPECIALS)
ORIGIN = 64  # a relative note's token for the source's own pitch
UNSOUNDED = 60  # what a relative target counts from when the source has no note
PERFECT = (0, 7)  # interval classes two parts may not move in parallel: octaves, fifths
PARALLELS = {0: "parallel octaves", 7: "parallel fifths"}  # the rule each one breaks


class PartsCodec(FileCodec):
    """Tracks <-> parts on a grid: PAD, BOS, EOS, STEP, HOLD, REST, NOTE x128.

    ``step_ms``: the grid's step (125: a sixteenth note at 120 beats a minute).
    ``voices``: as the target of a pair, how many of the tracks beside the source (those after
    it in the file, then those before it); 0 for all of them. A file with fewer is skipped.
    ``relative``: a pair's target notes count semitones from the source's highest note sounding
    at their step (or the last before, or the first after): NOTE_64 is that pitch. A single
    sequence's parts are absolute either way.
    """

    name = "parts"
    suffixes = (".mid", ".midi")
    output_suffix = ".mid"

    def __init__(self, step_ms: int = 125, voices: int = 0, relative: bool = False) -> None:
        for option, value, least in (("step_ms", step_ms, 1), ("voices", voices, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise UsageError(f"parts option {option} must be an integer of at least "
                                 f"{least}, not {value!r}")
        if not isinstance(relative, bool):
            raise UsageError(f"parts option relative must be true or false, not {relative!r}")
        self.step_ms, self.voices, self.relative = step_ms, voices, relative

    @property
    def size(self) -> int:
        return NOTE_BASE + NUM_PITCHES

    @property
    def step_s(self) -> float:
        return self.step_ms / 1000

    def token_name(self, token: int) -> str:
        """``STEP``, ``HOLD``, ``REST``, ``NOTE_60``..."""
        if not 0 <= token < self.size:
            raise ValueError(f"token {token} is not in the vocabulary (0..{self.size - 1})")
        return SPECIALS[token] if token < NOTE_BASE else f"NOTE_{token - NOTE_BASE}"

    def token_seconds(self) -> Tensor:
        seconds = torch.zeros(self.size)
        seconds[STEP] = self.step_s
        return seconds

    # ---- files ----

    def read(self, path: Path) -> tuple[Tensor, dict[str, float]]:
        """Every track of a file as a part, in file order."""
        tracks = read_track_notes(path, MidiOptions())
        return self.encode_parts([t.notes for t in tracks]), facts(tracks)

    def write(self, tokens: Tensor, path: Path) -> None:
        parts = self.decode_parts(tokens)
        tracks_to_midi([(f"part {i}", notes) for i, notes in enumerate(parts, 1)]).save(path)

    def read_source(self, path: Path, source_track: str | None) -> Tensor:
        """The track ``source_track`` of a file with several tracks, else the whole file."""
        tracks = read_track_notes(path, MidiOptions())
        if source_track is None or len(tracks) == 1:
            return self.encode_parts([t.notes for t in tracks])
        return self.encode_parts([pick_track(tracks, source_track).notes])

    def read_pair(self, path: Path, source_track: str) -> tuple[Tensor, Tensor, dict[str, float]]:
        """The track ``source_track`` as one part, and ``voices`` of the others as the target's
        parts, on one grid."""
        source, target = self.pair_tracks(path, source_track)
        steps = self.steps([n for t in [source, *target] for n in t.notes])
        melody = self.encode_parts([source.notes], steps)
        return (melody, self.encode_parts([t.notes for t in target], steps,
                                          self.references(melody)), facts([source, *target]))

    def pair_tracks(self, path: Path, source_track: str) -> tuple[TrackNotes, list[TrackNotes]]:
        """The track ``source_track`` of a file and the ``voices`` tracks of its target:
        those after it in the file, then those before it."""
        tracks = read_track_notes(path, MidiOptions())
        source = pick_track(tracks, source_track)
        at = tracks.index(source)
        others = tracks[at + 1:] + tracks[:at]
        if not others:
            raise CodecFileError("one track with notes: no target beside the source")
        if len(others) < self.voices:
            raise CodecFileError(f"{len(others)} tracks beside the source, fewer than the "
                                 f"{self.voices} voices wanted")
        return source, others[:self.voices or None]

    def target_names(self, path: Path, source_track: str) -> tuple[str, ...]:
        """The names of the tracks ``read_pair`` reads as the target's parts."""
        return tuple(track.name.strip() for track in self.pair_tracks(path, source_track)[1])

    def write_pair(self, source: Tensor, target: Tensor, path: Path,
                   names: Sequence[str] = ()) -> None:
        """The source's parts on tracks "input", the target's (as many as ``voices`` at most,
        where it is set) on tracks named ``names`` (those a model was trained to write: Alto,
        Tenor, Bass), else "generated 1", "2"..."""
        inputs = self.decode_parts(source)
        named = [("input" if len(inputs) == 1 else f"input {i}", notes)
                 for i, notes in enumerate(inputs, 1)]
        voices = self.decode_parts(target, self.voices or None, self.references(source))
        named += [(voice_name(names, i), notes) for i, notes in enumerate(voices, 1)]
        tracks_to_midi(named).save(path)

    # ---- encoding ----

    def to_step(self, seconds: float) -> int:
        return int(seconds / self.step_s + 0.5)

    def steps(self, notes: list[Note]) -> int:
        """The steps of the grid that holds ``notes``: to the last end, at least one."""
        return max([1] + [max(self.to_step(n.end), self.to_step(n.start) + 1) for n in notes])

    def encode_parts(self, parts: list[list[Note]], steps: int | None = None,
                     references: list[int] | None = None) -> Tensor:
        """Tokens (int64, no BOS/EOS) of ``parts`` on a grid of ``steps`` (to the last note's
        end by default): a token per part at each step, then STEP. With ``references`` (a
        pitch per step), notes are counted from them (a note out of reach rests)."""
        steps = steps or self.steps([n for part in parts for n in part])
        grid = torch.full((steps, len(parts) + 1), REST)
        grid[:, -1] = STEP
        for column, notes in enumerate(parts):
            for pitch, start, end in line(notes, self.to_step):
                token = self.token_of(pitch, start, references)
                if token is not None:
                    grid[start, column] = token
                    grid[start + 1:end, column] = HOLD
        return grid.reshape(-1)

    def highest(self, source: Tensor) -> list[int | None]:
        """The highest note of ``source`` sounding at each of its steps (None: silence)."""
        highest: list[int | None] = [None] * int((torch.as_tensor(source) == STEP).sum())
        for part in self.decode_parts(source):
            for note in part:
                for step in range(self.to_step(note.start), self.to_step(note.end)):
                    if step < len(highest):
                        highest[step] = max(highest[step] or 0, note.pitch)
        return highest

    def references(self, source: Tensor) -> list[int] | None:
        """What a relative target counts from at each step of ``source``: the highest source
        note sounding then, else the last before, else the first after (60 for none); None
        for a codec whose targets are absolute."""
        if not self.relative:
            return None
        highest = self.highest(source)
        sounded = [pitch for pitch in highest if pitch is not None]
        last = sounded[0] if sounded else UNSOUNDED
        for step, pitch in enumerate(highest):
            last = highest[step] = last if pitch is None else pitch
        return highest

    # ---- decoding ----

    def decode_parts(self, tokens: Tensor | list[int], most: int | None = None,
                     references: list[int] | None = None) -> list[list[Note]]:
        """The parts of any token sequence, however ill-formed: the k-th token after a STEP is
        part k's (past the ``most`` parts wanted, none's); PAD and BOS are ignored and EOS ends
        decoding. With ``references`` (a pitch per step, the last one past their end), notes
        count from them, and one out of 0..127 rests."""
        parts: list[list[Note]] = []
        sounding: dict[int, tuple[int, int]] = {}  # part -> (pitch, start step)
        step = part = 0

        def end(which: int) -> None:
            if which in sounding:
                pitch, start = sounding.pop(which)
                parts[which].append(Note(pitch, start * self.step_s,
                                         max(step, start + 1) * self.step_s, DEFAULT_VELOCITY))

        for token in torch.as_tensor(tokens).tolist():
            if token == self.EOS:
                break
            if token in (self.PAD, self.BOS):
                continue
            if token == STEP:
                for silent in [p for p in sounding if p >= part]:  # parts this step left out
                    end(silent)
                step, part = step + 1, 0
                continue
            if most is not None and part >= most:
                continue
            while len(parts) <= part:
                parts.append([])
            if token != HOLD:
                end(part)
                pitch = self.pitch_of(token, step, references) if token >= NOTE_BASE else None
                if pitch is not None:
                    sounding[part] = (pitch, step)
            part += 1
        for which in list(sounding):
            end(which)
        return parts

    def token_of(self, pitch: int, step: int, references: list[int] | None) -> int | None:
        """The NOTE token of ``pitch`` at ``step`` (None: out of reach)."""
        value = pitch - offset(step, references)
        return NOTE_BASE + value if 0 <= value < NUM_PITCHES else None

    def pitch_of(self, token: int, step: int, references: list[int] | None) -> int | None:
        """The pitch of a NOTE token at ``step`` (None: out of 0..127)."""
        pitch = token - NOTE_BASE + offset(step, references)
        return pitch if 0 <= pitch < NUM_PITCHES else None

    def rules(self, source: Tensor) -> "VoiceLeading":
        """Voice leading (``VoiceLeading``) for a target written under ``source``."""
        return VoiceLeading(self, tuple(self.highest(source)), self.references(source))

    # ---- controls ----

    def controls(self) -> tuple[str, ...]:
        """What a grid of parts can be measured by: no velocities, so no dynamics."""
        return ("density", "key", "register")

    def control_notes(self, tokens: Tensor | list[int]) -> tuple[list[Note], Tensor]:
        """The notes of every part (absolute: a single sequence's, as ``decode_parts``
        reads them), and each token's time: the steps before it, in seconds."""
        ids = torch.as_tensor(tokens, dtype=torch.long)
        steps = (ids == STEP).long()
        before = torch.cumsum(steps, 0) - steps
        notes = [note for part in self.decode_parts(ids) for note in part]
        return notes, before.double() * self.step_s

    # ---- augmentation ----

    def augment(self, tokens: Tensor, augmentation: Augmentation,
                generator: torch.Generator) -> Tensor:
        """Transposed by a whole number of semitones drawn uniformly within the augmentation's
        amount (a note pushed out of 0..127 becomes a rest)."""
        return self.transpose(tokens, augmentation.semitones(generator))

    def augment_pair(self, source: Tensor, target: Tensor, augmentation: Augmentation,
                     generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Both sides transposed alike; a relative target, counted from the source, stays."""
        if not self.relative:
            return super().augment_pair(source, target, augmentation, generator)
        return self.augment(source, augmentation, generator), target

    def transpose(self, tokens: Tensor, semitones: int) -> Tensor:
        is_note = tokens >= NOTE_BASE
        pitch = tokens - NOTE_BASE + semitones
        moved = torch.where((pitch >= 0) & (pitch < NUM_PITCHES), tokens + semitones, REST)
        return torch.where(is_note, moved, tokens)

    # ---- configuration ----

    def to_json(self) -> dict:
        return {"name": self.name, "step_ms": self.step_ms, "voices": self.voices,
                "relative": self.relative}

    @classmethod
    def from_json(cls, data: dict) -> "PartsCodec":
        if data.get("name") != cls.name:
            raise ValueError(f"not a {cls.name} codec: {data.get('name')!r}")
        try:
            return cls(**{k: v for k, v in data.items() if k != "name"})
        except (TypeError, UsageError) as exc:
            raise ValueError(str(exc)) from None


@dataclass(frozen=True)
class VoiceLeading(Rules):
    """The rules of common-practice voice leading for a pair's target, as it is written: no
    voice above the melody (the source's highest note) nor above the voice before it, held or
    new, and no two parts (the melody, the voices) that are a fifth, or an octave or unison,
    apart at one step and again at the next, both moving the same way. A voice is checked
    against the melody and the voices before it at its step, so every two parts once."""

    codec: PartsCodec
    melody: tuple[int | None, ...]  # the source's highest note at each step
    references: list[int] | None  # what a relative target counts from
    step: int = 0
    before: tuple[int | None, ...] = ()  # each voice's pitch at the step before
    now: tuple[int | None, ...] = ()  # the voices written so far at this step

    def melody_at(self, step: int) -> int | None:
        return self.melody[step] if 0 <= step < len(self.melody) else None

    def broken(self) -> dict[str, list[int]]:
        part = len(self.now)
        if self.codec.voices and part >= self.codec.voices:
            return {}
        own = self.before[part] if part < len(self.before) else None
        melody = self.melody_at(self.step)
        voice = min((pitch for pitch in self.now if pitch is not None), default=None)
        found = {"above the melody": self.above(melody, NUM_PITCHES, own),
                 "above the voice before": self.above(
                     voice, NUM_PITCHES if melody is None else melody + 1, own),
                 "parallel fifths": set(), "parallel octaves": set()}
        others = [(self.melody_at(self.step - 1), melody), *zip(self.before, self.now,
                                                                 strict=False)]
        for was, now in others if own is not None else ():
            if was is None or now is None or was == now:
                continue
            interval = abs(was - own) % 12
            if interval in PERFECT:
                found[PARALLELS[interval]] |= self.tokens(
                    q for q in range(NUM_PITCHES)
                    if abs(now - q) % 12 == interval and (q - own) * (now - was) > 0)
        return {rule: sorted(tokens) for rule, tokens in found.items()}

    def above(self, low: int | None, high: int, own: int | None) -> set[int]:
        """The tokens of the pitches over ``low`` and under ``high``, and HOLD where the voice's
        held note ``own`` is one of them (the parts over the melody are the melody's rule)."""
        if low is None:
            return set()
        held = own is not None and low < own < high
        shift = NOTE_BASE - offset(self.step, self.references)  # token_of, for a range
        notes = range(max(low + 1 + shift, NOTE_BASE), min(high + shift, self.codec.size))
        return set(notes) | ({HOLD} if held else set())

    def tokens(self, pitches: Iterable[int]) -> set[int]:
        """The note tokens of ``pitches`` at this step."""
        notes = (self.codec.token_of(q, self.step, self.references) for q in pitches)
        return {t for t in notes if t is not None}

    def after(self, token: int) -> "VoiceLeading":
        if token == STEP:
            return replace(self, step=self.step + 1, before=self.now, now=())
        if token < STEP:  # PAD, BOS, EOS
            return self
        part = len(self.now)
        if token == HOLD:
            pitch = self.before[part] if part < len(self.before) else None
        else:
            pitch = None if token == REST else \
                self.codec.pitch_of(token, self.step, self.references)
        return replace(self, now=(*self.now, pitch))


def voice_name(names: Sequence[str], number: int) -> str:
    """The name of the target's part ``number`` (from 1): its name in ``names``, else
    "generated N"."""
    given = names[number - 1] if number <= len(names) else ""
    return given or f"generated {number}"


def offset(step: int, references: list[int] | None) -> int:
    """What a relative note's pitch adds to its value at ``step`` (0 for absolute notes; the
    last reference past their end)."""
    if references is None:
        return 0
    return (references[min(step, len(references) - 1)] if references else UNSOUNDED) - ORIGIN


def line(notes: list[Note], to_step: Callable[[float], int]) -> list[tuple[int, int, int]]:
    """A track's notes as one line of (pitch, start step, end step): rounded to steps, each at
    least a step long, a note cut where the next begins (at one start, the highest kept)."""
    quantised = sorted((to_step(n.start), n.pitch, max(to_step(n.end), to_step(n.start) + 1))
                       for n in notes)
    kept = []
    for (start, pitch, end), after in zip(quantised, [*quantised[1:], None], strict=True):
        if after is not None:
            end = min(end, after[0])
        if end > start:
            kept.append((pitch, start, end))
    return kept


def facts(tracks: list[TrackNotes]) -> dict[str, float]:
    """A file's notes and length in seconds, the statistics a corpus sums."""
    notes = [n for t in tracks for n in t.notes]
    return {"notes": len(notes), "seconds": max(n.end for n in notes)}
