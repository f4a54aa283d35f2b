"""The terminal piano roll and a MIDI file's facts."""

import io
import random
from pathlib import Path

import mido
import pytest
from rich.console import Console

from seqgen.data.codecs.midi import MidiFileError, TrackNotes, notes_to_midi, tracks_to_midi
from seqgen.data.notes import Note
from seqgen.media.pianoroll import (
    TRACK_COLOURS,
    PianoRoll,
    cell,
    midi_facts,
    midi_view,
    note_name,
    track_roll,
    velocity_band,
)

CHORALE = Path(__file__).resolve().parent.parent / "corpora/bach-chorales/riemenschneider001.mid"


def render(renderable, width: int = 80, colour: bool = False) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=width, color_system="truecolor" if colour else None,
                      no_color=not colour, force_terminal=colour)
    console.print(renderable)
    return out.getvalue().splitlines()


def test_note_names_and_velocity_bands():
    assert [note_name(p) for p in (0, 21, 60, 61, 127)] == ["C-1", "A0", "C4", "C#4", "G9"]
    assert [velocity_band(v) for v in (1, 32, 33, 64, 65, 96, 97, 127)] == [1, 1, 2, 2, 3, 3, 4, 4]


def test_a_note_lands_in_its_row_and_columns():
    # 4 seconds over 76 columns (80 less "C5 ┤"): 1 s to 2 s is columns 19 to 37.
    lines = render(PianoRoll([Note(72, 0.0, 4.0, 100), Note(60, 1.0, 2.0, 20)]))
    rows, axis, labels, legend = lines[:-3], lines[-3], lines[-2], lines[-1]
    assert len(rows) == 7  # pitches 60 to 73, two a row
    assert rows[0] == "C5 ┤" + "▄" * 76  # 72 is the lower half of the top row (72, 73)
    assert rows[-1] == "C4 ┤" + " " * 19 + "▄" * 19 + " " * 38
    assert all(row[3] == "│" and row[4:].strip() == "" for row in rows[1:-1])
    assert axis.startswith("   └┬") and len(axis) == 80
    assert labels.split() == ["0s", "0.5s", "1s", "1.5s", "2s", "2.5s", "3s", "3.5s"]
    assert labels.index("1s") == 4 + 19  # the 1 s tick is above the column where C4 starts
    assert "velocity" in legend and "97-127" in legend


def test_two_pitches_in_a_cell():
    lines = render(PianoRoll([Note(61, 0, 1, 100), Note(60, 0, 1, 20), Note(63, 0, 1, 90)]),
                   width=20)
    assert lines[0] == "   │" + "▀" * 16  # 63 alone in the row (62, 63)
    assert lines[1] == "C4 ┤" + "█" * 16  # without colours, two notes show as one block
    assert cell(4, 1, plain=False) == ("▀", "red1 on dodger_blue2")
    assert cell(3, 3, plain=False) == ("█", "orange1")
    assert cell(0, 2, plain=False) == ("▄", "green3")


def test_colours_are_velocity_bands():
    coloured = "\n".join(render(PianoRoll([Note(60, 0, 1, 120)]), colour=True))
    assert "\x1b[38;5;196m▄" in coloured  # red1: the loudest band


def test_one_short_note_and_no_notes():
    lines = render(PianoRoll([Note(45, 0.0, 0.0, 64)]), width=50)
    assert lines[0] == "G#2 ┤▀" + " " * 44  # no C in range: the lowest row is named (A2 above)
    assert len(lines) == 4
    with pytest.raises(ValueError, match="no notes"):
        PianoRoll([])


def test_a_five_minute_piece_fits_the_width():
    rng = random.Random(0)
    notes = [Note(rng.randrange(21, 109), t / 10, t / 10 + 0.5, rng.randrange(1, 128))
             for t in range(3000)]
    lines = render(PianoRoll(notes), width=120)
    assert len(lines) == 45 + 3  # 88 keys (A0 to C8) in rows from (G#0, A0) to (C8, C#8)
    assert max(map(len, lines)) <= 120
    assert "270s" in lines[-2].split()  # every 30 s; 300s would not fit at the end
    assert [line[:4] for line in lines if "┤" in line[:4]][:2] == ["C8 ┤", "C7 ┤"]


def test_facts_of_a_file(tmp_path):
    midi = notes_to_midi([Note(60, 0, 2, 80), Note(64, 0, 2, 80), Note(67, 1, 3, 80)])
    midi.tracks[0][0] = mido.MetaMessage("set_tempo", tempo=600_000, time=0)
    midi.save(tmp_path / "chord.mid")
    facts = midi_facts(tmp_path / "chord.mid")
    assert facts.notes == 3 and facts.duration_s == pytest.approx(3.6)  # 600 ms a beat
    assert (facts.lowest, facts.highest, facts.pitch_range) == (60, 67, "C4–G4")
    assert facts.tempo_bpm == pytest.approx(100)
    assert facts.mean_polyphony == pytest.approx(2.0)  # 7.2 s of notes over 3.6 s


def test_facts_of_notes_and_of_a_file_without_tempo(tmp_path):
    assert midi_facts([Note(60, 0.5, 1.5, 80)]).tempo_bpm is None
    track = mido.MidiTrack([mido.Message("note_on", note=60, velocity=80),
                            mido.Message("note_off", note=60, time=480)])
    mido.MidiFile(tracks=[track]).save(tmp_path / "plain.mid")
    assert midi_facts(tmp_path / "plain.mid").tempo_bpm == 120


def test_view_of_a_chorale():
    lines = render(midi_view(CHORALE), width=100)
    assert lines[0] == ("duration 42.0 s  notes 300  pitch F#2–D5  tempo 120 BPM  "
                        "polyphony 4.0")
    assert [line[:4] for line in lines if "┤" in line[:4]] == ["C5 ┤", "C4 ┤", "C3 ┤"]
    assert max(map(len, lines)) <= 100


def test_unusable_files_raise_midi_file_errors(tmp_path):
    (tmp_path / "junk.mid").write_bytes(b"not midi at all")
    with pytest.raises(MidiFileError, match="bad header"):
        midi_view(tmp_path / "junk.mid")
    with pytest.raises(MidiFileError, match="cannot read the file: No such file"):
        midi_facts(tmp_path / "missing.mid")


def test_a_file_of_several_tracks_is_coloured_by_track(tmp_path):
    melody, voice = [Note(72, 0, 1, 30)], [Note(60, 0, 1, 30), Note(72, 1, 2, 120)]
    tracks_to_midi([("Soprano", melody), ("Alto", voice)]).save(tmp_path / "two.mid")
    assert render(midi_view(tmp_path / "two.mid"), width=60)[-1] == "tracks  █ Soprano  █ Alto"
    lines = render(midi_view(tmp_path / "two.mid"), width=60, colour=True)
    assert "196m█\x1b[0m Soprano" in lines[-1] and "27m█\x1b[0m Alto" in lines[-1]
    coloured = "\n".join(lines[:-1])
    assert "\x1b[38;5;196m▄" in coloured  # red1, the first track's, though its note is quiet
    assert "\x1b[38;5;27m▄" in coloured  # dodger_blue2, the second's
    assert "\x1b[38;5;208m" not in coloured  # no velocity band's orange1 for the loud note


def test_a_track_roll_shows_the_earlier_track_where_two_meet():
    roll = track_roll([TrackNotes(1, "input", [Note(60, 0, 1, 64)]),
                       TrackNotes(2, "", [Note(60, 0, 1, 64), Note(62, 0, 1, 64)])])
    first, second = TRACK_COLOURS[:2]
    assert roll.shading.values == (2, 1, 1) and roll.shading.colours == ("", second, first)
    assert cell(1, 2, plain=False, colour=roll.shading.colours) == ("▀", f"{second} on {first}")
    assert render(roll, width=20)[-1] == "tracks  █ input  █ 2"  # a track without a name: its index


def test_a_single_track_file_keeps_velocity_shading(tmp_path):
    notes_to_midi([Note(60, 0, 1, 120), Note(64, 0, 1, 10)]).save(tmp_path / "one.mid")
    lines = render(midi_view(tmp_path / "one.mid"), width=60)
    assert lines[-1].startswith("velocity") and "tracks" not in "\n".join(lines)
