"""The performance MIDI codec: reading files, tokens, decoding anything, and unusable files."""

import io
import random
import struct
from collections import defaultdict
from pathlib import Path

import mido
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgen.data.codecs.midi import MidiCodec, MidiFileError, MidiOptions, notes_to_midi, read_notes
from seqgen.data.notes import Note

CHORALES = Path(__file__).resolve().parent.parent / "corpora" / "bach-chorales"
OPTIONS = MidiOptions()
STEP = OPTIONS.resolution_ms / 1000
EPS = 1e-6
codec = MidiCodec()


# ---- helpers ---------------------------------------------------------------------------------


def on(note: int, time: int = 0, velocity: int = 80, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=velocity, time=time, channel=channel)


def off(note: int, time: int = 0, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", note=note, time=time, channel=channel)


def pedal(value: int, time: int = 0, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", control=64, value=value, time=time, channel=channel)


def tempo(us_per_beat: int, time: int = 0) -> mido.MetaMessage:
    return mido.MetaMessage("set_tempo", tempo=us_per_beat, time=time)


def midi_file(*tracks: list, ticks_per_beat: int = 480, type: int = 1) -> mido.MidiFile:
    """A file in memory; at 480 ticks per beat and the default tempo, 960 ticks is a second."""
    return mido.MidiFile(type=type, ticks_per_beat=ticks_per_beat,
                         tracks=[mido.MidiTrack(track) for track in tracks])


def saved_and_loaded(midi: mido.MidiFile) -> mido.MidiFile:
    buffer = io.BytesIO()
    midi.save(file=buffer)
    buffer.seek(0)
    return mido.MidiFile(file=buffer)


def spans(notes: list[Note]) -> list[tuple[int, float, float]]:
    return [(n.pitch, round(n.start, 6), round(n.end, 6)) for n in notes]


def names(tokens: torch.Tensor) -> list[str]:
    return [codec.token_name(t) for t in tokens.tolist()]


def by_pitch(notes: list[Note]) -> dict[int, list[Note]]:
    grouped = defaultdict(list)
    for note in notes:
        grouped[note.pitch].append(note)
    return grouped


def assert_notes_match(original: list[Note], decoded: list[Note], options: MidiOptions,
                       what: str = "") -> None:
    """Same notes, matched in time order pitch by pitch (notes of different pitches within one
    step may swap): times within one step, velocity within one bin. A note shorter than a step
    lasts exactly one step."""
    step = options.resolution_ms / 1000
    assert len(decoded) == len(original), what
    expected, got = by_pitch(original), by_pitch(decoded)
    assert expected.keys() == got.keys(), what
    for pitch, notes in expected.items():
        for a, b in zip(notes, got[pitch], strict=True):
            assert abs(a.start - b.start) <= step + EPS, (what, a, b)
            if a.end - a.start >= step:
                assert abs(a.end - b.end) <= step + EPS, (what, a, b)
            else:
                assert b.end - b.start == pytest.approx(step), (what, a, b)
            assert abs(a.velocity - b.velocity) <= options.velocity_bin_size, (what, a, b)


def raw_onsets(midi: mido.MidiFile) -> list[tuple[int, float]]:
    """(pitch, seconds) of every non-drum note_on, unisons counted separately: mido's own walk."""
    onsets, now = [], 0.0
    for msg in midi:
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0 and msg.channel != 9:
            onsets.append((msg.note, now))
    return onsets


# ---- the whole corpus ------------------------------------------------------------------------


def test_every_bach_chorale_round_trips_through_the_tokens():
    files = sorted(CHORALES.glob("*.mid"))
    assert len(files) == 369
    total = 0
    for path in files:
        midi = mido.MidiFile(path)
        notes = read_notes(midi, OPTIONS)
        decoded = codec.decode_notes(codec.encode_notes(notes))
        assert_notes_match(notes, decoded, OPTIONS, path.name)
        sounding = by_pitch(decoded)
        for pitch, onset in raw_onsets(midi):
            assert any(n.start - STEP - EPS <= onset < n.end for n in sounding[pitch]), \
                (path.name, pitch, onset)
        total += len(notes)
    assert total > 100_000


# ---- vocabulary and encoding -----------------------------------------------------------------


def test_vocabulary_size_and_token_names():
    assert codec.size == 391
    assert [codec.token_name(t) for t in (0, 1, 2, 3, 63, 130, 131, 191, 258)] == [
        "PAD", "BOS", "EOS", "NOTE_ON_0", "NOTE_ON_60", "NOTE_ON_127", "NOTE_OFF_0",
        "NOTE_OFF_60", "NOTE_OFF_127"]
    assert [codec.token_name(t) for t in (259, 268, 358, 359, 364, 390)] == [
        "TIME_SHIFT_1", "TIME_SHIFT_10", "TIME_SHIFT_100", "VELOCITY_0", "VELOCITY_5",
        "VELOCITY_31"]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        codec.token_name(391)
    other = MidiCodec(MidiOptions(resolution_ms=20, max_shift_ms=500, velocity_bins=16))
    assert other.size == 3 + 256 + 25 + 16
    assert other.token_name(other.size - 17) == "TIME_SHIFT_25"


def test_encoding_orders_offs_first_and_sends_velocity_only_when_its_bin_changes():
    notes = [Note(60, 0.0, 0.5, 80), Note(64, 0.0, 0.5, 79), Note(67, 0.5, 1.0, 20),
             Note(60, 0.5, 0.75, 20)]
    assert names(codec.encode_notes(notes)) == [
        "VELOCITY_19", "NOTE_ON_60", "NOTE_ON_64", "TIME_SHIFT_50",
        "NOTE_OFF_60", "NOTE_OFF_64", "VELOCITY_4", "NOTE_ON_60", "NOTE_ON_67", "TIME_SHIFT_25",
        "NOTE_OFF_60", "TIME_SHIFT_25", "NOTE_OFF_67"]


def test_velocity_bins_decode_to_within_one_bin():
    for velocity in range(1, 128):
        (note,) = codec.decode_notes(codec.encode_notes([Note(60, 0.0, 0.1, velocity)]))
        assert abs(note.velocity - velocity) <= OPTIONS.velocity_bin_size, velocity


def test_long_gaps_become_several_time_shifts():
    tokens = codec.encode_notes([Note(60, 0.0, 0.1, 80), Note(62, 2.55, 2.6, 80)])
    assert names(tokens) == [
        "VELOCITY_19", "NOTE_ON_60", "TIME_SHIFT_10", "NOTE_OFF_60", "TIME_SHIFT_100",
        "TIME_SHIFT_100", "TIME_SHIFT_45", "NOTE_ON_62", "TIME_SHIFT_5", "NOTE_OFF_62"]
    assert codec.duration_s(tokens) == pytest.approx(2.6)


def test_a_zero_length_note_lasts_one_step():
    (note,) = codec.decode_notes(codec.encode_notes([Note(60, 0.3, 0.3, 80)]))
    assert spans([note]) == [(60, 0.3, 0.31)]


def test_tempo_changes_are_honoured():
    midi = midi_file(
        [tempo(500_000), tempo(1_000_000, time=960)],  # 0.5 s a beat, then 1 s from 1 s on
        [on(60), off(60, 480), on(64), on(62, 480), off(64, 480), off(62)],
    )
    assert spans(read_notes(midi, OPTIONS)) == [(60, 0.0, 0.5), (64, 0.5, 2.0), (62, 1.0, 2.0)]


def test_ticks_per_beat_scale_the_times():
    midi = midi_file([on(60), off(60, 96)], ticks_per_beat=96)
    assert spans(read_notes(midi, OPTIONS)) == [(60, 0.0, 0.5)]


def test_drums_are_dropped_unless_kept():
    midi = midi_file([on(60), on(36, channel=9), off(60, 480), off(36, channel=9)])
    assert [n.pitch for n in read_notes(midi, OPTIONS)] == [60]
    assert [n.pitch for n in read_notes(midi, MidiOptions(keep_drums=True))] == [36, 60]
    only_drums = midi_file([on(36, channel=9), off(36, 480, channel=9)])
    with pytest.raises(MidiFileError, match="no notes .*drums"):
        read_notes(only_drums, OPTIONS)


def test_sustain_holds_notes_until_the_pedal_is_released():
    midi = midi_file([on(60), pedal(127, 240), off(60, 240), on(62), off(62, 240),
                      pedal(0, 240), on(64), off(64, 240)])
    assert spans(read_notes(midi, OPTIONS)) == [(60, 0.0, 1.0), (62, 0.5, 1.0),
                                                (64, 1.0, 1.25)]
    assert spans(read_notes(midi, MidiOptions(sustain=False))) == [
        (60, 0.0, 0.5), (62, 0.5, 0.75), (64, 1.0, 1.25)]


def test_a_pitch_struck_again_under_the_pedal_ends_the_held_note():
    midi = midi_file([pedal(100), on(60), off(60, 240), on(60, 240), off(60, 240),
                      pedal(20, 240)])
    assert spans(read_notes(midi, OPTIONS)) == [(60, 0.0, 0.5), (60, 0.5, 1.0)]


def test_the_pedal_of_one_channel_does_not_hold_another():
    midi = midi_file([pedal(127, channel=1), on(60), off(60, 480), pedal(0, 480, channel=1)])
    assert spans(read_notes(midi, OPTIONS)) == [(60, 0.0, 0.5)]


def test_a_pitch_struck_again_ends_the_sounding_note():
    midi = midi_file([on(60), on(60, 480), off(60, 480), off(60, 480)])
    assert spans(read_notes(midi, OPTIONS)) == [(60, 0.0, 0.5), (60, 0.5, 1.0)]


def test_unisons_of_two_voices_become_consecutive_notes():
    soprano = [on(60), off(60, 960)]
    alto = [on(60, 480), off(60, 240)]  # inside the soprano's note: it sounds on to its end
    assert spans(read_notes(midi_file(soprano, alto), OPTIONS)) == [(60, 0.0, 0.5),
                                                                    (60, 0.5, 1.0)]
    together = [on(60, velocity=50), off(60, 480)]  # struck with the soprano: one note
    assert [(n.start, n.end, n.velocity) for n in read_notes(midi_file(soprano, together),
                                                             OPTIONS)] == [(0.0, 1.0, 80)]


def test_note_on_with_velocity_zero_is_a_note_off():
    midi = midi_file([on(60), on(60, 480, velocity=0), on(62), off(62, 480)])
    assert spans(read_notes(midi, OPTIONS)) == [(60, 0.0, 0.5), (62, 0.5, 1.0)]


def test_note_offs_without_a_note_are_ignored_and_open_notes_end_with_the_file():
    midi = midi_file([off(61), on(60), off(61, 480),
                      mido.MetaMessage("end_of_track", time=480)])
    assert spans(read_notes(midi, OPTIONS)) == [(60, 0.0, 1.0)]


def test_the_lowest_and_highest_pitches():
    notes = [Note(0, 0.0, 0.5, 100), Note(127, 0.0, 0.5, 100)]
    assert names(codec.encode_notes(notes))[1:3] == ["NOTE_ON_0", "NOTE_ON_127"]
    decoded = codec.decode_notes(codec.encode_notes(notes))
    assert spans(decoded) == spans(notes)
    assert spans(read_notes(saved_and_loaded(notes_to_midi(decoded)), OPTIONS)) == spans(notes)


def test_transpose_shifts_notes_and_drops_those_pushed_out_of_range():
    notes = [Note(10, 0.0, 0.5, 80), Note(60, 0.25, 1.0, 80), Note(120, 0.5, 1.5, 80)]
    tokens = codec.encode_notes(notes)
    up = codec.transpose(tokens, 10)
    assert spans(codec.decode_notes(up)) == [(20, 0.0, 0.5), (70, 0.25, 1.0)]
    assert sum(n.startswith("NOTE_") for n in names(up)) == 4
    assert codec.duration_s(up) == codec.duration_s(tokens)
    down = codec.transpose(tokens, -11)
    assert spans(codec.decode_notes(down)) == [(49, 0.25, 1.0), (109, 0.5, 1.5)]
    assert sum(n.startswith("NOTE_ON") for n in names(down)) == 2
    assert sum(n.startswith("NOTE_OFF") for n in names(down)) == 2
    assert torch.equal(codec.transpose(tokens, 0), tokens)


@pytest.mark.parametrize("factor", [0.5, 0.95, 1.05, 1.5, 3.0])
def test_stretch_scales_every_time_by_the_factor(factor):
    notes = read_notes(CHORALES / "riemenschneider001.mid", OPTIONS)
    tokens = torch.cat([codec.encode_notes(notes), torch.tensor([codec.time_shift_base + 30])])
    stretched = codec.stretch(tokens, factor)
    assert abs(codec.duration_s(stretched) - factor * codec.duration_s(tokens)) <= STEP / 2 + EPS
    scaled = [Note(n.pitch, n.start * factor, n.end * factor, n.velocity)
              for n in codec.decode_notes(tokens)]
    assert_notes_match(scaled, codec.decode_notes(stretched), OPTIONS)
    is_shift = lambda t: (t >= codec.time_shift_base) & (t < codec.velocity_base)  # noqa: E731
    assert torch.equal(stretched[~is_shift(stretched)], tokens[~is_shift(tokens)])


def test_codec_json_round_trip():
    other = MidiCodec(MidiOptions(resolution_ms=8, velocity_bins=16, keep_drums=True))
    data = other.to_json()
    assert data == {"name": "midi", "resolution_ms": 8, "max_shift_ms": 1000,
                    "velocity_bins": 16, "keep_drums": True, "sustain": True, "max_note_s": 5.0}
    again = MidiCodec.from_json(data)
    assert again.options == other.options and again.size == other.size
    with pytest.raises(ValueError, match="not a midi codec"):
        MidiCodec.from_json({**data, "name": "char"})
    with pytest.raises(ValueError, match="unknown MIDI codec options: colour"):
        MidiCodec.from_json({**data, "colour": "blue"})
    with pytest.raises(ValueError, match="velocity_bins must be a positive integer"):
        MidiCodec.from_json({**data, "velocity_bins": 0})


# ---- decoding anything -----------------------------------------------------------------------


def tokens_of(*token_names: str) -> list[int]:
    by_name = {codec.token_name(t): t for t in range(codec.size)}
    return [by_name[name] for name in token_names]


def test_note_off_without_note_on_is_ignored():
    tokens = tokens_of("NOTE_OFF_60", "TIME_SHIFT_10", "NOTE_ON_62", "TIME_SHIFT_10",
                       "NOTE_OFF_62", "NOTE_OFF_62", "NOTE_OFF_60")
    assert spans(codec.decode_notes(tokens)) == [(62, 0.1, 0.2)]


def test_a_note_never_closed_ends_after_max_note_s_or_at_the_end():
    assert spans(codec.decode_notes(tokens_of("NOTE_ON_60", *["TIME_SHIFT_100"] * 8))) == [
        (60, 0.0, 5.0)]
    assert spans(codec.decode_notes(tokens_of("NOTE_ON_60", "TIME_SHIFT_50"))) == [
        (60, 0.0, 0.5)]
    assert spans(codec.decode_notes(tokens_of("NOTE_ON_60"))) == [(60, 0.0, 0.01)]


def test_decoding_defaults_and_re_strikes():
    tokens = tokens_of("NOTE_ON_60", "TIME_SHIFT_10", "VELOCITY_31", "NOTE_ON_60",
                       "NOTE_ON_60", "TIME_SHIFT_10", "NOTE_OFF_60")
    decoded = codec.decode_notes(tokens)
    assert [(n.start, n.end, n.velocity) for n in decoded] == [(0.0, 0.1, 64), (0.1, 0.2, 127)]


def test_eos_ends_decoding_and_other_specials_are_ignored():
    assert codec.decode_notes(tokens_of("BOS", "PAD", "EOS", "PAD")) == []
    tokens = tokens_of("BOS", "NOTE_ON_60", "PAD", "TIME_SHIFT_10", "EOS", "TIME_SHIFT_50",
                       "NOTE_OFF_60")
    assert spans(codec.decode_notes(tokens)) == [(60, 0.0, 0.1)]


def test_an_empty_sequence_is_a_valid_midi_file_with_no_notes():
    midi = codec.to_midi([])
    assert midi.ticks_per_beat == 500
    loaded = saved_and_loaded(midi)
    assert not [m for m in loaded if m.type == "note_on"]
    with pytest.raises(MidiFileError, match="^no notes$"):
        read_notes(loaded, OPTIONS)


def test_tokens_outside_the_vocabulary_are_a_value_error():
    with pytest.raises(ValueError, match="must be in 0..390"):
        codec.decode_notes([3, 391])


# ---- unusable and unusual files --------------------------------------------------------------


def header(type: int = 1, tracks: int = 1, division: int = 480) -> bytes:
    return b"MThd" + struct.pack(">IhhH", 6, type, tracks, division)


def track(events: bytes) -> bytes:
    return b"MTrk" + struct.pack(">I", len(events)) + events


ONE_NOTE = track(b"\x00\x90\x3c\x40" + b"\x83\x60\x80\x3c\x40" + b"\x00\xff\x2f\x00")


def chorale_bytes() -> bytes:
    return (CHORALES / "riemenschneider001.mid").read_bytes()


def more_tracks_than_it_has() -> bytes:
    data = chorale_bytes()
    tracks = struct.unpack(">h", data[10:12])[0]
    return data[:10] + struct.pack(">h", tracks + 2) + data[12:]


def file_bytes(midi: mido.MidiFile) -> bytes:
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


UNUSABLE = {
    "random bytes": (lambda: random.Random(0).randbytes(3000), r"^not a MIDI file \(bad header\)$"),
    "empty": (lambda: b"", "^truncated file$"),
    "first half of a chorale": (lambda: chorale_bytes()[:len(chorale_bytes()) // 2],
                                "^truncated file$"),
    "more tracks in the header than in the file": (more_tracks_than_it_has, "^truncated file$"),
    "no notes": (lambda: file_bytes(midi_file([tempo(400_000), off(60, 480)])), "^no notes$"),
    "type 2": (lambda: file_bytes(midi_file([on(60), off(60, 480)], type=2)),
               r"^type 2 \(asynchronous tracks\) is not supported$"),
    "type 7": (lambda: header(type=7) + ONE_NOTE, "^unknown MIDI file type 7$"),
    "SMPTE division (25 fps, 40 ticks a frame)": (lambda: header(division=0xE728) + ONE_NOTE,
                                                  "^SMPTE time division is not supported$"),
    "zero ticks per beat": (lambda: header(division=0) + ONE_NOTE, "time division"),
    "running status with no status": (lambda: header() + track(b"\x00\x3c\x40\x00\xff\x2f\x00"),
                                      "^corrupt MIDI data: running status"),
    "undefined status byte": (lambda: header() + track(b"\x00\xf4\x00\xff\x2f\x00"),
                              "^corrupt MIDI data: undefined status byte"),
    "track chunk with another name": (lambda: header() + b"XTrk" + ONE_NOTE[4:],
                                      "^corrupt MIDI data: no MTrk header"),
}


@pytest.mark.parametrize("case", list(UNUSABLE))
def test_unusable_files_are_a_midi_file_error_with_a_reason(case, tmp_path):
    make, reason = UNUSABLE[case]
    path = tmp_path / "bad.mid"
    path.write_bytes(make())
    with pytest.raises(MidiFileError, match=reason):
        read_notes(path, OPTIONS)
    with pytest.raises(MidiFileError, match=reason):
        codec.read(path)


def test_a_missing_file_is_a_midi_file_error(tmp_path):
    with pytest.raises(MidiFileError, match="cannot read the file: No such file"):
        read_notes(tmp_path / "missing.mid", OPTIONS)


def test_data_bytes_over_127_are_clipped(tmp_path):
    path = tmp_path / "loud.mid"
    events = b"\x00\x90\x3c\xc8" + b"\x83\x60\x80\x3c\x40" + b"\x00\xff\x2f\x00"  # velocity 200
    path.write_bytes(header(type=0) + track(events))
    assert [(n.pitch, n.velocity) for n in read_notes(path, OPTIONS)] == [(60, 127)]


def test_running_status_carries_across_meta_events(tmp_path):
    events = (b"\x00\x90\x3c\x40"  # note_on 60
              + b"\x00\xff\x01\x03abc"  # a text meta event between
              + b"\x60\x3c\x00"  # running status: note_on 60 velocity 0, 96 ticks later
              + b"\x00\xff\x2f\x00")
    path = tmp_path / "running.mid"
    path.write_bytes(header(type=0, division=96) + track(events))
    assert [(n.pitch, n.start, n.end, n.velocity) for n in read_notes(path, OPTIONS)] == [
        (60, 0.0, 0.5, 64)]


def test_the_fastest_tempo_puts_everything_at_the_start(tmp_path):
    path = tmp_path / "fast.mid"
    midi_file([tempo(1), on(60), off(60, 480), on(62), on(60), off(62, 480), off(60)]).save(path)
    notes = read_notes(path, OPTIONS)
    assert [n.pitch for n in notes] == [60, 60, 62] and max(n.end for n in notes) < 1e-5
    decoded = codec.decode_notes(codec.read(path)[0])
    assert spans(decoded) == [(60, 0.0, 0.01), (62, 0.0, 0.01)]  # one step: unisons merge


def test_the_slowest_tempo(tmp_path):
    path = tmp_path / "slow.mid"
    midi_file([tempo(16_777_215), on(60), off(60, 480), on(62, 240), off(62, 240)]).save(path)
    beat = 16.777215  # seconds
    expected = [Note(60, 0.0, beat, 80), Note(62, 1.5 * beat, 2 * beat, 80)]
    notes = read_notes(path, OPTIONS)
    assert [(n.start, n.end) for n in notes] == [
        (0.0, pytest.approx(beat)), (pytest.approx(1.5 * beat), pytest.approx(2 * beat))]
    tokens = codec.read(path)[0]
    assert codec.duration_s(tokens) == pytest.approx(2 * beat, abs=STEP)
    assert_notes_match(expected, codec.decode_notes(tokens), OPTIONS)


def test_a_file_three_hours_long(tmp_path):
    path = tmp_path / "long.mid"
    hour = 3600 * 960  # ticks
    midi_file([on(60), off(60, 960), on(62, hour - 960), off(62, 960), on(64, hour - 960),
               off(64, 960), on(65, hour - 960), off(65, 960)]).save(path)
    tokens = codec.read(path)[0]
    assert codec.duration_s(tokens) == pytest.approx(3 * 3600 + 1)
    assert spans(codec.decode_notes(tokens)) == [(60, 0.0, 1.0), (62, 3600.0, 3601.0),
                                                 (64, 7200.0, 7201.0), (65, 10800.0, 10801.0)]


# ---- properties ------------------------------------------------------------------------------


@settings(max_examples=75, deadline=None, database=None)
@given(st.lists(st.integers(0, codec.size - 1), max_size=400))
def test_any_tokens_decode_to_a_midi_file_that_reads_back_the_same(tokens):
    notes = codec.decode_notes(tokens)
    loaded = saved_and_loaded(notes_to_midi(notes))
    if not notes:
        with pytest.raises(MidiFileError, match="^no notes$"):
            read_notes(loaded, OPTIONS)
        return
    read_back = read_notes(loaded, OPTIONS)
    assert [n.pitch for n in read_back] == [n.pitch for n in notes]
    assert spans(read_back) == spans(notes)
    assert [n.velocity for n in read_back] == [n.velocity for n in notes]


def playable(raw: list[tuple[int, int, int, int]]) -> list[Note]:
    """Notes (pitch, start ms, duration ms, velocity) with no two of a pitch overlapping and,
    as quantising merges notes of a pitch starting in one step, starts of a pitch a step apart."""
    notes, free_from = [], {}
    for pitch, start, duration, velocity in sorted(raw, key=lambda r: (r[0], r[1])):
        if start >= free_from.get(pitch, 0):
            notes.append(Note(pitch, start / 1000, (start + duration) / 1000, velocity))
            free_from[pitch] = max(start + duration, start + OPTIONS.resolution_ms)
    return notes


@settings(max_examples=75, deadline=None, database=None)
@given(st.lists(st.tuples(st.integers(0, 127), st.integers(0, 30_000), st.integers(1, 3000),
                          st.integers(1, 127)), min_size=1, max_size=80))
def test_random_notes_round_trip_through_a_midi_file_and_the_tokens(raw):
    notes = playable(raw)
    read_back = read_notes(saved_and_loaded(notes_to_midi(notes)), OPTIONS)
    assert sorted(spans(read_back)) == sorted(spans(notes))
    assert_notes_match(notes, codec.decode_notes(codec.encode_notes(read_back)), OPTIONS)
