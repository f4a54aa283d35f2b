"""Music controls (seqgen/data/controls.py): key, density, register and dynamics measured in a
window centred on each token, through the codec capability (controls, control_notes) of the
built-in codecs and of a plugin's; bins fitted to a corpus; a user's values parsed; and what
``seqgen show`` and ``seqgen stats`` print of them."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import seqgen
from seqgen.cli import app
from seqgen.config import CONTROL_NAMES, parse_control_names
from seqgen.data.codecs.base import Augmentation, get_codec
from seqgen.data.codecs.chars import CharCodec
from seqgen.data.codecs.midi import MidiCodec, MidiOptions, read_notes
from seqgen.data.codecs.parts import PartsCodec
from seqgen.data.controls import (
    CONTROLS,
    KEY_NAMES,
    Bins,
    NoteArrays,
    estimate_key,
    fit_bins,
    measure_controls,
    measure_notes,
    parse_control,
    parse_controls,
    parse_key,
    piece_controls,
)
from seqgen.data.notes import Note
from seqgen.errors import PluginError, UsageError
from tests.conftest import CHORALES

CHORALE = CHORALES / "riemenschneider001.mid"  # in G major
ALL = tuple(CONTROLS)
runner = CliRunner()


def line(pitches, start=0.0, step=0.5, velocity=80):
    """One note after another, each ``step`` seconds long."""
    return [Note(p, start + i * step, start + (i + 1) * step, velocity)
            for i, p in enumerate(pitches)]


def transposed(notes, semitones):
    return [Note(n.pitch + semitones, n.start, n.end, n.velocity) for n in notes]


C_MAJOR_SCALE = line([60, 62, 64, 65, 67, 69, 71, 72])
A_HARMONIC_MINOR = line([57, 59, 60, 62, 64, 65, 68, 69])
# I IV V I in C: C-E-G, F-A-C, G-B-D, C-E-G, a second each
CADENCE = [Note(p, s, s + 1, 80) for s, chord in enumerate(
    [(48, 64, 67, 72), (53, 65, 69, 72), (55, 62, 67, 71), (48, 64, 67, 72)]) for p in chord]


# ---- key ----------------------------------------------------------------------------------


def test_key_of_a_major_scale_a_harmonic_minor_scale_and_a_cadence():
    assert estimate_key(C_MAJOR_SCALE).name == "C-major"
    assert estimate_key(A_HARMONIC_MINOR).name == "A-minor"
    assert estimate_key(CADENCE).name == "C-major"
    assert 0.8 < estimate_key(C_MAJOR_SCALE).correlation <= 1


@pytest.mark.parametrize("semitones", range(-6, 7))
def test_transposing_a_piece_moves_its_key_as_far(semitones):
    major = estimate_key(transposed(CADENCE, semitones)).index
    minor = estimate_key(transposed(A_HARMONIC_MINOR, semitones)).index
    assert major == semitones % 12
    assert minor == 12 + (9 + semitones) % 12


def test_key_names_spell_tonics_as_key_signatures_do():
    assert len(set(KEY_NAMES)) == 24
    assert [KEY_NAMES[i] for i in (0, 6, 10, 12 + 1, 12 + 3, 12 + 10)] == [
        "C-major", "F#-major", "Bb-major", "C#-minor", "Eb-minor", "Bb-minor"]


def test_no_notes_or_no_spread_have_no_key():
    assert math.isnan(estimate_key([]).index) and estimate_key([]).name == "none"
    chromatic = line(range(60, 72))  # every pitch class alike
    assert math.isnan(estimate_key(chromatic).index)


# ---- windows: density, register, dynamics ---------------------------------------------------


def test_density_register_and_dynamics_in_a_window():
    notes = line([60] * 8 + [72] * 8, step=0.25, velocity=100)  # 4 notes/s for 4 s
    values = measure_notes(notes, [1.0, 2.0, 3.0], ALL, window=2.0)
    density, register, dynamics = values[:, 0], values[:, 2], values[:, 3]
    assert density.tolist() == pytest.approx([4.0, 4.0, 4.0])
    # [0, 2): the eight Cs; [1, 3): four Cs and four C5s; [2, 4): eight C5s
    assert register.tolist() == pytest.approx([60.0, 66.0, 72.0])
    assert dynamics.tolist() == pytest.approx([100.0] * 3)


def test_windows_are_cut_to_the_piece_at_its_edges():
    notes = line([60] * 16, step=0.25)  # 4 notes/s from 0 to 4 s
    values = measure_notes(notes, [0.0, 0.5, 4.0], ["density"], window=4.0)
    # [0, 2), [0, 2.5) and [2, 4]: a window cut at an edge counts only the time it covers
    assert values[:, 0].tolist() == pytest.approx([4.0, 4.0, 4.0])
    sparse = line([60, 62], step=1.0)  # onsets at 0 and 1, the piece 2 s long
    assert measure_notes(sparse, [0.0], ["density"], window=4.0)[0, 0] == pytest.approx(1.0)


def test_a_window_without_notes_has_no_value_and_a_held_note_no_onsets():
    notes = [Note(60, 0, 1, 90), Note(67, 10, 11, 50), Note(48, 20, 30, 70)]
    values = measure_notes(notes, [0.5, 5.0, 10.5, 25.0], ALL, window=2.0)
    assert torch.isnan(values[1]).all()  # [4, 6): silence
    assert values[0, 0] == pytest.approx(1 / 1.5)  # one onset in [0, 1.5)
    assert values[2, 2:].tolist() == pytest.approx([67.0, 50.0])
    held = values[3]  # [24, 26): the bass note sounds, begun long before
    assert held[0] == 0 and held[2] == 48 and math.isnan(held[3])


def test_values_at_equal_times_are_equal_and_a_bad_window_is_an_error():
    values = measure_notes(C_MAJOR_SCALE, [1.0, 1.0, 2.0], ALL)
    assert torch.equal(values[0], values[1]) and values.shape == (3, 4)
    assert values.dtype == torch.float32
    assert measure_notes(C_MAJOR_SCALE, [], ALL).shape == (0, 4)
    with pytest.raises(UsageError, match="window must be a positive number of seconds"):
        measure_notes(C_MAJOR_SCALE, [1.0], ALL, window=0)


def test_a_whole_piece_is_one_window():
    notes = line([60, 64, 67, 72], step=0.5, velocity=90)
    values = piece_controls(notes)
    assert values["density"] == pytest.approx(2.0) and values["register"] == pytest.approx(65.75)
    assert values["dynamics"] == 90 and KEY_NAMES[int(values["key"])] == "C-major"


# ---- the codec capability -------------------------------------------------------------------


def test_the_built_in_codecs_of_notes_declare_their_controls():
    assert MidiCodec().controls() == ("density", "key", "register", "dynamics")
    assert PartsCodec().controls() == ("density", "key", "register")
    assert MidiCodec.implements("controls") and PartsCodec.implements("control_notes")
    assert not CharCodec.implements("controls") and CharCodec.fit("ab").controls() == ()


def test_a_chorale_is_in_g_major_at_every_token_with_midi_and_parts():
    for codec in (MidiCodec(), PartsCodec()):
        tokens = codec.read(CHORALE)[0]
        values = measure_controls(codec, tokens, ("key", "density"))
        assert values.shape == (len(tokens), 2) and not torch.isnan(values).any()
        keys = [KEY_NAMES[int(k)] for k in values[:, 0]]
        assert max(set(keys), key=keys.count) == "G-major"


def test_the_midi_codec_measures_token_times_and_velocities():
    codec = MidiCodec()
    notes = line([60, 62, 64, 65], step=1.0, velocity=100)
    tokens = codec.encode_notes(notes)
    decoded, times = codec.control_notes(tokens)
    assert times.dtype == torch.float64 and len(times) == len(tokens)
    assert times[0] == 0 and times[-1] == pytest.approx(4.0)  # the last NOTE_OFF
    assert times[-2] == pytest.approx(3.0)  # the TIME_SHIFT before it: where it starts
    assert decoded.pitch.tolist() == [60, 62, 64, 65]
    values = measure_controls(codec, tokens, ("dynamics",), window=2.0)
    assert values[:, 0].tolist() == pytest.approx([99.0] * len(tokens), abs=2)  # a bin's


def same_notes(a: NoteArrays, b: NoteArrays) -> bool:
    return all(np.array_equal(getattr(a, name), getattr(b, name))
               for name in ("start", "end", "pitch", "velocity"))


def test_the_midi_codec_reads_the_notes_it_measures_as_decode_notes_does():
    codec = MidiCodec()
    for file in sorted(CHORALES.glob("*.mid"))[:20]:
        tokens = codec.read(file)[0].long()
        assert same_notes(codec.note_arrays(tokens), NoteArrays.of(codec.decode_notes(tokens)))
    generator = torch.Generator().manual_seed(0)
    for _ in range(500):  # any tokens, however ill-formed: a few pitches, struck in one step
        ids = torch.randint(codec.size, (40,), generator=generator)
        crowded = torch.rand(40, generator=generator) < 0.5
        ids = torch.where(crowded, codec.note_on_base + 60 + ids % 3, ids)
        assert same_notes(codec.note_arrays(ids), NoteArrays.of(codec.decode_notes(ids)))


@pytest.mark.parametrize("codec", [MidiCodec(), PartsCodec()], ids=["midi", "parts"])
def test_a_transposed_chorale_measures_in_the_transposed_key(codec):
    tokens = codec.read(CHORALE)[0]
    augmentation = Augmentation(transpose=5, stretch=0.05)
    generator = torch.Generator().manual_seed(3)
    semitones = augmentation.semitones(torch.Generator().manual_seed(3))
    assert semitones != 0
    varied = codec.augment(tokens, augmentation, generator)
    before = measure_controls(codec, tokens, ("key",))[:, 0]
    after = measure_controls(codec, varied, ("key",))[:, 0]
    common = max(set(before.tolist()), key=before.tolist().count)
    moved = max(set(after.tolist()), key=after.tolist().count)
    assert KEY_NAMES[int(common)] == "G-major"
    assert moved == (common + semitones) % 12  # G major moved by the drawn semitones


class GridCodec(seqgen.FileCodec):
    """A plugin's codec: one token per half-second step, 3 + pitch a note, 3 a rest. It
    declares density and register only."""

    name = "grid-test"
    suffixes = (".grid",)
    output_suffix = ".grid"

    @property
    def size(self):
        return 3 + 128

    def controls(self):
        return ("density", "register")

    def control_notes(self, tokens):
        notes = [seqgen.Note(int(t) - 3, i * 0.5, (i + 1) * 0.5, 64)
                 for i, t in enumerate(tokens.tolist()) if t > 3]
        return notes, torch.arange(len(tokens), dtype=torch.float64) * 0.5

    def to_json(self):
        return {"name": self.name}

    @classmethod
    def from_json(cls, data):
        return cls()


class ControlsPlugin:
    @staticmethod
    @seqgen.hookimpl
    def register_codecs(register):
        register("grid-test", GridCodec, description="a grid of notes that declares controls")


def test_a_plugin_codec_declares_its_own_controls(register_plugin):
    register_plugin(ControlsPlugin, "controls-plugin")
    codec = get_codec("grid-test").cls()
    tokens = torch.tensor([3 + 60, 3 + 64, 3, 3, 3 + 72, 3 + 72])
    values = seqgen.measure_controls(codec, tokens, ["register", "density"], window=1.0)
    # windows [0, 0.5) (cut at the start), [0, 1), [0.5, 1.5), [1, 2): the rests, ...
    assert values[:, 0].tolist() == pytest.approx([60, 62, 64, math.nan, 72, 72], nan_ok=True)
    assert values[:2, 1].tolist() == pytest.approx([2.0, 2.0])  # one onset in 0.5 s, two in 1
    with pytest.raises(UsageError, match=r"grid-test codec cannot measure key: it measures "
                                         r"density, register"):
        measure_controls(codec, tokens, ["key"])


def test_a_codec_breaking_the_controls_contract_is_its_plugins_bug():
    class Unknown(GridCodec):
        def controls(self):
            return ("density", "tempo")

    class Short(GridCodec):
        def control_notes(self, tokens):
            return [], torch.zeros(1, dtype=torch.float64)

    tokens = torch.tensor([63, 64])
    with pytest.raises(PluginError, match="declares the control 'tempo', which seqgen does "
                                          "not know"):
        measure_controls(Unknown(), tokens, ["density"])
    with pytest.raises(PluginError, match=r"gave \(1,\) times for 2 tokens"):
        measure_controls(Short(), tokens, ["density"])
    with pytest.raises(UsageError, match="the char codec cannot measure density: it measures "
                                         "none"):
        measure_controls(CharCodec.fit("ab"), torch.tensor([3]), ["density"])
    with pytest.raises(UsageError, match="no control 'tempo': give any of density, key"):
        measure_controls(MidiCodec(), torch.tensor([3]), ["tempo"])


# ---- bins -----------------------------------------------------------------------------------


def test_bins_at_a_corpus_quantiles_with_names_and_a_none_state():
    bins = fit_bins(torch.arange(99.0), 3, "density")
    assert bins.names == ("low", "mid", "high") and bins.edges == (32.5, 65.5)
    assert bins.centres == (16.0, 49.0, 82.0) and (bins.low, bins.high) == (0.0, 98.0)
    assert [bins.bin_of(v) for v in (-5, 32, 33, 65.5, 1e9, math.nan)] == [0, 0, 1, 2, 2, 3]
    assert bins.none == 3 and bins.states == 4 and bins.name_of(3) == "none"
    assert bins.bins_of(torch.tensor([0.0, math.nan, 50.0])).tolist() == [0, 3, 1]
    assert fit_bins(torch.arange(100.0), 5).names == ("very-low", "low", "mid", "high",
                                                      "very-high")
    assert fit_bins(torch.arange(100.0), 9).names[-1] == "level-9"


def test_bins_of_repeated_values_are_fewer_and_none_is_empty():
    bins = fit_bins([64.0] * 90 + [80.0] * 10 + [math.nan] * 5, 3, "dynamics")
    assert bins.edges == (72.0,) and bins.names == ("low", "high")
    assert bins.centres == (64.0, 80.0)
    assert fit_bins([7.0] * 4, 5).names == ("mid",)


def test_bins_round_trip_through_json_and_keys_are_their_classes():
    bins = fit_bins(torch.rand(500, generator=torch.Generator().manual_seed(0)), 4, "register")
    assert Bins.from_json(json.loads(json.dumps(bins.to_json()))) == bins
    keys = CONTROLS["key"].bins(torch.tensor([7.0, 7.0]), 3)
    assert keys.names == KEY_NAMES and keys.states == 25
    assert Bins.from_json(json.loads(json.dumps(keys.to_json()))) == keys
    assert keys.bins_of(torch.tensor([7.0, math.nan, 21.0])).tolist() == [7, 24, 21]


@pytest.mark.parametrize("values, count, message", [
    ([1.0, 2.0], 0, "give a whole number from 1 to 32, not 0"),
    ([1.0, 2.0], 2.5, "not 2.5"),
    ([math.nan], 3, "no value of density to fit bins to"),
])
def test_bad_bins_are_one_line_errors(values, count, message):
    with pytest.raises(UsageError, match=message):
        fit_bins(values, count, "density")


# ---- a user's values ------------------------------------------------------------------------


@pytest.mark.parametrize("text, name", [
    ("C-major", "C-major"), ("D major", "D-major"), ("d-MAJOR", "D-major"), ("Dmaj", "D-major"),
    ("D", "D-major"), ("DM", "D-major"), ("Dm", "D-minor"), ("dmin", "D-minor"),
    ("Bb-minor", "Bb-minor"), ("A#-minor", "Bb-minor"), ("a#m", "Bb-minor"),
    ("Db-major", "Db-major"), ("C#-major", "Db-major"), ("Gb-major", "F#-major"),
    ("F♯ minor", "F#-minor"), ("Cb", "B-major"), ("E#-minor", "F-minor"), ("bb", "Bb-major"),
])
def test_keys_parse_in_any_usual_spelling(text, name):
    assert KEY_NAMES[parse_key(text)] == name
    assert parse_control(f"key={text}").value_at(0.0).item() == KEY_NAMES.index(name)


def test_bin_names_and_numbers_parse_into_values():
    bins = {"density": fit_bins(torch.arange(99.0), 3, "density"),
            "register": fit_bins(torch.arange(40.0, 80.0), 2, "register")}
    assert parse_control("density=high", bins).value_at(5.0).item() == 82.0
    assert parse_control("density=HIGH", bins).bins_at(5.0, bins["density"]).item() == 2
    assert parse_control("density=6", bins).value_at(0.0).item() == 6.0
    assert parse_control("register=60").value_at(0.0).item() == 60.0
    assert parse_control(" Register = 60.5 ").control == "register"


def test_a_ramp_is_piecewise_linear_in_seconds():
    ramp = parse_control("density=2@0s,8@20s,8@30,4@40.0s")
    times = torch.tensor([-1.0, 0.0, 5.0, 20.0, 25.0, 35.0, 60.0])
    assert ramp.value_at(times).tolist() == pytest.approx([2, 2, 3.5, 8, 8, 6, 4])
    bins = {"density": fit_bins(torch.arange(10.0), 2, "density")}
    named = parse_control("density=low@0s,high@10s", bins)
    assert named.points == ((0.0, 2.0), (10.0, 7.0))
    keys = parse_control("key=C-major@0s,G-major@30s")  # a key holds until the next
    assert keys.value_at(torch.tensor([0.0, 29.9, 30.0, 99.0])).tolist() == [0, 0, 7, 7]
    assert parse_control("density=3@10s").value_at(0.0).item() == 3.0


def test_controls_are_given_each_once_and_named_once():
    settings = parse_controls(["density=3", "key=Dm"])
    assert list(settings) == ["density", "key"]
    assert tuple(CONTROLS) == CONTROL_NAMES  # what a run may name is what is measured
    assert parse_control_names(" density, KEY ,register") == ("density", "key", "register")
    with pytest.raises(UsageError, match="--control: density given twice: give each control "
                                         "once"):
        parse_controls(["density=3", "density=4"])
    with pytest.raises(UsageError, match="--controls: density named twice"):
        parse_control_names("density,density")
    with pytest.raises(UsageError, match="--controls: no control 'tempo': give any of density, "
                                         "key, register, dynamics"):
        parse_control_names("density,tempo")


@pytest.mark.parametrize("text, message", [
    ("key=H-major", r"key=H-major: not a key: give a key such as D-major, Bb-minor"),
    ("key=5", r"not a key: give a key such as"),
    ("density=lots", r"density=lots: not a number of density: give a number of notes/s from "
                     r"0 to 100"),
    ("density=-1", r"density=-1: out of range: give a number of notes/s from 0 to 100"),
    ("register=128", r"out of range: give a number of MIDI pitch from 0 to 127"),
    ("dynamics=0", r"out of range: give a number of velocity from 1 to 127"),
    ("density", r"'density': give NAME=VALUE \(density=high, key=D-major"),
    ("density=", r"give NAME=VALUE"),
    ("tempo=3", r"no control 'tempo': give any of density, key, register, dynamics"),
    ("density=2@0s,8", r"'8' is not a point of a ramp: give each as VALUE@SECONDS"),
    ("density=2@0s,8@later", r"'later' is not a time: give seconds such as 0s or 20s"),
    ("density=2@10s,8@5s", r"the times of a ramp must rise \(5s after 10s\): give its points"),
    ("density=2@0s,@5s", r"'@5s' is not a point of a ramp"),
])
def test_each_bad_value_is_a_one_line_error(text, message):
    with pytest.raises(UsageError, match=message) as caught:
        parse_control(text)
    assert "\n" not in str(caught.value)


def test_bad_values_against_a_model_list_its_bins_and_controls():
    bins = {"density": fit_bins(torch.arange(99.0), 3, "density")}
    with pytest.raises(UsageError, match=r"density=hgih: not a bin of density: give a bin "
                                         r"\(low, mid, high\) or a number of notes/s"):
        parse_control("density=hgih", bins)
    with pytest.raises(UsageError, match="the model was not trained with key: its controls "
                                         "are density"):
        parse_control("key=D-major", bins)


# ---- show and stats -------------------------------------------------------------------------


def test_show_prints_a_chorales_controls():
    result = runner.invoke(app, ["show", str(CHORALE)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "controls density 7.1 notes/s key G-major (r 0.95) register 60.2 (C4) " \
        "dynamics 90" in text


def test_stats_prints_each_controls_distribution_over_a_set(tmp_path):
    folder = tmp_path / "chorales"
    folder.mkdir()
    for number in ("001", "002", "005"):  # G major, E major, G major
        shutil.copy(CHORALES / f"riemenschneider{number}.mid", folder)
    keys = [estimate_key(read_notes(path, MidiOptions())).name
            for path in sorted(folder.glob("*.mid"))]
    assert keys == ["G-major", "E-major", "G-major"]
    result = runner.invoke(app, ["stats", str(folder)])
    assert result.exit_code == 0, result.output
    assert "music controls" in result.stdout and "over 3 pieces" in result.stdout
    assert "G-major 67%, E-major 33%" in result.stdout and "notes/s" in result.stdout
    report = json.loads(runner.invoke(app, ["stats", str(folder), "--json"]).stdout)
    controls = report["stats"]["controls"]
    assert set(controls) == set(CONTROLS) and controls["density"]["pieces"] == 3
    assert controls["key"]["commonest"] == [{"value": "G-major", "share": pytest.approx(2 / 3)},
                                            {"value": "E-major", "share": pytest.approx(1 / 3)}]
    assert controls["register"]["mean"] == pytest.approx(sum(
        piece_controls(read_notes(p, MidiOptions()))["register"]
        for p in folder.glob("*.mid")) / 3)


def test_stats_against_a_corpus_shows_both_sets_controls(tmp_path):
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(CHORALE, one)
    result = runner.invoke(app, ["stats", str(one), "--against", str(one)])
    assert result.exit_code == 0, result.output
    assert "music controls" in result.stdout and result.stdout.count("G-major 100%") == 2


def test_the_public_api_exports_what_a_plugin_needs():
    assert seqgen.Note is Note and seqgen.measure_controls is measure_controls
    assert "Note" in dir(seqgen) and Path(seqgen.__file__).name == "__init__.py"
