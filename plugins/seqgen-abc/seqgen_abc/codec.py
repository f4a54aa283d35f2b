"""The ABC codec: tunes in ABC notation <-> NOTE and DUR tokens on a beat grid.

Reading: the first tune of a file is cleaned of what is not pitch and rhythm (chord symbols and
annotations, grace notes, decorations, ``%%MIDI`` playback directives, the ``R:`` field) and
played by symusic (``symusic.Score.from_abc``, which runs the abc2midi it bundles); the notes of
every voice are quantised to ``steps_per_quarter`` steps per quarter note.

The tokens, after PAD, BOS and EOS: ``NOTE_p`` (128, one per MIDI pitch) starts a note of pitch
``p`` now; ``DUR_d`` (``d`` = 1 to ``max_quarters * steps_per_quarter`` steps) gives the notes
started since the last DUR the length ``d`` and moves time on by ``d``. A DUR with no NOTE
before it is a rest. A melody note is two tokens (``NOTE_67 DUR_6``), a chord is its notes,
lowest first, and one DUR (``NOTE_60 NOTE_64 NOTE_67 DUR_12``).

Writing: the notes as an ABC tune in 4/4 (``L:1/16`` for the default grid), C major with an
explicit accidental wherever one is needed, notes crossing a bar line tied, lengths that are not
a whole number of ``L:`` units with one-note tuplets (``(3:1:1c4``: an eighth-note triplet's
note), chords of at most 50 notes (all abc2midi plays). symusic reads it back to the same tokens.
"""

import math
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import symusic
import torch
from torch import Tensor

import seqgen

NUM_PITCHES = 128
# In to_json, so in seqgen's corpus cache key: a version of this package that reads ABC
# differently (other tokens from the same file) must raise it, or the cache serves old tokens.
READER_VERSION = 1
BAR_QUARTERS = 4  # written tunes are in 4/4
SHARP_NAMES = ("C", "^C", "D", "^D", "E", "F", "^F", "G", "^G", "A", "^A", "B")

FIELD_LINE = re.compile(r"^\s*[A-Za-z+]:")
INLINE_FIELD = re.compile(r"\[[A-Za-z]:[^\]\n]*\]")
MIDI_DIRECTIVE = re.compile(r"^\s*%%\s*MIDI\b|^\s*I:\s*MIDI\b")
# abc 2.1's one-character decorations (staccato, roll, fermata, accent, mordents, coda, segno,
# trill, bowings) and the letters U: may define as more of them
ONE_CHARACTER_DECORATIONS = frozenset(".~HIJKLMNOPQRSTUVWhijklmnopqrstuvw")
NOTE_MATERIAL = frozenset("ABCDEFGabcdefg^_=,'/0123456789")
PLAYED_TOGETHER = "%%MIDI chordattack 0"  # abc2midi would stagger a chord's notes by 10 ticks
MAX_CHORD = 50  # abc2midi plays no more notes of a chord: written chords keep their lowest 50


def check_option(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"ABC option {name} must be a whole number from {low} to {high}, "
                         f"not {value!r}")


class AbcCodec(seqgen.FileCodec):
    """ABC tunes <-> tokens: PAD, BOS, EOS, NOTE x128 (a note of that pitch starts), DUR x
    ``max_quarters * steps_per_quarter`` (the notes since the last DUR last that many steps and
    time moves on by as many; with no note before it, a rest)."""

    name = "abc"
    suffixes = (".abc",)
    output_suffix = ".abc"
    SPECIALS = ("PAD", "BOS", "EOS")
    NOTE_BASE = len(SPECIALS)
    DUR_BASE = NOTE_BASE + NUM_PITCHES  # DUR of one step

    def __init__(self, steps_per_quarter: int = 12, max_quarters: int = 8,
                 tempo: int = 120) -> None:
        check_option("steps_per_quarter", steps_per_quarter, 1, 48)
        check_option("max_quarters", max_quarters, 1, 64)
        check_option("tempo", tempo, 20, 480)
        self.steps_per_quarter = steps_per_quarter
        self.max_quarters = max_quarters
        self.tempo = tempo  # quarter notes per minute: written tunes' Q:, and token_seconds
        self.max_steps = steps_per_quarter * max_quarters
        self._size = self.DUR_BASE + self.max_steps

    @property
    def size(self) -> int:
        return self._size

    def options(self) -> dict[str, int]:
        return {"steps_per_quarter": self.steps_per_quarter, "max_quarters": self.max_quarters,
                "tempo": self.tempo}

    def token_name(self, token: int) -> str:
        """``PAD``, ``BOS``, ``EOS``, ``NOTE_60`` (MIDI pitch), ``DUR_6`` (steps)."""
        if not 0 <= token < self.size:
            raise ValueError(f"token {token} is not in the vocabulary (0..{self.size - 1})")
        if token < self.NOTE_BASE:
            return self.SPECIALS[token]
        if token < self.DUR_BASE:
            return f"NOTE_{token - self.NOTE_BASE}"
        return f"DUR_{token - self.DUR_BASE + 1}"

    def token_seconds(self) -> Tensor:
        """The seconds each DUR moves time on at ``tempo`` quarter notes a minute (what
        ``seqgen sample --length 30s`` counts); 0 for the other tokens."""
        steps = torch.arange(self.size) - self.DUR_BASE + 1
        return torch.where(steps > 0, steps, 0) * (60 / (self.tempo * self.steps_per_quarter))

    # ---- reading ----

    def read(self, path: Path) -> tuple[Tensor, dict[str, float]]:
        """The first tune's tokens; statistics: ``tunes`` (1), ``notes``, ``seconds`` (at the
        tune's own tempo, repeats played) and ``ignored_tunes`` (the file's further tunes)."""
        header, tune, ignored = first_tune(read_text(path))
        score = play(clean_tune(header, tune))
        tokens = self.encode_notes(self.grid_notes(score))
        stats = {"tunes": 1, "notes": int(self.is_note(tokens).sum()),
                 "seconds": float(score.to("second").end())}
        if ignored:
            stats["ignored_tunes"] = ignored
        return tokens, stats

    def grid_notes(self, score: object) -> list[tuple[int, int, int]]:
        """The (start, end, pitch) of every note of a symusic score's non-drum tracks, times in
        steps rounded to the nearest (halves up), each note at least a step long."""
        scale = self.steps_per_quarter / score.ticks_per_quarter
        notes = set()
        for track in score.tracks:
            if track.is_drum:
                continue
            columns = track.notes.numpy()
            for time, duration, pitch in zip(columns["time"].tolist(),
                                             columns["duration"].tolist(),
                                             columns["pitch"].tolist(), strict=True):
                start = math.floor(time * scale + 0.5)
                end = max(math.floor((time + duration) * scale + 0.5), start + 1)
                notes.add((start, end, pitch))
        if not notes:
            raise seqgen.CodecFileError("no notes")
        return sorted(notes)

    def encode_notes(self, notes: list[tuple[int, int, int]]) -> Tensor:
        """Tokens of (start, end, pitch) notes in steps. Notes starting together are a chord
        lasting as long as its longest note; a chord is cut where the next one starts, and at
        ``max_quarters``; the time between them is rests."""
        chords: dict[int, tuple[set[int], int]] = {}
        for start, end, pitch in notes:
            if not 0 <= pitch < NUM_PITCHES or end <= start or start < 0:
                raise ValueError(f"not a note: start {start}, end {end}, pitch {pitch}")
            pitches, last_end = chords.get(start, (set(), end))
            pitches.add(pitch)
            chords[start] = (pitches, max(last_end, end))
        starts = sorted(chords)
        tokens: list[int] = []
        now = 0
        for i, start in enumerate(starts):
            tokens += self.rest_tokens(start - now)
            pitches, end = chords[start]
            if i + 1 < len(starts):
                end = min(end, starts[i + 1])
            length = min(end - start, self.max_steps)
            tokens += [self.NOTE_BASE + p for p in sorted(pitches)]
            tokens.append(self.DUR_BASE + length - 1)
            now = start + length
        return torch.tensor(tokens, dtype=torch.long)

    def rest_tokens(self, steps: int) -> list[int]:
        """DURs of ``steps`` in all (none for 0), each as long as they may be."""
        full, rest = divmod(steps, self.max_steps)
        return [self.DUR_BASE + self.max_steps - 1] * full + \
            ([self.DUR_BASE + rest - 1] if rest else [])

    # ---- decoding and writing ----

    def is_note(self, tokens: Tensor) -> Tensor:
        return (tokens >= self.NOTE_BASE) & (tokens < self.DUR_BASE)

    def decode_events(self, tokens: Tensor | list[int]) -> list[tuple[tuple[int, ...], int]]:
        """(pitches, steps) one after the other: a chord, a note or (no pitches) a rest.

        PAD and BOS are skipped; EOS ends the tune; NOTEs left with no DUR after them last a
        quarter note; a pitch named twice before a DUR is one note."""
        ids = tokens.tolist() if isinstance(tokens, Tensor) else list(tokens)
        events, pending = [], []
        for token in ids:
            if not 0 <= token < self.size:
                raise ValueError(f"token {token} is not in the vocabulary (0..{self.size - 1})")
            if token == self.EOS:
                break
            if token >= self.DUR_BASE:
                events.append((tuple(sorted(pending)), token - self.DUR_BASE + 1))
                pending = []
            elif token >= self.NOTE_BASE and token - self.NOTE_BASE not in pending:
                pending.append(token - self.NOTE_BASE)
        if pending:
            events.append((tuple(sorted(pending)), self.steps_per_quarter))
        return events

    def decode_notes(self, tokens: Tensor | list[int]) -> list[tuple[int, int, int]]:
        """The (start, end, pitch) notes of ``tokens``, times in steps, sorted."""
        notes, now = [], 0
        for pitches, steps in self.decode_events(tokens):
            notes += [(now, now + steps, p) for p in pitches]
            now += steps
        return sorted(notes)

    def to_abc(self, tokens: Tensor | list[int], title: str = "Generated by seqgen") -> str:
        """An ABC tune of ``tokens``: 4/4, C major, four bars a line. A note crossing a bar
        line is tied over it. A length that is not a whole number of L: units is a one-note
        tuplet when it is a power of two steps (4 steps of 12 a quarter: an eighth-note
        triplet's note), else the whole units tied to a tuplet of the rest."""
        power_of_two = self.steps_per_quarter & -self.steps_per_quarter
        unit = self.steps_per_quarter // power_of_two  # steps in one L: unit
        bar = BAR_QUARTERS * self.steps_per_quarter
        bars: list[str] = []
        written: list[str] = []  # the current bar's notes
        sharpened: set[str] = set()  # letters with a sharp earlier in the current bar
        position = 0

        def add(pitches: tuple[int, ...], steps: int) -> None:
            nonlocal written, position
            while steps > 0:
                piece = min(steps, bar - position)
                if piece > unit and piece & (piece - 1):  # not a tuplet's 1, 2, 4, 8... steps
                    piece -= piece % unit
                steps -= piece
                written.append(abc_note(pitches, piece, unit, sharpened,
                                        tied=bool(pitches) and steps > 0))
                position += piece
                if position == bar:
                    bars.append(" ".join(written))
                    written, position = [], 0
                    sharpened.clear()

        for pitches, steps in merge_rests(self.decode_events(tokens)):
            add(pitches, steps)
        if written or not bars:  # the last bar filled up with rests
            add((), bar - position)
        lines = [" | ".join(bars[i : i + 4]) + " |" for i in range(0, len(bars), 4)]
        lines[-1] += "]"
        header = ["X:1", f"T:{title}", f"M:{BAR_QUARTERS}/4", f"L:1/{4 * power_of_two}",
                  f"Q:1/4={self.tempo}", "K:C", PLAYED_TOGETHER]
        return "\n".join(header + lines) + "\n"

    def write(self, tokens: Tensor, path: Path) -> None:
        Path(path).write_text(self.to_abc(tokens), encoding="utf-8")

    # ---- controls ----

    def controls(self) -> tuple[str, ...]:
        """The music controls seqgen may measure on these tokens: no velocities, so no
        dynamics."""
        return ("density", "key", "register")

    def control_notes(self, tokens: Tensor | list[int]) -> tuple[list[seqgen.Note], Tensor]:
        """The notes of ``tokens`` in seconds at ``tempo`` (velocity 64 each), and each
        token's time: the steps of the DURs before it, in seconds."""
        ids = torch.as_tensor(tokens, dtype=torch.long)
        seconds = 60 / (self.tempo * self.steps_per_quarter)  # one step
        steps = torch.where(ids >= self.DUR_BASE, ids - self.DUR_BASE + 1, 0)
        before = torch.cumsum(steps, 0) - steps
        notes = [seqgen.Note(pitch, start * seconds, end * seconds, 64)
                 for start, end, pitch in self.decode_notes(ids)]
        return notes, before.double() * seconds

    # ---- augmentation ----

    def augment(self, tokens: Tensor, augmentation: object,
                generator: torch.Generator) -> Tensor:
        """A random transposition of a training tune: ``augmentation.transpose`` semitones at
        most either way, drawn from ``generator``. ``augmentation.stretch`` is ignored: on a
        beat grid a tempo change is no change at all."""
        limit = int(augmentation.transpose)
        semitones = int(torch.randint(-limit, limit + 1, (), generator=generator))
        return self.transpose(tokens, semitones)

    def transpose(self, tokens: Tensor, semitones: int) -> Tensor:
        """Every NOTE moved by ``semitones``, less where the tune would leave 0..127: the shift
        is clipped so that its lowest and highest notes stay in range, keeping every interval
        (a tune spanning 0..127 is not moved)."""
        is_note = self.is_note(tokens)
        if semitones == 0 or not bool(is_note.any()):
            return tokens
        pitches = tokens[is_note] - self.NOTE_BASE
        semitones = max(-int(pitches.min()), min(semitones, NUM_PITCHES - 1 - int(pitches.max())))
        return torch.where(is_note, tokens + semitones, tokens)

    # ---- configuration ----

    def to_json(self) -> dict:
        """The codec's name, options and ``reader`` (how it reads files, for the cache)."""
        return {"name": self.name, "reader": READER_VERSION, **self.options()}

    @classmethod
    def from_json(cls, data: dict) -> "AbcCodec":
        """The codec ``to_json`` describes (of any ``reader``: the tokens mean the same)."""
        if data.get("name") != cls.name:
            raise ValueError(f"not an {cls.name} codec: {data.get('name')!r}")
        unknown = sorted(set(data) - set(cls.default_options()) - {"name", "reader"})
        if unknown:
            raise ValueError(f"unknown ABC codec options: {', '.join(unknown)}")
        return cls(**{key: value for key, value in data.items()
                      if key not in ("name", "reader")})


# ---- writing notes ---------------------------------------------------------------------------


def merge_rests(events: list[tuple[tuple[int, ...], int]]) -> list[tuple[tuple[int, ...], int]]:
    """``events`` with each run of rests as one rest."""
    merged: list[tuple[tuple[int, ...], int]] = []
    for pitches, steps in events:
        if not pitches and merged and not merged[-1][0]:
            merged[-1] = ((), merged[-1][1] + steps)
        else:
            merged.append((pitches, steps))
    return merged


def pitch_name(pitch: int, sharpened: set[str]) -> str:
    """ABC for a MIDI pitch in C major (middle C, 60, is ``C``; 72 is ``c``), spelled with
    sharps. A sharp is always written; a natural gets ``=`` when its letter had a sharp earlier
    in the bar, in any octave (abc2midi carries an accidental to every octave, the standard to
    the same octave: this is right for both), and always in the lowest octave, 0..11
    (``C,,,,,``), where abc2midi looks up the accidental of the letter below instead."""
    octave, pitch_class = divmod(pitch, 12)
    name = SHARP_NAMES[pitch_class]
    letter = name[-1]
    if name.startswith("^"):
        accidental = "^"
        sharpened.add(letter)
    else:
        accidental = "=" if letter in sharpened or octave == 0 else ""
    if octave >= 6:
        return accidental + letter.lower() + "'" * (octave - 6)
    return accidental + letter + "," * (5 - octave)


def abc_note(pitches: tuple[int, ...], steps: int, unit: int, sharpened: set[str],
             tied: bool) -> str:
    """A note, chord or rest of ``steps`` in ABC; ``unit`` is the steps in one L: length. A
    length that is not a whole number of units is a one-note tuplet: ``(3:1:1c4`` is 4/3
    units. A chord keeps its lowest ``MAX_CHORD`` notes."""
    if steps % unit:
        prefix, length = f"({unit}:1:1", str(steps)
    else:
        prefix, length = "", "" if steps == unit else str(steps // unit)
    if not pitches:
        return f"{prefix}z{length}"
    names = [pitch_name(p, sharpened) for p in pitches[:MAX_CHORD]]
    body = names[0] if len(names) == 1 else "[" + "".join(names) + "]"
    return prefix + body + length + ("-" if tied else "")


# ---- reading tunes ---------------------------------------------------------------------------


def read_text(path: Path) -> str:
    """A file's text: UTF-8, else Latin-1 (older ABC collections)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise seqgen.CodecFileError(f"cannot read the file: {exc.strerror or exc}") from exc
    if b"\0" in data:
        raise seqgen.CodecFileError("not ABC notation (binary data)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def first_tune(text: str) -> tuple[list[str], list[str], int]:
    """The file header's field and directive lines, the first tune's lines (from its ``X:``
    line to a blank line or the next ``X:``), and how many tunes follow it."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.lstrip().startswith("X:")]
    if not starts:
        raise seqgen.CodecFileError("not ABC notation (no X: line starts a tune)")
    first = starts[0]
    header = [line for line in lines[:first]
              if line.lstrip().startswith("%") or FIELD_LINE.match(line)]
    end = first + 1
    while end < len(lines) and lines[end].strip() and not lines[end].lstrip().startswith("X:"):
        end += 1
    tune = lines[first:end]
    if not any(line.lstrip().startswith("K:") for line in tune):
        raise seqgen.CodecFileError("the first tune has no K: (key) line")
    return header, tune, sum(1 for i in starts if i >= end)


def clean_tune(header: list[str], tune: list[str]) -> str:
    """The ABC symusic plays: ``header`` and ``tune`` less comments, ``%%MIDI`` directives and
    ``R:`` fields, each music line less what is not pitch or rhythm (``strip_line``), chords
    played together."""
    kept, in_body = [], False
    for line in header + tune:
        stripped = line.strip()
        if MIDI_DIRECTIVE.match(stripped) or stripped.startswith("R:") or \
                (stripped.startswith("%") and not stripped.startswith("%%")):
            continue
        if FIELD_LINE.match(line) or stripped.startswith("%%"):
            kept.append(line)
            if stripped.startswith("K:") and not in_body:
                kept.append(PLAYED_TOGETHER)
                in_body = True
        elif in_body:
            kept.append(strip_line(line))
    return "\n".join(kept) + "\n"


def strip_line(line: str) -> str:
    """A line of music less its comment, chord symbols and annotations (``"G"``, ``"^text"``),
    grace notes (``{ag}``) and decorations (``!trill!``, ``+fermata+``, ``~``, ``T``, ``.``...):
    the pitches and the written rhythm stay."""
    kept, i = [], 0
    while i < len(line):
        char = line[i]
        if char == "%":
            break
        if char == "[" and (field := INLINE_FIELD.match(line, i)):
            kept.append(field.group())
            i = field.end()
            continue
        if char in "\"{!+":
            close = line.find('"' if char == '"' else "}" if char == "{" else char, i + 1)
            inside = line[i + 1 : close]
            # !x! and +x+ are decorations unless they hold a bar line or spaces (abc 1.6 used
            # "!" to break lines), or (+x+) only note material (the old chord syntax +CEG+)
            is_decoration = close > i and (char in "\"{" or (
                not set(inside) & set("| \t") and
                (char == "!" or not set(inside) <= NOTE_MATERIAL)))
            if is_decoration:
                i = close + 1
                continue
            if char in "\"{":  # never closed: the rest of the line is not music
                break
            kept.append(char)  # "!" or "+" of something else, left to abc2midi
            i += 1
            continue
        if char not in ONE_CHARACTER_DECORATIONS:
            kept.append(char)
        i += 1
    return "".join(kept)


@contextmanager
def captured_output(lines: list[str]) -> Iterator[None]:
    """Collect into ``lines`` what the process writes to its standard output and error (file
    descriptors 1 and 2) inside the block: abc2midi, which symusic runs, prints its warnings
    and errors there. Anything another thread writes meanwhile is collected too."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(AttributeError, OSError, ValueError):
            stream.flush()
    saved: list[int] = []
    try:
        saved += [os.dup(1), os.dup(2)]
    except OSError:  # no standard output or error to redirect
        for fd in saved:
            os.close(fd)
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            lines += sink.read().decode("utf-8", "replace").splitlines()


def play(abc: str) -> object:
    """symusic's score of an ABC tune (in ticks), abc2midi's messages kept off the terminal; a
    tune it cannot play is a CodecFileError with abc2midi's first error."""
    messages: list[str] = []
    try:
        with captured_output(messages):
            return symusic.Score.from_abc(abc)
    except Exception as exc:
        errors = [m.partition(" : ")[2].strip() for m in messages if m.startswith("Error")]
        reason = errors[0] if errors and errors[0] else f"{type(exc).__name__}: {exc}"
        raise seqgen.CodecFileError(f"abc2midi cannot play it: {reason}") from exc
