"""Harmony features: a file read as melody and voices, consonance, crossings, parallels per bar,
bars from the meter, and the features in ``seqgen stats``."""

import json
import math
from operator import attrgetter
from pathlib import Path

import mido
import pytest
from typer.testing import CliRunner

from seqgen.cli import app
from seqgen.data.codecs.midi import (
    MidiOptions,
    bar_count,
    notes_to_midi,
    read_notes,
    read_track_notes,
)
from seqgen.data.notes import Note
from seqgen.errors import UsageError
from seqgen.media.harmony import (
    HARMONY_FEATURES,
    Harmonisation,
    harmony_features,
    melody_track,
    read_harmonisation,
)
from seqgen.media.music_stats import music_stats
from tests.conftest import one_line_error

CHORALES = Path(__file__).resolve().parent.parent / "corpora" / "bach-chorales"
OPTIONS = MidiOptions()
TICKS_PER_SECOND = 960  # 480 ticks per beat at the default 120 BPM
C3, D3, F3, G3, A3, C4, D4, E4, F4, G4, A4, C5, D5, E5, F5 = (
    48, 50, 53, 55, 57, 60, 62, 64, 65, 67, 69, 72, 74, 76, 77)
runner = CliRunner()


def track(name: str, notes: list[Note], meta: tuple[mido.MetaMessage, ...] = (),
          ) -> mido.MidiTrack:
    """A named track of ``notes`` (seconds at 120 BPM), after ``meta`` messages at tick 0."""
    events = sorted([(round(n.start * TICKS_PER_SECOND), 1, n.pitch) for n in notes]
                    + [(round(n.end * TICKS_PER_SECOND), 0, n.pitch) for n in notes])
    messages = [mido.MetaMessage("track_name", name=name), *meta]
    now = 0
    for tick, is_on, pitch in events:
        kind = "note_on" if is_on else "note_off"
        messages.append(mido.Message(kind, note=pitch, velocity=80, time=tick - now))
        now = tick
    return mido.MidiTrack(messages)


def harmonised_file(parts: dict[str, list[Note]], *meta: mido.MetaMessage) -> mido.MidiFile:
    """A type 1 file: a metadata track with ``meta``, then one named track per part."""
    return mido.MidiFile(type=1, ticks_per_beat=480, tracks=[
        mido.MidiTrack(meta), *(track(name, notes) for name, notes in parts.items())])


def line(*pitches: int, length: float = 0.5) -> list[Note]:
    """Notes one after another, each ``length`` seconds."""
    return [Note(p, i * length, (i + 1) * length, 80) for i, p in enumerate(pitches)]


def piece(melody: list[Note], *voices: list[Note], bars: float = 1.0) -> Harmonisation:
    return Harmonisation(melody, sorted((n for v in voices for n in v),
                                        key=lambda n: (n.start, n.pitch)), bars)


# ---- reading a file by track, its bars -------------------------------------------------------


def test_tracks_are_read_with_their_index_and_name_and_as_the_whole_file_is():
    midi = harmonised_file({"Soprano": line(C5, D5), "Alto": line(G4, A4),
                            "Empty": [], "Bass": line(C3, D3)})
    tracks = read_track_notes(midi, OPTIONS)
    assert [(t.index, t.name) for t in tracks] == [(1, "Soprano"), (2, "Alto"), (4, "Bass")]
    assert [(n.pitch, n.start, n.end) for n in tracks[1].notes] == [(G4, 0.0, 0.5),
                                                                    (A4, 0.5, 1.0)]
    key = attrgetter("start", "pitch")
    assert sorted((n for t in tracks for n in t.notes), key=key) == read_notes(midi, OPTIONS)


def time_signature(numerator: int, denominator: int, time: int = 0) -> mido.MetaMessage:
    return mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator,
                            time=time)


def test_bars_follow_the_time_signatures_and_the_tempo_map():
    four_four = harmonised_file({})
    assert bar_count(four_four, 8.0) == pytest.approx(4)  # 2 s a bar at 120 BPM
    three_four = harmonised_file({}, time_signature(3, 4))
    assert bar_count(three_four, 3.0) == pytest.approx(2)
    # Two bars of 4/4, then 6/8 (three beats a bar) at half the speed from the third bar on.
    changing = harmonised_file({}, time_signature(4, 4), time_signature(6, 8, time=8 * 480),
                               mido.MetaMessage("set_tempo", tempo=1_000_000))
    assert bar_count(changing, 4.0) == pytest.approx(2)
    assert bar_count(changing, 4.0 + 3 * 1.0) == pytest.approx(3)  # a 6/8 bar lasts 3 s


# ---- choosing the melody ---------------------------------------------------------------------


def test_the_melody_track_is_found_by_name_then_first_and_can_be_chosen():
    horn = {"Horn": line(C4), "S": line(C5), "Alto": line(G4)}
    tracks = read_track_notes(harmonised_file(horn), OPTIONS)
    assert melody_track(tracks).name == "S"
    assert melody_track(tracks, "alto").name == "Alto"
    assert melody_track(tracks, "1").name == "Horn"
    assert melody_track(tracks, "Tenor") is None and melody_track(tracks, "9") is None
    unnamed = read_track_notes(harmonised_file({"": line(C5), "x": line(G4)}), OPTIONS)
    assert melody_track(unnamed).index == 1
    soprano_1 = read_track_notes(harmonised_file({"Oboe": line(C5), "Soprano 1": line(G4)}),
                                 OPTIONS)
    assert melody_track(soprano_1).name == "Soprano 1"


def test_a_file_of_one_track_has_no_harmony_and_nan_features():
    midi = notes_to_midi(line(C5, D5) + [Note(G4, 0.0, 1.0, 80)])
    assert read_harmonisation(midi, OPTIONS) is None
    assert all(math.isnan(v) for v in harmony_features(None).values())


def test_the_melody_is_the_top_of_its_track_and_its_lower_notes_join_the_voices():
    chords = [Note(C5, 0.0, 1.0, 80), Note(E4, 0.0, 1.0, 80)]
    harmony = read_harmonisation(harmonised_file({"Melody": chords, "Bass": line(C3)}), OPTIONS)
    assert [n.pitch for n in harmony.melody] == [C5]
    assert [n.pitch for n in harmony.voices] == [C3, E4]


# ---- features with known answers -------------------------------------------------------------


def features(melody: list[Note], *voices: list[Note], bars: float = 1.0) -> dict[str, float]:
    return harmony_features(piece(melody, *voices, bars=bars))


def test_a_c_major_chord_under_c_is_consonant_the_fourth_only_above_the_bass():
    chord = features(line(C5), line(G4), line(E4), line(C3))  # the fourth G4-C5 is inner
    assert chord["consonant_onsets"] == 1.0 and chord["melody_crossings"] == 0.0
    assert features(line(C5), line(G4))["consonant_onsets"] == 0.0  # a fourth over the bass
    assert features(line(C5), line(F4), line(C3))["consonant_onsets"] == 1.0  # F4: a fifth
    # below C5, but F4-C3 is no concern of the melody's: only the melody's intervals count
    assert features(line(D5), line(G4), line(C3))["consonant_onsets"] == 0.0  # D5 over C3: 9th


def test_consonance_and_crossings_are_shares_of_the_accompanied_melody_onsets():
    melody = line(C5, D5, E5, C5)
    # A voice held under the first two notes, a rest under the third, then E5 above C5.
    voice = [Note(C4, 0.0, 1.0, 80), Note(E5, 1.5, 2.0, 80)]
    result = features(melody, voice)
    assert result["consonant_onsets"] == pytest.approx(2 / 3)  # C-C, D-C (a 9th), C-E
    assert result["melody_crossings"] == pytest.approx(1 / 3)
    alone = features(melody, [Note(C4, 5.0, 6.0, 80)])
    assert math.isnan(alone["consonant_onsets"]) and math.isnan(alone["melody_crossings"])


def test_a_voice_a_fifth_below_moving_with_the_melody_is_a_parallel_fifth():
    result = features(line(C5, D5, E5), line(F4, G4, A4), bars=2.0)  # two moves in fifths
    assert result["parallel_fifths_per_bar"] == pytest.approx(1.0)
    assert result["parallel_octaves_per_bar"] == 0.0
    twelfths = features(line(C5, D5), line(F3, G3))  # compound fifths count too
    assert twelfths["parallel_fifths_per_bar"] == 1.0


def test_octaves_between_voices_and_unisons_count_as_parallel_octaves():
    result = features(line(E5, F5), line(C4, D4), line(C3, D3))
    assert result["parallel_octaves_per_bar"] == 1.0  # C4-C3 -> D4-D3, between the voices
    unison = features(line(C5, D5), line(C5, D5), line(C3, C3))
    assert unison["parallel_octaves_per_bar"] == 1.0  # the melody doubled at the unison


@pytest.mark.parametrize("melody, voice", [
    (line(C5, C5 + 12), line(F4, F4)),  # oblique: the melody leaps an octave, F4 struck again
    (line(C5, C5 + 12), [Note(F4, 0.0, 1.0, 80)]),  # the same with F4 held on
    (line(C5, C5 + 12), line(F4, F3)),  # contrary motion from a fifth to a twelfth
    (line(C5, D5), line(E4, G4)),  # similar motion from a sixth into a fifth (a hidden fifth)
    (line(D5, C5), line(G4, 66)),  # a perfect fifth to a diminished one
])
def test_moves_that_are_not_parallel_fifths(melody, voice):
    assert features(melody, voice)["parallel_fifths_per_bar"] == 0.0


def test_parallels_are_per_bar_of_the_file(tmp_path):
    parts = {"Soprano": line(C5, D5, E5, D5), "Bass": line(F3, G3, A3, G3)}
    midi = harmonised_file(parts, time_signature(2, 4))  # a 2/4 bar is 1 s: two bars
    harmony = read_harmonisation(midi, OPTIONS)
    assert harmony.bars == pytest.approx(2)
    assert harmony_features(harmony)["parallel_fifths_per_bar"] == pytest.approx(3 / 2)


# ---- in a set's statistics and in seqgen stats -----------------------------------------------


def write_set(folder: Path) -> Path:
    """Two harmonised files and one of a single track."""
    folder.mkdir()
    harmonised_file({"Soprano": line(C5, D5), "Alto": line(F4, G4)}).save(folder / "a.mid")
    harmonised_file({"Soprano": line(C5, D5), "Alto": line(E4, F4)}).save(folder / "b.mid")
    notes_to_midi(line(C5, D5)).save(folder / "c.mid")
    return folder


def test_a_sets_harmony_features_leave_out_the_files_without_a_melody_track(tmp_path):
    stats = music_stats(write_set(tmp_path / "set"))
    assert stats.pieces == 3 and len(stats.defined("consonant_onsets")) == 2
    # a.mid moves once in fifths in its 1 s, half a bar of 4/4 at 120 BPM; b.mid never.
    assert stats.values["parallel_fifths_per_bar"][:2, 0].tolist() == [2.0, 0.0]
    assert stats.mean("parallel_fifths_per_bar") == pytest.approx(1.0)
    assert math.isnan(stats.values["melody_crossings"][2, 0])
    with pytest.raises(UsageError, match="no file in .* has a melody track 'Tenor' beside"):
        music_stats(tmp_path / "set", melody_track="Tenor")


def test_a_few_chorales_have_bachs_harmony():
    files = sorted(CHORALES.glob("*.mid"))[:12]
    stats = music_stats(files)
    assert stats.mean("consonant_onsets") > 0.6
    assert stats.mean("melody_crossings") < 0.05
    assert stats.mean("parallel_fifths_per_bar") < 0.1
    assert stats.mean("parallel_octaves_per_bar") < 0.1
    alto = music_stats(files, melody_track="Alto")  # the alto has voices above it
    assert alto.mean("melody_crossings") > 0.9


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_stats_shows_and_compares_the_harmony_features(tmp_path):
    folder = write_set(tmp_path / "set")
    table = run("stats", folder, "--against", CHORALES / "riemenschneider001.mid")
    assert table.exit_code == 0, table.output
    for name in HARMONY_FEATURES:
        assert name in table.stdout
    report = json.loads(run("stats", folder / "c.mid", "--json").stdout)
    assert report["stats"]["features"]["consonant_onsets"] == {"mean": None, "std": None,
                                                               "pieces": 0}
    alone = run("stats", folder / "c.mid")  # one track: no harmony rows in its table
    assert alone.exit_code == 0 and "pitch_range" in alone.stdout
    assert not any(name in alone.stdout for name in HARMONY_FEATURES)
    named = json.loads(run("stats", folder, "--melody-track", "Alto", "--json").stdout)
    assert named["stats"]["features"]["melody_crossings"]["mean"] == 1.0


def test_a_melody_track_for_text_or_missing_is_a_one_line_usage_error(tmp_path):
    text = tmp_path / "samples.txt"
    text.write_text("a sample\n", encoding="utf-8")
    result = run("stats", text, "--melody-track", "S")
    assert result.exit_code == 2 and "for MIDI files" in one_line_error(result.output)
    result = run("stats", write_set(tmp_path / "set"), "--melody-track", "Tenor")
    assert result.exit_code == 2 and "melody track 'Tenor'" in one_line_error(result.output)
