"""The MidiTok codec: MIDI files <-> the tokens of a MidiTok tokenizer (REMI, TSD, MIDILike,
Structured).

MidiTok (https://github.com/Natooz/MidiTok) reads the file (through symusic), quantises it to
its beat grid and writes the tokens; it decodes tokens back to a score. This module adds what
seqgen needs around it:

- **One sequence per file.** By default (``use_programs=false``) every non-drum track is merged
  into one track before MidiTok sees the file, and drum tracks are dropped: one stream of notes,
  without instruments, written back as one piano track. That keeps a chorale's four voices or a
  piano's two hands on one timeline with no token spent on the track (a unison of two voices is
  two notes). With ``use_programs=true`` MidiTok's own multitrack stream is used instead
  (``one_token_stream_for_programs``): a ``Program`` token before each note, tracks of one
  program merged, drums kept (``PitchDrum`` tokens), written back as one track per program.
- **The vocabulary.** MidiTok's, fixed by its configuration (no BPE or other training). Its
  special tokens are configured as PAD, BOS and EOS, which MidiTok puts at ids 0, 1 and 2, as
  seqgen wants them; seqgen's ids are mapped to MidiTok's by token name all the same, so a
  checkpoint's tokens mean what they meant when it was trained even if MidiTok someday orders
  its vocabulary otherwise (``from_json`` checks every stored name still exists).
- **Transposition** (``augment``) moves every pitched token (``Pitch``, ``NoteOn``,
  ``NoteOff``; never drums) by the same interval, clipped so the lowest and highest notes stay in
  MidiTok's pitch range.
- **Seconds** (``token_seconds``) at the tempo MidiTok writes (120 quarter notes a minute):
  ``TimeShift`` tokens by their beats; for REMI, a bar per ``TimeSig`` token (MidiTok writes one
  after every ``Bar``), or per ``Bar`` without time signatures. A beat is taken as a quarter note.

MidiTok is imported when a tokenizer is first built, not when the plugin or this module loads.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections import Counter
from operator import itemgetter
from pathlib import Path

import torch
from torch import Tensor

import seqgen

TOKENIZERS = ("REMI", "TSD", "MIDILike", "Structured")
# In to_json, so in seqgen's corpus cache key: a release of this package that reads a file into
# other tokens must raise it, or the cache serves the old ones.
READER_VERSION = 1
DEFAULT_BEAT_RES = "0_4:8,4_12:4"  # MidiTok's default: 8 steps a beat up to 4 beats, then 4
MAX_STEPS_PER_BEAT = 64
SPECIALS = ("PAD", "BOS", "EOS")  # seqgen's names; MidiTok calls them PAD_None, ...
PITCHED = ("Pitch", "NoteOn", "NoteOff")  # token kinds whose value is a MIDI pitch
NOTE_STARTS = ("Pitch", "NoteOn", "PitchDrum", "DrumOn")  # one token per note
QUARTERS_PER_BAR = 4  # a REMI bar when the tokenizer has no time signatures (4/4)
# TokenizerConfig entries that MidiTok keeps as tuples (JSON has lists)
TUPLE_ENTRIES = ("pitch_range", "drums_pitch_range", "tempo_range", "pitch_bend_range",
                 "chord_unknown")


# ---- options ---------------------------------------------------------------------------------


def tokenizer_name(value: object) -> str:
    """The MidiTok tokenizer named ``value`` (any case), or a one-line error listing them."""
    for name in TOKENIZERS:
        if isinstance(value, str) and value.lower() == name.lower():
            return name
    raise ValueError(f"unknown MidiTok tokenizer {value!r}; accepted: {', '.join(TOKENIZERS)}")


def parse_beat_res(value: object) -> dict[tuple[int, int], int]:
    """``"0_4:8,4_12:4"`` (MidiTok's notation: from beat 0 to 4, 8 steps a beat; from 4 to 12, 4
    steps) as MidiTok's ``beat_res``; a whole number N is ``0_4:N,4_12:N/2`` (at least 1)."""
    usage = (f"MidiTok option beat_res must be ranges of beats and steps per beat such as "
             f"{DEFAULT_BEAT_RES!r} (contiguous from beat 0, at most {MAX_STEPS_PER_BEAT} steps), "
             f"or a number of steps per beat, not {value!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_STEPS_PER_BEAT:
            raise ValueError(usage)
        return {(0, 4): value, (4, 12): max(1, value // 2)}
    if not isinstance(value, str):
        raise ValueError(usage)
    ranges: dict[tuple[int, int], int] = {}
    end = 0
    for part in value.split(","):
        span, colon, steps = part.strip().partition(":")
        first, underscore, last = span.partition("_")
        try:
            start, stop, per_beat = int(first), int(last), int(steps)
        except ValueError:
            raise ValueError(usage) from None
        if not (colon and underscore and start == end < stop
                and 1 <= per_beat <= MAX_STEPS_PER_BEAT):
            raise ValueError(usage)
        ranges[(start, stop)] = per_beat
        end = stop
    return ranges


def format_beat_res(ranges: dict[tuple[int, int], int]) -> str:
    return ",".join(f"{start}_{stop}:{steps}" for (start, stop), steps in ranges.items())


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"MidiTok option {name} must be true or false, not {value!r}")
    return value


# ---- MidiTok's configuration as JSON ---------------------------------------------------------


def plain(value: object) -> object:
    """A value of a TokenizerConfig as JSON: sets sorted, tuples as lists, keys as strings."""
    if isinstance(value, dict):
        return {key_text(k): plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return plain(value.tolist())
    return value


def key_text(key: object) -> str:
    """A dict key as JSON: ``(0, 4)`` as ``"0_4"`` (MidiTok's notation), others as text."""
    return "_".join(map(str, key)) if isinstance(key, tuple) else str(key)


def config_json(config: object) -> dict:
    """A MidiTok TokenizerConfig as plain JSON (what ``to_json`` stores)."""
    return json.loads(json.dumps(plain(dict(vars(config)))))


def config_from_json(data: dict) -> object:
    """The TokenizerConfig that ``config_json`` gave ``data``."""
    from miditok import TokenizerConfig

    entries = json.loads(json.dumps(data))  # a copy: MidiTok changes what it is given
    for key in ("beat_res", "beat_res_rest"):
        if key in entries:
            entries[key] = {tuple(int(x) for x in span.split("_")): steps
                            for span, steps in entries[key].items()}
    if "time_signature_range" in entries:
        entries["time_signature_range"] = {int(denominator): numerators for denominator,
                                           numerators in entries["time_signature_range"].items()}
    if "chord_maps" in entries:
        entries["chord_maps"] = {name: tuple(notes)
                                 for name, notes in entries["chord_maps"].items()}
    for key in TUPLE_ENTRIES:
        if isinstance(entries.get(key), list):
            entries[key] = tuple(entries[key])
    entries.setdefault("additional_params", {})
    return TokenizerConfig.from_dict(entries)


@functools.lru_cache(maxsize=16)
def build_tokenizer(name: str, config: str) -> object:
    """A MidiTok tokenizer of the class ``name`` and the configuration ``config`` (JSON text),
    one per process (worker processes build theirs from the codec they are sent)."""
    import miditok

    return getattr(miditok, name)(config_from_json(json.loads(config)))


def fresh_config(beat_res: dict[tuple[int, int], int], num_velocities: int, use_tempos: bool,
                 use_programs: bool) -> object:
    """MidiTok's default configuration with the codec's options."""
    from miditok import TokenizerConfig

    return TokenizerConfig(
        special_tokens=list(SPECIALS), beat_res=beat_res,
        num_velocities=max(num_velocities, 1), use_velocities=num_velocities > 0,
        use_tempos=use_tempos, use_programs=use_programs,
        # merged into one track, a file has no drums: no PitchDrum tokens then
        use_pitchdrum_tokens=use_programs)


# ---- reading files ---------------------------------------------------------------------------


def load_score(path: Path) -> object:
    """A MIDI file as a symusic score, or a CodecFileError saying why not."""
    import symusic

    try:
        return symusic.Score(str(path))
    except Exception as exc:  # symusic raises RuntimeError, ValueError... for bad files
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise seqgen.CodecFileError(f"not a readable MIDI file: {reason}") from None


def merged_score(score: object) -> object:
    """The score's non-drum notes on one track (program 0), with its tempos, time and key
    signatures."""
    import symusic

    merged = symusic.Score(score.ticks_per_quarter)
    merged.tempos = score.tempos.copy()
    merged.time_signatures = score.time_signatures.copy()
    merged.key_signatures = score.key_signatures.copy()
    track = symusic.Track(name="merged", program=0)
    for part in score.tracks:
        if not part.is_drum:
            track.notes.extend(part.notes)
    track.notes.sort()
    merged.tracks.append(track)
    return merged


def last_note_end(score: object) -> float:
    """When the score's last note ends, in seconds (at its own tempos)."""
    timed = score.to("second")
    return max((float(track.end()) for track in timed.tracks if track.note_num()), default=0.0)


# ---- the codec -------------------------------------------------------------------------------


class MiditokCodec(seqgen.FileCodec):
    """MIDI files <-> a MidiTok tokenizer's tokens: PAD, BOS and EOS (0, 1, 2), then MidiTok's
    vocabulary (for REMI: Bar, Pitch, Velocity, Duration, Position, TimeSig)."""

    name = "miditok"
    # What it reads; but the built-in midi codec claims these suffixes first, so a corpus is
    # read by this codec only when --format miditok names it.
    suffixes = (".mid", ".midi")
    output_suffix = ".mid"
    TOKENIZERS = TOKENIZERS

    def __init__(self, tokenizer: str = "REMI", beat_res: str = DEFAULT_BEAT_RES,
                 num_velocities: int = 32, use_tempos: bool = False,
                 use_programs: bool = False) -> None:
        tokenizer = tokenizer_name(tokenizer)
        ranges = parse_beat_res(beat_res)
        if not isinstance(num_velocities, int) or isinstance(num_velocities, bool) \
                or not 0 <= num_velocities <= 127:
            raise ValueError(f"MidiTok option num_velocities must be a whole number from 0 "
                             f"(no Velocity tokens) to 127, not {num_velocities!r}")
        options = {"tokenizer": tokenizer, "beat_res": format_beat_res(ranges),
                   "num_velocities": num_velocities,
                   "use_tempos": check_bool("use_tempos", use_tempos),
                   "use_programs": check_bool("use_programs", use_programs)}
        import miditok

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MidiTok warns of settings it adjusts itself
            made = getattr(miditok, tokenizer)(fresh_config(ranges, num_velocities, use_tempos,
                                                            use_programs))
        self._setup(options, config_json(made.config), None)

    def _setup(self, options: dict, config: dict, vocabulary: list[str] | None) -> None:
        """Set the codec up from its options, MidiTok's configuration (JSON) and, for a codec
        read back, the vocabulary it had (token names by seqgen id)."""
        self._options = dict(options)
        self._config = config
        self._config_text = json.dumps(config, sort_keys=True)
        miditok_ids = self.tokenizer.vocab  # name -> MidiTok id
        miditok_name = {special: f"{special}_None" for special in SPECIALS}
        if vocabulary is None:
            vocabulary = list(SPECIALS) + [
                name for name, _ in sorted(miditok_ids.items(), key=itemgetter(1))
                if name not in miditok_name.values()]
        elif tuple(vocabulary[:3]) != SPECIALS:
            raise ValueError("a miditok codec's vocabulary starts with PAD, BOS and EOS")
        missing = [name for name in vocabulary if miditok_name.get(name, name) not in miditok_ids]
        if missing:
            raise ValueError(f"MidiTok {self.miditok_version()} has no token "
                             f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} of "
                             "this codec's vocabulary: install the MidiTok it was made with")
        self._vocabulary = list(vocabulary)
        self._to_miditok = torch.tensor([miditok_ids[miditok_name.get(name, name)]
                                         for name in vocabulary])
        self._from_miditok = torch.full((max(miditok_ids.values()) + 1,), -1)
        self._from_miditok[self._to_miditok] = torch.arange(len(vocabulary))
        kinds = [name.partition("_")[0] for name in vocabulary]
        self._note_start = torch.tensor([kind in NOTE_STARTS for kind in kinds])
        self._pitch = torch.tensor([int(name.partition("_")[2]) if kind in PITCHED else -1
                                    for name, kind in zip(vocabulary, kinds, strict=True)])
        self._ids = {name: i for i, name in enumerate(vocabulary)}
        self._shifts: dict[int, Tensor] = {}

    @staticmethod
    def miditok_version() -> str:
        from importlib.metadata import version

        return version("miditok")

    @property
    def tokenizer(self) -> object:
        """The MidiTok tokenizer (built once per process; never pickled with the codec)."""
        return build_tokenizer(self._options["tokenizer"], self._config_text)

    @property
    def size(self) -> int:
        return len(self._vocabulary)

    def options(self) -> dict[str, object]:
        return dict(self._options)

    @property
    def pitch_range(self) -> tuple[int, int]:
        """The lowest and highest pitch MidiTok keeps (others are dropped when reading)."""
        low, high = self._config["pitch_range"]
        return int(low), int(high)

    def token_name(self, token: int) -> str:
        """MidiTok's name of a token (``Pitch_60``, ``Duration_1.0.8``), or PAD, BOS, EOS."""
        if not 0 <= token < self.size:
            raise ValueError(f"token {token} is not in the vocabulary (0..{self.size - 1})")
        return self._vocabulary[token]

    def describe_vocabulary(self) -> str:
        """``294 MidiTok REMI tokens: 1 PAD, 1 BOS, 1 EOS, 1 Bar, 89 Pitch, ...``."""
        kinds = Counter(name.partition("_")[0] for name in self._vocabulary)
        return f"{self.size} MidiTok {self._options['tokenizer']} tokens: " + \
            ", ".join(f"{n} {kind}" for kind, n in kinds.items())

    def token_seconds(self) -> Tensor:
        """How far each token moves time, in seconds at the tempo MidiTok writes files at (120
        quarter notes a minute unless ``use_tempos``, where it is the nearest tempo the
        tokenizer has: then an approximation). ``TimeShift`` (and ``Rest``) by their beats; for
        REMI, each ``TimeSig`` token (one follows every ``Bar``) by its bar, or each ``Bar``
        by a 4/4 bar when the tokenizer has no time signatures. A beat counts as a quarter note
        (in x/8 meters MidiTok's beat is an eighth: there the seconds are twice too many)."""
        quarter = 60.0 / float(self.tokenizer.default_tempo)
        remi = self._options["tokenizer"] == "REMI"
        bars_by_signature = bool(self._config.get("use_time_signatures"))
        quarters = []
        for name in self._vocabulary:
            kind, _, value = name.partition("_")
            if kind in ("TimeShift", "Rest"):
                beats, steps, per_beat = (int(x) for x in value.split("."))
                quarters.append(beats + steps / per_beat)
            elif remi and kind == "TimeSig" and bars_by_signature:
                numerator, denominator = (int(x) for x in value.split("/"))
                quarters.append(numerator * 4 / denominator)
            elif remi and kind == "Bar" and not bars_by_signature:
                quarters.append(QUARTERS_PER_BAR)
            else:
                quarters.append(0.0)
        return torch.tensor(quarters, dtype=torch.float64).float() * quarter

    # ---- reading ----

    def read(self, path: Path) -> tuple[Tensor, dict[str, float]]:
        """A file's tokens; statistics: ``notes`` (those tokenized) and ``seconds`` (when the
        last note ends, at the file's own tempo), and ``notes_out_of_range`` where MidiTok
        dropped notes outside its pitch range."""
        score = load_score(path)
        if not self._options["use_programs"]:
            score = merged_score(score)
        total = sum(track.note_num() for track in score.tracks)
        if total == 0:
            raise seqgen.CodecFileError("no notes")
        try:
            encoded = self.tokenizer.encode(score)
        except Exception as exc:  # MidiTok's own errors on odd files: skip the file
            raise seqgen.CodecFileError(
                f"MidiTok cannot tokenize it: {type(exc).__name__}: {exc}") from None
        sequences = encoded if isinstance(encoded, list) else [encoded]
        ids = torch.tensor([i for sequence in sequences for i in sequence.ids], dtype=torch.long)
        tokens = self._from_miditok[ids]
        tokens = tokens[tokens >= 0]  # tokens this codec's vocabulary lacks (none when made here)
        notes = int(self._note_start[tokens].sum())
        if notes == 0:
            low, high = self.pitch_range
            raise seqgen.CodecFileError(f"no notes in MidiTok's pitch range {low}..{high}")
        stats = {"notes": notes, "seconds": last_note_end(score)}
        low, high = self.pitch_range
        pitches = [track.notes.numpy()["pitch"] for track in score.tracks if not track.is_drum]
        outside = sum(int(((p < low) | (p > high)).sum()) for p in pitches)
        if outside:
            stats["notes_out_of_range"] = outside
        return tokens, stats

    # ---- decoding and writing ----

    def decode_score(self, tokens: Tensor | list[int]) -> object:
        """A symusic score of ``tokens``: PAD and BOS skipped, everything from the first EOS
        dropped, then MidiTok's decoding. Should MidiTok fail on a sequence, the longest
        beginning of it that it decodes is kept, with a warning."""
        ids = tokens.tolist() if isinstance(tokens, Tensor) else list(tokens)
        bad = [t for t in ids if not 0 <= t < self.size]
        if bad:
            raise ValueError(f"token {bad[0]} is not in the vocabulary (0..{self.size - 1})")
        if self.EOS in ids:
            ids = ids[:ids.index(self.EOS)]
        ids = [t for t in ids if t not in (self.PAD, self.BOS)]
        try:
            return self._decode(ids)
        except Exception as exc:
            good, bad_end = 0, len(ids)  # ids[:good] decodes, ids[:bad_end] does not
            while bad_end - good > 1:
                middle = (good + bad_end) // 2
                try:
                    self._decode(ids[:middle])
                    good = middle
                except Exception:
                    bad_end = middle
            warnings.warn(f"MidiTok cannot decode the tokens past token {good} "
                          f"({self.token_name(ids[good])}): {type(exc).__name__}: {exc}; "
                          f"wrote the first {good}", stacklevel=2)
            return self._decode(ids[:good])

    def _decode(self, ids: list[int]) -> object:
        from miditok import TokSequence

        sequence = TokSequence(ids=self._to_miditok[ids].tolist() if ids else [])
        tokenizer = self.tokenizer
        tokenizer.complete_sequence(sequence)
        return tokenizer.decode(sequence if tokenizer.one_token_stream else [sequence])

    def write(self, tokens: Tensor, path: Path) -> None:
        self.decode_score(tokens).dump_midi(str(path))

    # ---- controls ----

    def controls(self) -> tuple[str, ...]:
        """The music controls seqgen may measure on these tokens: every one (MidiTok keeps
        velocities)."""
        return ("density", "key", "register", "dynamics")

    def control_notes(self, tokens: Tensor | list[int]) -> tuple[list[seqgen.Note], Tensor]:
        """The notes MidiTok decodes ``tokens`` to, in seconds at the tempo it writes files
        at, and each token's time: the seconds of the tokens before it (``token_seconds``:
        in REMI, a bar's tokens all at its start, as MidiTok's bar-level controls see it)."""
        ids = torch.as_tensor(tokens, dtype=torch.long)
        score = self.decode_score(ids).to("second")
        notes = [seqgen.Note(int(note.pitch), float(note.time), float(note.end),
                             int(note.velocity))
                 for track in score.tracks for note in track.notes]
        seconds = self.token_seconds().double()[ids]
        return notes, torch.cumsum(seconds, 0) - seconds

    # ---- augmentation ----

    def augment(self, tokens: Tensor, augmentation: object,
                generator: torch.Generator) -> Tensor:
        """A random transposition of a training item: ``augmentation.transpose`` semitones at
        most either way, drawn from ``generator``. ``augmentation.stretch`` is ignored: MidiTok
        counts time in beats, where a tempo change changes nothing."""
        limit = int(augmentation.transpose)
        semitones = int(torch.randint(-limit, limit + 1, (), generator=generator))
        return self.transpose(tokens, semitones)

    def transpose(self, tokens: Tensor, semitones: int) -> Tensor:
        """Every pitched token (Pitch, NoteOn, NoteOff; not drums) moved by ``semitones``, the
        shift clipped so that the lowest and highest notes stay in MidiTok's pitch range,
        keeping every interval."""
        pitches = self._pitch[tokens.long()]
        pitched = pitches >= 0
        if semitones == 0 or not bool(pitched.any()):
            return tokens
        low, high = self.pitch_range
        semitones = max(low - int(pitches[pitched].min()),
                        min(semitones, high - int(pitches[pitched].max())))
        if semitones == 0:
            return tokens
        moved = self.shifted(semitones)[tokens.long()]
        return torch.where(pitched, moved, tokens.long()).to(tokens.dtype)

    def shifted(self, semitones: int) -> Tensor:
        """Each id's id moved by ``semitones`` (pitched tokens whose pitch stays in range; the
        others unchanged)."""
        if semitones not in self._shifts:
            table = torch.arange(self.size)
            for i, name in enumerate(self._vocabulary):
                kind, _, value = name.partition("_")
                target = f"{kind}_{int(value) + semitones}" if kind in PITCHED else None
                if target in self._ids:
                    table[i] = self._ids[target]
            self._shifts[semitones] = table
        return self._shifts[semitones]

    # ---- configuration ----

    def to_json(self) -> dict:
        """The codec's name, ``reader`` (how it reads files, for the cache), its options,
        MidiTok's whole configuration (``config``) and the vocabulary (token names by id): what
        rebuilds the same tokenizer without the training corpus, as plain JSON."""
        return {"name": self.name, "reader": READER_VERSION, **self._options,
                "config": json.loads(self._config_text), "vocabulary": list(self._vocabulary)}

    @classmethod
    def from_json(cls, data: dict) -> MiditokCodec:
        """The codec ``to_json`` describes (of any ``reader``: the tokens mean the same). Its
        tokenizer is rebuilt from the stored configuration, and the stored vocabulary is
        mapped onto it by name."""
        if data.get("name") != cls.name:
            raise ValueError(f"not a {cls.name} codec: {data.get('name')!r}")
        known = set(cls.default_options())
        unknown = sorted(set(data) - known - {"name", "reader", "config", "vocabulary"})
        if unknown:
            raise ValueError(f"unknown MidiTok codec options: {', '.join(unknown)}")
        codec = cls(**{key: value for key, value in data.items() if key in known})
        if "config" in data:
            codec._setup(codec.options(), data["config"], data.get("vocabulary"))
        return codec
