"""The MidiTok codec plugin: its entry point, that it never takes .mid files from the built-in
midi codec by detection, its vocabulary and JSON form, reading and writing chorales through
MidiTok, transposition, seconds, and seqgen's CLI end to end through the hooks alone."""

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import mido
import pytest
import symusic
import torch
from seqgen_miditok.codec import TOKENIZERS, MiditokCodec, merged_score
from typer.testing import CliRunner

import seqgen
from seqgen.cli import app

runner = CliRunner()

ROOT = Path(__file__).resolve().parents[3]
CHORALES = ROOT / "corpora" / "bach-chorales"
SIX = sorted(CHORALES.glob("*.mid"))[:6]
FEW = [CHORALES / f"riemenschneider{n:03d}.mid" for n in (1, 2, 7, 11)]  # 3/4, 4/4, changes

# run a snippet, then say whether the plugin's codec module and MidiTok were imported
IMPORTS = """
import sys
from seqgen.cli import main
sys.argv = ["seqgen", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("seqgen_miditok" in sys.modules, "seqgen_miditok.codec" in sys.modules,
      "miditok" in sys.modules)
"""


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """Keep the corpus cache out of the home folder, and the output plain and wide."""
    monkeypatch.setenv("SEQGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def six(tmp_path):
    """A folder of six chorales."""
    folder = tmp_path / "six"
    folder.mkdir()
    for path in SIX:
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture
def registered_by_hand():
    """The hook module registered under another name for one test, in the place of the
    installed registration (a module registers once), after the installed plugins have loaded,
    as a plugin registered by hand would be. The plugin manager has no public name: this is
    the one import of seqgen's internals here, as docs/plugins.md shows it."""
    import seqgen_miditok

    from seqgen.plugins import pm

    assert runner.invoke(app, ["plugins"]).exit_code == 0  # installed plugins load first
    installed_as = pm.get_name(seqgen_miditok)
    if installed_as is not None:
        pm.unregister(name=installed_as)
    pm.register(seqgen_miditok, name="miditok-by-hand")
    yield "miditok-by-hand"
    pm.unregister(name="miditok-by-hand")
    if installed_as is not None:
        pm.register(seqgen_miditok, name=installed_as)


def notes_of(score: object) -> list[tuple[float, int, float]]:
    """(onset, pitch, duration) of every note of a symusic score, in quarter notes, sorted."""
    tpq = score.ticks_per_quarter
    return sorted((n.time / tpq, n.pitch, n.duration / tpq)
                  for track in score.tracks for n in track.notes)


def tokens_of(codec: MiditokCodec, *names: str) -> torch.Tensor:
    table = {codec.token_name(t): t for t in range(codec.size)}
    return torch.tensor([table[name] for name in names])


# ---- the plugin ------------------------------------------------------------------------------


def test_the_codec_is_registered_from_the_installed_entry_point(six):
    listing = runner.invoke(app, ["plugins"])
    assert listing.exit_code == 0, listing.output
    row = next(line for line in listing.stdout.splitlines() if "seqgen-miditok" in line)
    assert "0.1.0" in row and "register_codecs" in row and " miditok " in row
    corpus = seqgen.load_corpus(six, format="miditok")
    assert corpus.format == "miditok" and isinstance(corpus.codec, MiditokCodec)
    assert len(corpus.pieces) == 6


def test_the_hook_module_registered_by_hand_provides_the_codec(registered_by_hand, six):
    listing = runner.invoke(app, ["plugins"])
    assert listing.exit_code == 0, listing.output
    row = next(line for line in listing.stdout.splitlines() if registered_by_hand in line)
    assert "register_codecs" in row and " miditok " in row
    corpus = seqgen.load_corpus(six, format="miditok", codec_options={"tokenizer": "TSD"})
    assert isinstance(corpus.codec, MiditokCodec) and corpus.codec.options()["tokenizer"] == "TSD"


def inspected_format(folder: Path, *options: str) -> str:
    result = runner.invoke(app, ["corpus", "inspect", str(folder), *options])
    assert result.exit_code == 0, result.output
    return re.search(r"corpus \S+ \((\w+)\)", result.output).group(1)


def test_midi_files_are_still_detected_as_the_builtin_midi_format(six):
    """The codec reads .mid and .midi, but the built-in codecs claim them first: a MIDI
    corpus without --format is the midi codec's, with the plugin installed as without."""
    from seqgen.data.declaration import detect_format

    (six / SIX[0].name).rename(six / "first.midi")
    assert inspected_format(six) == "midi"
    assert inspected_format(six, "--format", "miditok") == "miditok"
    assert seqgen.load_corpus(six).format == "midi"
    assert detect_format(CHORALES) == "midi"  # what `seqgen train corpora/bach-chorales` picks
    assert detect_format(SIX[0]) == "midi"


def test_detection_is_unchanged_with_the_plugin_registered_by_hand(registered_by_hand, six):
    from seqgen.data.declaration import detect_format

    assert inspected_format(six) == "midi"
    assert detect_format(CHORALES) == "midi"


def test_loading_the_plugin_imports_no_miditok():
    """The entry point imports the codec module when seqgen asks for codecs, and that module
    imports MidiTok only when a codec is made."""
    env = {**os.environ, "SEQGEN_LOAD_PLUGINS": "seqgen-miditok"}
    probe = subprocess.run([sys.executable, "-c", IMPORTS, "--help"], capture_output=True,
                           text=True, check=True, env=env)
    assert "Train and sample recurrent sequence generators" in probe.stdout
    assert probe.stdout.strip().endswith("True False False")
    listing = subprocess.run([sys.executable, "-c", IMPORTS, "plugins"], capture_output=True,
                             text=True, check=True, env=env)
    assert "miditok" in listing.stdout
    assert listing.stdout.strip().endswith("True True False")


# ---- the codec's contract --------------------------------------------------------------------


@pytest.mark.parametrize("name", TOKENIZERS)
def test_the_vocabulary_is_miditoks_after_pad_bos_eos(name):
    codec = MiditokCodec(tokenizer=name)
    assert (codec.PAD, codec.BOS, codec.EOS) == (0, 1, 2)
    assert [codec.token_name(t) for t in range(3)] == ["PAD", "BOS", "EOS"]
    miditok_vocab = codec.tokenizer.vocab
    assert codec.size == len(miditok_vocab)
    for token in range(3, codec.size):  # the other ids are MidiTok's, by name
        assert miditok_vocab[codec.token_name(token)] == token
    names = {codec.token_name(t) for t in range(codec.size)}
    assert {f"Pitch_{p}" for p in range(21, 110)} <= names or name == "MIDILike"
    assert not any(n.startswith(("PitchDrum", "DrumOn", "Program")) for n in names)
    with pytest.raises(ValueError, match=rf"token {codec.size} is not in the vocabulary"):
        codec.token_name(codec.size)


def test_the_vocabulary_is_described_by_kind():
    assert MiditokCodec().describe_vocabulary() == (
        "294 MidiTok REMI tokens: 1 PAD, 1 BOS, 1 EOS, 1 Bar, 89 Pitch, 32 Velocity, "
        "64 Duration, 96 Position, 9 TimeSig")


def test_options_are_the_constructor_keywords_with_miditoks_defaults():
    assert MiditokCodec.default_options() == {
        "tokenizer": "REMI", "beat_res": "0_4:8,4_12:4", "num_velocities": 32,
        "use_tempos": False, "use_programs": False}
    config = MiditokCodec().tokenizer.config
    assert config.beat_res == {(0, 4): 8, (4, 12): 4} and config.num_velocities == 32
    assert MiditokCodec(tokenizer="tsd").options()["tokenizer"] == "TSD"  # any case
    assert MiditokCodec(beat_res=4).options()["beat_res"] == "0_4:4,4_12:2"
    quiet = MiditokCodec(num_velocities=0)
    assert not any(quiet.token_name(t).startswith("Velocity") for t in range(quiet.size))
    tempos = MiditokCodec(use_tempos=True)
    assert any(tempos.token_name(t).startswith("Tempo") for t in range(tempos.size))


@pytest.mark.parametrize(("options", "message"), [
    ({"tokenizer": "Octuple"},
     r"unknown MidiTok tokenizer 'Octuple'; accepted: REMI, TSD, MIDILike, Structured"),
    ({"beat_res": "0_4:8,5_12:4"}, r"beat_res must be ranges of beats and steps per beat"),
    ({"beat_res": "1_4:8"}, r"beat_res must be ranges .* not '1_4:8'"),
    ({"beat_res": 0}, r"beat_res must be ranges .* not 0"),
    ({"num_velocities": 128}, r"num_velocities must be a whole number from 0 .* to 127, not 128"),
    ({"use_programs": "yes"}, r"use_programs must be true or false, not 'yes'"),
])
def test_bad_options_are_a_clear_error(options, message):
    with pytest.raises(ValueError, match=message):
        MiditokCodec(**options)


def test_a_bad_tokenizer_name_is_a_one_line_usage_error(six):
    result = runner.invoke(app, ["train", str(six), "--format", "miditok", "--codec-opt",
                                 "tokenizer=CPWord", "--steps", "1", "--out", str(six / "run")])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == ("error: the miditok codec: unknown MidiTok tokenizer "
                                     "'CPWord'; accepted: REMI, TSD, MIDILike, Structured")
    unknown = runner.invoke(app, ["corpus", "inspect", str(six), "--format", "miditok",
                                  "--codec-opt", "tokeniser=TSD"])
    assert unknown.exit_code == 2 and "has no option 'tokeniser'" in unknown.output


@pytest.mark.parametrize("options", [{}, {"tokenizer": "MIDILike", "num_velocities": 0},
                                     {"tokenizer": "Structured", "use_programs": True},
                                     {"use_tempos": True, "beat_res": "0_2:12,2_8:4"}])
def test_the_json_form_is_plain_json_and_rebuilds_the_codec(options):
    codec = MiditokCodec(**options)
    data = codec.to_json()
    assert json.loads(json.dumps(data)) == data  # no tuples: a checkpoint compares it so
    assert data["name"] == "miditok" and data["reader"] == 1
    assert data["vocabulary"] == [codec.token_name(t) for t in range(codec.size)]
    assert data["config"]["special_tokens"] == ["PAD_None", "BOS_None", "EOS_None"]
    again = MiditokCodec.from_json(json.loads(json.dumps(data)))
    assert again.to_json() == data and again.size == codec.size
    assert again.tokenizer.config == codec.tokenizer.config
    unpickled = pickle.loads(pickle.dumps(codec))  # for worker processes
    assert unpickled.to_json() == data
    assert b"miditok.tokenizations" not in pickle.dumps(codec)  # MidiTok's tokenizer is not sent


def test_a_stored_vocabulary_is_mapped_onto_miditok_by_name():
    """A checkpoint's ids keep their tokens whatever order MidiTok gives them: here the stored
    vocabulary has two tokens swapped."""
    data = MiditokCodec().to_json()
    vocabulary = data["vocabulary"]
    i, j = vocabulary.index("Pitch_60"), vocabulary.index("Pitch_62")
    vocabulary[i], vocabulary[j] = vocabulary[j], vocabulary[i]
    codec = MiditokCodec.from_json(data)
    tokens, _ = codec.read(SIX[0])
    plain, _ = MiditokCodec().read(SIX[0])
    assert (tokens == i).sum() == (plain == j).sum() > 0
    assert notes_of(codec.decode_score(tokens)) == notes_of(MiditokCodec().decode_score(plain))
    data["vocabulary"] = [*vocabulary, "Pitch_200"]
    with pytest.raises(ValueError, match=r"MidiTok [0-9.]+ has no token Pitch_200 of this "):
        MiditokCodec.from_json(data)
    with pytest.raises(ValueError, match=r"unknown MidiTok codec options: tempo"):
        MiditokCodec.from_json({**MiditokCodec().to_json(), "tempo": 90})


# ---- reading and writing ---------------------------------------------------------------------


def overlapping_unisons(notes: list[tuple[float, int, float]]) -> set[tuple[float, int]]:
    """The (onset, pitch) of notes that sound while another note of their pitch does."""
    found = set()
    for a in notes:
        for b in notes:
            if a is not b and a[1] == b[1] and a[0] <= b[0] < a[0] + a[2]:
                found |= {a[:2], b[:2]}
    return found


@pytest.mark.parametrize("name", TOKENIZERS)
def test_chorales_round_trip_their_pitches_onsets_and_durations(name):
    """Every note comes back at its pitch and onset (the chorales lie on MidiTok's grid of 8
    steps a beat) with its duration (up to 12 beats); MIDILike cannot tell apart the ends of
    two overlapping notes of one pitch (a unison of two voices), whose durations may swap."""
    codec = MiditokCodec(tokenizer=name)
    for path in FEW:
        tokens, stats = codec.read(path)
        original = notes_of(merged_score(symusic.Score(str(path))))
        decoded = notes_of(codec.decode_score(tokens))
        assert stats["notes"] == len(original) == len(decoded)
        assert [n[:2] for n in decoded] == [n[:2] for n in original]
        unisons = overlapping_unisons(original) if name == "MIDILike" else set()
        assert [n[2] for n in decoded if n[:2] not in unisons] == \
            [min(n[2], 12) for n in original if n[:2] not in unisons]
        assert stats["seconds"] == pytest.approx(max(n[0] + n[2] for n in original) / 2)


@pytest.mark.parametrize("name", TOKENIZERS)
def test_written_files_read_back_to_the_same_notes_and_tokens(name, tmp_path):
    codec = MiditokCodec(tokenizer=name)
    for path in FEW:
        tokens, _ = codec.read(path)
        written = tmp_path / f"{path.stem}.mid"
        codec.write(tokens, written)
        assert mido.MidiFile(written).type in (0, 1)
        original = notes_of(merged_score(symusic.Score(str(path))))
        back = notes_of(symusic.Score(str(written)))
        assert [n[:2] for n in back] == [n[:2] for n in original]
        again, _ = codec.read(written)
        if not overlapping_unisons(original):  # MIDI itself cannot hold those apart
            assert again.tolist() == tokens.tolist()
    codec.write(tokens, tmp_path / "again.mid")
    assert codec.read(tmp_path / "again.mid")[0].tolist() == \
        codec.read(tmp_path / f"{FEW[-1].stem}.mid")[0].tolist()


def test_bos_pad_and_everything_after_eos_are_left_out_of_a_written_file():
    codec = MiditokCodec(tokenizer="TSD")
    tokens, _ = codec.read(SIX[0])
    wrapped = torch.cat([torch.tensor([codec.BOS, codec.PAD]), tokens,
                         torch.tensor([codec.EOS]), tokens[:40]])
    assert notes_of(codec.decode_score(wrapped)) == notes_of(codec.decode_score(tokens))
    with pytest.raises(ValueError, match=rf"token {codec.size} is not in the vocabulary"):
        codec.decode_score([3, codec.size])


@pytest.mark.parametrize("name", TOKENIZERS)
def test_any_token_sequence_writes_a_valid_midi_file(name, tmp_path):
    codec = MiditokCodec(tokenizer=name)
    generator = torch.Generator().manual_seed(len(name))
    notes = 0
    for n in range(30):
        tokens = torch.randint(0, codec.size, (n * 7,), generator=generator)
        path = tmp_path / f"random-{n}.mid"
        codec.write(tokens, path)
        assert mido.MidiFile(path).type in (0, 1)
        notes += sum(track.note_num() for track in symusic.Score(str(path)).tracks)
    codec.write(torch.zeros(0, dtype=torch.long), tmp_path / "empty.mid")
    assert mido.MidiFile(tmp_path / "empty.mid").type in (0, 1)
    assert notes > 0


def test_a_sequence_miditok_cannot_decode_keeps_what_it_can(monkeypatch, tmp_path):
    """Should MidiTok's decoding raise, the longest beginning it decodes is written."""
    codec = MiditokCodec(tokenizer="TSD")
    tokens, _ = codec.read(SIX[0])
    poison = tokens_of(codec, "Pitch_50")[0]
    decode = type(codec.tokenizer).decode

    def fragile(self, sequences, *args, **kwargs):
        sequence = sequences[0] if isinstance(sequences, list) else sequences
        if int(codec._to_miditok[poison]) in sequence.ids:
            raise IndexError("a token it does not expect")
        return decode(self, sequences, *args, **kwargs)

    monkeypatch.setattr(type(codec.tokenizer), "decode", fragile)
    spoilt = torch.cat([tokens[:60], poison[None], tokens[60:]])
    with pytest.warns(UserWarning, match=r"past token 60 \(Pitch_50\): IndexError: a token it"):
        codec.write(spoilt, tmp_path / "kept.mid")
    assert notes_of(symusic.Score(str(tmp_path / "kept.mid"))) == \
        notes_of(codec.decode_score(tokens[:60]))


def test_unusable_files_are_skipped_with_a_reason(six):
    (six / "garbage.mid").write_bytes(b"this is not a MIDI file at all")
    empty = symusic.Score(480)
    empty.tracks.append(symusic.Track(name="silent", program=0))
    empty.dump_midi(str(six / "silent.mid"))
    corpus = seqgen.load_corpus(six, format="miditok")
    assert len(corpus.pieces) == 6
    reasons = dict(corpus.skipped)
    assert set(reasons) == {"garbage.mid", "silent.mid"}
    assert reasons["garbage.mid"].startswith("not a readable MIDI file")
    assert reasons["silent.mid"] == "no notes"
    chord(six.parent / "low.mid", 10)
    with pytest.raises(seqgen.CodecFileError, match=r"^no notes in MidiTok's pitch range 21..109$"):
        MiditokCodec().read(six.parent / "low.mid")
    chord(six.parent / "wide.mid", 10, 60, 120)
    _, stats = MiditokCodec().read(six.parent / "wide.mid")
    assert stats == {"notes": 1, "seconds": 0.5, "notes_out_of_range": 2}


def chord(path: Path, *pitches: int) -> None:
    """A file of one chord, a quarter note long (half a second at its 120 a minute)."""
    score = symusic.Score(480)
    track = symusic.Track(program=0)
    for pitch in pitches:
        track.notes.append(symusic.Note(0, 480, pitch, 80))
    score.tracks.append(track)
    score.dump_midi(str(path))


def two_instruments(path: Path) -> None:
    """A file of a piano (two notes), a violin (one) and drums (one)."""
    score = symusic.Score(480)
    for program, notes, drum in ((0, [(0, 60), (480, 64)], False), (40, [(240, 76)], False),
                                 (0, [(0, 36)], True)):
        track = symusic.Track(program=program, is_drum=drum)
        for time, pitch in notes:
            track.notes.append(symusic.Note(time, 240, pitch, 100))
        score.tracks.append(track)
    score.dump_midi(str(path))


def test_tracks_merge_into_one_and_drums_are_dropped(tmp_path):
    path = tmp_path / "band.mid"
    two_instruments(path)
    codec = MiditokCodec()
    tokens, stats = codec.read(path)
    assert stats["notes"] == 3
    score = codec.decode_score(tokens)
    assert len(score.tracks) == 1 and score.tracks[0].program == 0
    assert [n[:2] for n in notes_of(score)] == [(0.0, 60), (0.5, 76), (1.0, 64)]


def test_use_programs_keeps_instruments_and_drums(tmp_path):
    path = tmp_path / "band.mid"
    two_instruments(path)
    codec = MiditokCodec(use_programs=True)
    tokens, stats = codec.read(path)
    names = [codec.token_name(t) for t in tokens.tolist()]
    assert stats["notes"] == 4 and {"Program_0", "Program_40", "Program_-1"} <= set(names)
    assert "PitchDrum_36" in names
    score = codec.decode_score(tokens)
    assert sorted((t.program, t.is_drum, len(t.notes)) for t in score.tracks) == \
        [(0, False, 2), (0, True, 1), (40, False, 1)]
    moved = codec.transpose(tokens, 2)
    assert [codec.token_name(t) for t in moved.tolist()].count("PitchDrum_36") == 1


# ---- augmentation ----------------------------------------------------------------------------


def augmentation(transpose: int, stretch: float = 0.0) -> SimpleNamespace:
    return SimpleNamespace(transpose=transpose, stretch=stretch)


@pytest.mark.parametrize("name", ["REMI", "MIDILike"])
def test_augment_transposes_every_pitched_token_alike(name):
    codec = MiditokCodec(tokenizer=name)
    assert MiditokCodec.implements("augment")
    tokens, _ = codec.read(SIX[1])
    original = notes_of(codec.decode_score(tokens))
    shifts = set()
    for seed in range(12):
        moved = codec.augment(tokens, augmentation(3, 0.5), torch.Generator().manual_seed(seed))
        again = codec.augment(tokens, augmentation(3), torch.Generator().manual_seed(seed))
        assert moved.tolist() == again.tolist()  # the stretch changes nothing
        decoded = notes_of(codec.decode_score(moved))
        shift = {b[1] - a[1] for a, b in zip(original, decoded, strict=True)}
        assert len(shift) == 1  # every note by the same interval
        assert [(a[0], a[2]) for a in original] == [(b[0], b[2]) for b in decoded]
        shifts |= shift
    assert shifts <= set(range(-3, 4)) and min(shifts) < 0 < max(shifts)
    assert codec.augment(tokens, augmentation(0), torch.Generator().manual_seed(1)).tolist() \
        == tokens.tolist()


def test_a_transposition_leaving_the_pitch_range_is_clipped_keeping_the_intervals():
    codec = MiditokCodec(tokenizer="MIDILike")
    high = tokens_of(codec, "NoteOn_100", "TimeShift_1.0.8", "NoteOff_100", "NoteOn_107")
    assert codec.transpose(high, 5).tolist() == tokens_of(
        codec, "NoteOn_102", "TimeShift_1.0.8", "NoteOff_102", "NoteOn_109").tolist()
    low = tokens_of(codec, "NoteOn_22", "NoteOff_30").to(torch.int16)  # the cache's type
    moved = codec.transpose(low, -4)
    assert moved.dtype == torch.int16
    assert moved.tolist() == tokens_of(codec, "NoteOn_21", "NoteOff_29").tolist()
    full = tokens_of(codec, "NoteOn_21", "NoteOn_109")
    assert codec.transpose(full, 2).tolist() == full.tolist()


def test_training_with_augmentation_transposes_through_the_codec(six, monkeypatch):
    shifts = []
    augment = MiditokCodec.augment

    def spy(self, tokens, augmentation, generator):
        moved = augment(self, tokens, augmentation, generator)
        pitched = self._pitch[tokens.long()] >= 0
        shifts.append(int((moved[pitched] - tokens[pitched])[0]))
        return moved

    monkeypatch.setattr(MiditokCodec, "augment", spy)
    train(six, six.parent / "run", "--augment", "--transpose", "4")
    assert shifts and set(shifts) <= set(range(-4, 5)) and len(set(shifts)) > 1


# ---- seconds ---------------------------------------------------------------------------------


def test_token_seconds_count_time_shifts_and_remi_bars():
    tsd = MiditokCodec(tokenizer="TSD")
    seconds = tsd.token_seconds()
    assert seconds.shape == (tsd.size,)
    by_name = {tsd.token_name(t): float(seconds[t]) for t in range(tsd.size)}
    assert by_name["TimeShift_1.0.8"] == 0.5 and by_name["TimeShift_0.4.8"] == 0.25
    assert by_name["TimeShift_12.0.4"] == 6.0 and by_name["Pitch_60"] == 0.0
    assert by_name["TimeSig_3/4"] == 0.0
    remi = MiditokCodec()
    by_name = {remi.token_name(t): float(s) for t, s in enumerate(remi.token_seconds())}
    assert by_name["TimeSig_4/4"] == 2.0 and by_name["TimeSig_3/4"] == 1.5
    assert by_name["TimeSig_6/8"] == 1.5 and by_name["Bar_None"] == 0.0
    assert by_name["Position_8"] == 0.0 and by_name["Duration_2.0.8"] == 0.0


@pytest.mark.parametrize("name", TOKENIZERS)
def test_a_chorales_tokens_add_up_to_its_length(name):
    """At 120 quarter notes a minute (the chorales' tempo) the seconds of a file's tokens run
    to its last onset (time shifts; MIDILike's to its last note's end), or to the end of its
    last bar (REMI)."""
    codec = MiditokCodec(tokenizer=name)
    for path in FEW[:2]:
        tokens, _ = codec.read(path)
        total = float(codec.token_seconds()[tokens].sum())
        original = notes_of(merged_score(symusic.Score(str(path))))
        last_onset = max(n[0] for n in original) / 2
        end = max(n[0] + n[2] for n in original) / 2
        if name == "REMI":
            assert end <= total < end + 2  # the last bar's end
        elif name == "MIDILike":
            assert total == pytest.approx(end)  # to the last NoteOff
        else:
            assert total == pytest.approx(last_onset)


# ---- the CLI end to end ----------------------------------------------------------------------


def train(corpus: Path, run: Path, *options: str) -> None:
    result = runner.invoke(app, ["train", str(corpus), "--format", "miditok", "--hidden", "16",
                                 "--layers", "1", "--steps", "5", "--batch-size", "4",
                                 "--seq-len", "64", "--eval-interval", "5", "--device", "cpu",
                                 "--no-curves", "--out", str(run), *options])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", ["REMI", "TSD"])
def test_the_cli_trains_samples_evaluates_and_shows(name, six, tmp_path):
    run = tmp_path / "run"
    train(six, run, "--codec-opt", f"tokenizer={name}")
    config = json.loads((run / "best" / "config.json").read_text())
    assert config["codec"] == MiditokCodec(tokenizer=name).to_json()
    assert config["codec_plugin"] == {"format": "miditok", "distribution": "seqgen-miditok",
                                      "version": "0.1.0"}
    evaluated = runner.invoke(app, ["eval", str(run)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "nats/token" in evaluated.output
    shutil.rmtree(six)  # the checkpoint alone rebuilds the codec, and samples
    checkpoint = seqgen.load_checkpoint(run)
    assert isinstance(checkpoint.codec, MiditokCodec)
    assert checkpoint.codec.to_json() == config["codec"]

    sample = ["sample", str(run), "--num-samples", "2", "--length", "3s", "--seed", "3"]
    result = runner.invoke(app, [*sample, "--out", f"{tmp_path / 'samples'}/"])
    assert result.exit_code == 0, result.output
    written = sorted((tmp_path / "samples").iterdir())
    assert [p.name for p in written] == ["sample-1.mid", "sample-2.mid"]
    for path in written:
        assert mido.MidiFile(path).type in (0, 1)
        seconds = float(re.search(rf"{path.name} \(([0-9.]+) s\)", result.output).group(1))
        assert 3 <= seconds < 3 + 6  # the longest TimeShift is 12 beats, a REMI bar 4
    again = runner.invoke(app, [*sample, "--out", f"{tmp_path / 'again'}/"])
    assert again.exit_code == 0, again.output
    assert [p.read_bytes() for p in sorted((tmp_path / "again").iterdir())] == \
        [p.read_bytes() for p in written]
    tokens = runner.invoke(app, ["sample", str(run), "--length", "50", "--seed", "1",
                                 "--out", str(tmp_path / "fifty.mid")])
    assert tokens.exit_code == 0, tokens.output
    shown = runner.invoke(app, ["show", str(written[0])])
    assert shown.exit_code == 0, shown.output


def test_show_draws_a_chorale_written_by_the_codec(tmp_path):
    codec = MiditokCodec()
    tokens, _ = codec.read(SIX[0])
    codec.write(tokens, tmp_path / "chorale.mid")
    shown = runner.invoke(app, ["show", str(tmp_path / "chorale.mid")])
    assert shown.exit_code == 0, shown.output
    assert "no notes" not in shown.output


@pytest.mark.parametrize("name", ["REMI", "TSD"])
def test_the_music_controls_are_measured_from_miditoks_decoding(name):
    codec = MiditokCodec(tokenizer=name)
    tokens = codec.read(FEW[0])[0]
    notes, times = codec.control_notes(tokens)
    assert len(times) == len(tokens) and bool((times[1:] >= times[:-1]).all())
    assert times[-1] == pytest.approx(float(codec.token_seconds().double()[tokens[:-1]].sum()))
    decoded = codec.decode_score(tokens).to("second")
    assert len(notes) == sum(track.note_num() for track in decoded.tracks)
    values = seqgen.measure_controls(codec, tokens, ("density", "key", "register", "dynamics"))
    assert not values[len(tokens) // 2].isnan().any()  # mid-piece, every control has a value
    shifted = seqgen.measure_controls(codec, codec.transpose(tokens, 2), ("register",))
    assert float(shifted.nanmean()) == pytest.approx(float(values[:, 2].nanmean()) + 2, abs=0.5)
