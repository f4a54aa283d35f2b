"""The ABC codec plugin: its entry point, its tokens, reading and writing tunes through symusic,
augmentation, and seqgen's CLI end to end through the hooks alone."""

import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import symusic
import torch
from seqgen_abc.codec import MAX_CHORD, AbcCodec, first_tune, read_text, strip_line
from typer.testing import CliRunner

import seqgen
from seqgen.cli import app

runner = CliRunner()

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT / "corpora" / "abc-tunes"
TUNES = sorted(CORPUS.glob("*.abc"))

NOTE, DUR = AbcCodec.NOTE_BASE, AbcCodec.DUR_BASE

# an ABC tune with what the codec drops around what it keeps: a chord symbol, an annotation, a
# grace note, a roll, a staccato dot, a trill, !decorations!, a comment, %%MIDI directives
DECORATED = """X:7
T:Decorated
R:hornpipe
M:4/4
L:1/8
K:G
%%MIDI transpose 12
%%MIDI gchordon
"G"{a}g2 ~f2 .e2 Td2 | "^ad lib."!trill!c2 !>!B2 +fermata+A2 G2 |] % the end
"""
PLAIN = """X:7
T:Plain
M:4/4
L:1/8
K:G
g2 f2 e2 d2 | c2 B2 A2 G2 |]
"""

# run `seqgen --help`, then say whether the plugin, torch and symusic were imported
HELP_IMPORTS = """
import sys
from seqgen.cli import main
sys.argv = ["seqgen", "--help"]
try:
    main()
except SystemExit:
    pass
print("seqgen_abc" in sys.modules, "torch" in sys.modules, "symusic" in sys.modules)
"""


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """Keep the corpus cache out of the home folder, and the output plain and wide."""
    monkeypatch.setenv("SEQGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")


def write_tune(folder: Path, name: str, abc: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(abc, encoding="utf-8")
    return path


def symusic_notes(path: Path, steps_per_quarter: int = 12) -> list[tuple[int, int, int]]:
    """(start, end, pitch) in steps of every note symusic reads from an ABC file by itself."""
    score = symusic.Score(str(path), fmt="abc")
    scale = steps_per_quarter / score.ticks_per_quarter
    return sorted((round(n.time * scale), round(n.end * scale), n.pitch)
                  for track in score.tracks for n in track.notes)


def tokens_of(codec: AbcCodec, *names: str) -> torch.Tensor:
    """Tokens from names: ``NOTE_60``, ``DUR_6``, ``EOS``..."""
    table = {codec.token_name(t): t for t in range(codec.size)}
    return torch.tensor([table[name] for name in names])


# ---- the plugin ------------------------------------------------------------------------------


def test_the_codec_is_registered_from_the_installed_entry_point():
    listing = runner.invoke(app, ["plugins"])
    assert listing.exit_code == 0, listing.output
    row = next(line for line in listing.stdout.splitlines() if "seqgen-abc" in line)
    assert "seqgen-abc 0.1.0" in row and "register_codecs" in row and " abc " in row
    corpus = seqgen.load_corpus(CORPUS)  # the format is found from the suffix .abc
    assert corpus.format == "abc" and isinstance(corpus.codec, AbcCodec)


@pytest.fixture
def registered_by_hand():
    """The hook module registered under another name for one test, as tests/conftest.py's
    ``register_plugin`` fixture registers a plugin object (and as it would be without pip). It
    takes the installed registration's place, since a module registers once. The plugin manager
    has no public name: this is the one import of seqgen's internals here, as docs/plugins.md
    shows it."""
    import seqgen_abc

    from seqgen.plugins import pm

    assert runner.invoke(app, ["plugins"]).exit_code == 0  # installed plugins load first
    installed_as = pm.get_name(seqgen_abc)
    if installed_as is not None:
        pm.unregister(name=installed_as)
    pm.register(seqgen_abc, name="abc-by-hand")
    yield "abc-by-hand"
    pm.unregister(name="abc-by-hand")
    if installed_as is not None:
        pm.register(seqgen_abc, name=installed_as)


def test_the_hook_module_registered_by_hand_provides_the_codec(registered_by_hand):
    listing = runner.invoke(app, ["plugins"])
    assert listing.exit_code == 0, listing.output
    row = next(line for line in listing.stdout.splitlines() if registered_by_hand in line)
    assert "register_codecs" in row and " abc " in row
    corpus = seqgen.load_corpus(CORPUS, format="abc")
    assert isinstance(corpus.codec, AbcCodec) and len(corpus.pieces) == len(TUNES)


def test_loading_the_plugin_imports_neither_torch_nor_symusic():
    """The entry point imports the codec only when seqgen asks for codecs."""
    env = {**os.environ, "SEQGEN_LOAD_PLUGINS": "seqgen-abc"}
    probe = subprocess.run([sys.executable, "-c", HELP_IMPORTS], capture_output=True,
                           text=True, check=True, env=env)
    assert "Train and sample recurrent sequence generators" in probe.stdout
    assert probe.stdout.strip().endswith("True False False")


# ---- the codec's contract --------------------------------------------------------------------


def test_the_vocabulary():
    codec = AbcCodec()
    assert (codec.PAD, codec.BOS, codec.EOS) == (0, 1, 2)
    assert codec.size == 3 + 128 + 8 * 12
    assert [codec.token_name(t) for t in (0, 1, 2, 3, 63, 130, 131, 132, codec.size - 1)] == \
        ["PAD", "BOS", "EOS", "NOTE_0", "NOTE_60", "NOTE_127", "DUR_1", "DUR_2", "DUR_96"]
    with pytest.raises(ValueError, match=r"token 227 is not in the vocabulary \(0..226\)"):
        codec.token_name(227)
    assert AbcCodec(steps_per_quarter=4, max_quarters=2).size == 3 + 128 + 8


def test_token_seconds_are_the_durs_at_the_tempo():
    codec = AbcCodec(steps_per_quarter=4, tempo=60)  # a quarter note is a second
    seconds = codec.token_seconds()
    assert seconds.shape == (codec.size,)
    assert seconds[:DUR].eq(0).all()
    torch.testing.assert_close(seconds[DUR:], torch.arange(1, 33) / 4)


def test_options_are_the_constructor_keywords_with_defaults():
    assert AbcCodec.default_options() == {"steps_per_quarter": 12, "max_quarters": 8,
                                          "tempo": 120}
    codec = AbcCodec.from_options(steps_per_quarter=4, tempo=90)
    assert codec.to_json() == {"name": "abc", "reader": 1, "steps_per_quarter": 4,
                               "max_quarters": 8, "tempo": 90}
    again = AbcCodec.from_json(json.loads(json.dumps(codec.to_json())))
    assert again.to_json() == codec.to_json() and again.size == codec.size
    assert pickle.loads(pickle.dumps(codec)).to_json() == codec.to_json()  # for worker processes


@pytest.mark.parametrize(("options", "message"), [
    ({"steps_per_quarter": 0}, "steps_per_quarter must be a whole number from 1 to 48, not 0"),
    ({"steps_per_quarter": 2.5}, "steps_per_quarter must be a whole number from 1 to 48, not 2.5"),
    ({"max_quarters": True}, "max_quarters must be a whole number from 1 to 64, not True"),
    ({"tempo": 1000}, "tempo must be a whole number from 20 to 480, not 1000"),
])
def test_bad_options_are_a_clear_error(options, message):
    with pytest.raises(ValueError, match=f"ABC option {message}"):
        AbcCodec(**options)


def test_the_cache_key_changes_with_the_reader(tmp_path, monkeypatch):
    """seqgen caches a corpus under the codec's to_json: another reader reads anew."""
    from seqgen_abc import codec as module

    folder = tmp_path / "tunes"
    folder.mkdir()
    for tune in TUNES[:2]:
        (folder / tune.name).write_bytes(tune.read_bytes())
    assert not seqgen.load_corpus(folder).from_cache
    assert seqgen.load_corpus(folder).from_cache
    monkeypatch.setattr(module, "READER_VERSION", 2)
    assert not seqgen.load_corpus(folder).from_cache
    assert AbcCodec.from_json({**AbcCodec().to_json(), "reader": 1}).to_json()["reader"] == 2


def test_from_json_checks_the_name_and_the_keys():
    with pytest.raises(ValueError, match="not an abc codec: 'midi'"):
        AbcCodec.from_json({"name": "midi"})
    with pytest.raises(ValueError, match="unknown ABC codec options: swing"):
        AbcCodec.from_json({"name": "abc", "swing": 2})


def test_a_bad_codec_option_on_the_command_line_names_the_codec(tmp_path):
    result = runner.invoke(app, ["corpus", "inspect", str(CORPUS), "--codec-opt",
                                 "steps_per_quarter=0"])
    assert result.exit_code != 0
    assert "the abc codec: ABC option steps_per_quarter must be a whole number" in \
        " ".join(result.output.split())


# ---- tokens ----------------------------------------------------------------------------------


def test_notes_chords_and_rests_become_note_and_dur_tokens():
    codec = AbcCodec(steps_per_quarter=4)
    notes = [(0, 2, 67), (2, 4, 64), (2, 4, 60), (6, 10, 72)]  # a note, a chord, a rest, a note
    tokens = codec.encode_notes(notes)
    assert [codec.token_name(t) for t in tokens.tolist()] == \
        ["NOTE_67", "DUR_2", "NOTE_60", "NOTE_64", "DUR_2", "DUR_2", "NOTE_72", "DUR_4"]
    assert codec.decode_notes(tokens) == sorted(notes)


def test_a_leading_rest_a_held_note_and_long_notes():
    codec = AbcCodec(steps_per_quarter=2, max_quarters=2)  # DURs of 1 to 4 steps
    # starts after a rest of 9 steps; the 60 still sounds when 62 starts; the 64 is too long
    tokens = codec.encode_notes([(9, 14, 60), (11, 12, 62), (12, 20, 64)])
    assert [codec.token_name(t) for t in tokens.tolist()] == \
        ["DUR_4", "DUR_4", "DUR_1", "NOTE_60", "DUR_2", "NOTE_62", "DUR_1", "NOTE_64", "DUR_4"]


def test_decoding_skips_specials_stops_at_eos_and_ends_a_pending_chord():
    codec = AbcCodec(steps_per_quarter=4)
    tokens = tokens_of(codec, "BOS", "NOTE_60", "NOTE_60", "PAD", "DUR_3", "NOTE_62", "NOTE_65")
    assert codec.decode_events(tokens) == [((60,), 3), ((62, 65), 4)]  # a quarter at the end
    assert codec.decode_events(tokens_of(codec, "NOTE_60", "DUR_1", "EOS", "NOTE_62",
                                         "DUR_1")) == [((60,), 1)]
    with pytest.raises(ValueError, match="token 500 is not in the vocabulary"):
        codec.decode_events([500])


# ---- reading and writing ABC -----------------------------------------------------------------


def test_the_corpus_is_the_tunes_of_source_md():
    listed = (CORPUS / "SOURCE.md").read_text(encoding="utf-8")
    assert len(TUNES) == 35
    assert all(f"`{tune.name}`" in listed for tune in TUNES)
    assert sum(tune.stat().st_size for tune in TUNES) < 200_000


@pytest.mark.parametrize("tune", TUNES, ids=[t.stem for t in TUNES])
def test_every_bundled_tune_round_trips(tune, tmp_path):
    """read -> write -> read keeps the tokens; symusic reads the written file by itself with
    the same notes; and they are the original's notes on the grid (one voice, all on it)."""
    codec = AbcCodec()
    tokens, stats = codec.read(tune)
    assert stats["tunes"] == 1 and stats["notes"] == int(codec.is_note(tokens).sum()) > 50
    assert stats["seconds"] > 5 and "ignored_tunes" not in stats
    out = tmp_path / "tune.abc"
    codec.write(tokens, out)
    again, _ = codec.read(out)
    assert again.tolist() == tokens.tolist()
    assert symusic_notes(out) == codec.decode_notes(tokens)
    original = symusic.Score.from_abc(clean_original(tune))
    assert codec.grid_notes(original) == codec.decode_notes(tokens)


def clean_original(tune: Path) -> str:
    from seqgen_abc.codec import clean_tune

    header, lines, _ = first_tune(read_text(tune))
    return clean_tune(header, lines)


@pytest.mark.parametrize("steps_per_quarter", [1, 4, 5, 12, 24])
def test_any_tokens_write_abc_that_reads_back_to_the_same_notes(steps_per_quarter, tmp_path):
    """Random tokens: every pitch (the lowest octave, where abc2midi reads accidentals wrong,
    too), chords, rests, lengths that need tuplets, notes tied over bar lines."""
    codec = AbcCodec(steps_per_quarter=steps_per_quarter, max_quarters=4)
    generator = torch.Generator().manual_seed(steps_per_quarter)
    for trial in range(12):
        tokens = torch.randint(3, codec.size, (60,), generator=generator)
        tokens[torch.randint(0, 60, (20,), generator=generator)] = \
            DUR + torch.randint(0, codec.max_steps, (20,), generator=generator)  # small chords
        out = tmp_path / f"random-{trial}.abc"
        codec.write(tokens, out)
        back, _ = codec.read(out)
        assert codec.decode_notes(back) == codec.decode_notes(tokens), out.read_text()


def test_written_abc_is_readable_abc(tmp_path):
    codec = AbcCodec()
    tokens = tokens_of(codec, "NOTE_60", "NOTE_64", "NOTE_67", "DUR_12", "NOTE_61", "DUR_4",
                       "NOTE_73", "DUR_2", "DUR_6", "NOTE_0", "DUR_60", "NOTE_127", "DUR_3")
    out = tmp_path / "tune.abc"
    codec.write(tokens, out)
    assert out.read_text(encoding="utf-8") == (
        "X:1\nT:Generated by seqgen\nM:4/4\nL:1/16\nQ:1/4=120\nK:C\n%%MIDI chordattack 0\n"
        "[CEG]4 (3:1:1^C4 (3:1:1^c2 z2 =C,,,,,8- | =C,,,,,12 g'''' z3 |]\n")
    assert symusic_notes(out) == [(0, 12, 60), (0, 12, 64), (0, 12, 67), (12, 16, 61),
                                  (16, 18, 73), (24, 84, 0), (84, 87, 127)]


def test_an_odd_length_is_whole_units_tied_to_a_tuplet(tmp_path):
    codec = AbcCodec()
    out = tmp_path / "tune.abc"
    codec.write(tokens_of(codec, "NOTE_76", "DUR_20", "NOTE_72", "DUR_4"), out)
    assert out.read_text(encoding="utf-8").splitlines()[-1] == "e6- (3:1:1e2 (3:1:1c4 z8 |]"
    assert symusic_notes(out) == [(0, 20, 76), (20, 24, 72)]


def test_a_chord_is_written_with_at_most_the_notes_abc2midi_plays(tmp_path):
    codec = AbcCodec()
    chord = [NOTE + p for p in range(20, 20 + MAX_CHORD + 10)]
    out = tmp_path / "cluster.abc"
    codec.write(torch.tensor([*chord, DUR + 11]), out)
    assert symusic_notes(out) == [(0, 12, p) for p in range(20, 20 + MAX_CHORD)]


def test_chord_symbols_graces_and_decorations_are_dropped_and_the_rhythm_kept(tmp_path):
    codec = AbcCodec()
    decorated, _ = codec.read(write_tune(tmp_path, "decorated.abc", DECORATED))
    plain, _ = codec.read(write_tune(tmp_path, "plain.abc", PLAIN))
    assert decorated.tolist() == plain.tolist()
    assert codec.decode_notes(plain) == [(12 * i, 12 * i + 12, p) for i, p in
                                         enumerate([79, 78, 76, 74, 72, 71, 69, 67])]


def test_strip_line_keeps_notes_inline_fields_and_old_chords():
    assert strip_line('"Am"A2 {g}~B2 [K:D] +CEG+ !f! .c | T!trill!d % comment') == \
        "A2 B2 [K:D] +CEG+  c | d "
    assert strip_line("abc!def|g!") == "abc!def|g!"  # abc 1.6's line break, not a decoration


def test_voices_and_chords_become_one_stream(tmp_path):
    tune = write_tune(tmp_path, "two.abc", "X:1\nT:Two voices\nM:4/4\nL:1/4\nK:C\n"
                                          "V:1\nc d [ce] f |]\nV:2\nC,2 E,2 |]\n")
    codec = AbcCodec(steps_per_quarter=1)
    tokens, stats = codec.read(tune)
    assert stats["notes"] == 7
    # the C, sounding two beats is cut where the d starts: one onset at a time
    assert codec.decode_notes(tokens) == [(0, 1, 48), (0, 1, 72), (1, 2, 74), (2, 3, 52),
                                          (2, 3, 72), (2, 3, 76), (3, 4, 77)]


def test_only_the_first_tune_of_a_file_is_read(tmp_path):
    collection = write_tune(tmp_path, "book.abc", "% a collection\nO:Ireland\n\n" +
                            PLAIN + "\n" + PLAIN.replace("X:7", "X:8") + "\n" +
                            PLAIN.replace("X:7", "X:9").replace("g2", "a2"))
    tokens, stats = AbcCodec().read(collection)
    assert stats["tunes"] == 1 and stats["ignored_tunes"] == 2
    assert tokens.tolist() == AbcCodec().read(write_tune(tmp_path, "one.abc", PLAIN))[0].tolist()


def test_a_latin_1_file_is_read(tmp_path):
    path = tmp_path / "latin.abc"
    path.write_bytes(PLAIN.replace("T:Plain", "T:Caf\xe9").encode("latin-1"))
    assert AbcCodec().read(path)[1]["notes"] == 8


@pytest.mark.parametrize(("content", "reason"), [
    (b"just some text\n", r"not ABC notation \(no X: line starts a tune\)"),
    (b"MThd\x00\x00\x00\x06\x00\x01", r"not ABC notation \(binary data\)"),
    (b"X:1\nT:No key\nabc|\n", r"the first tune has no K: \(key\) line"),
    (b"X:1\nT:Silence\nK:C\nz4|\n", "no notes"),
    (b"X:1\nT:Too high\nK:C\nc''''''4|\n", "abc2midi cannot play it: "),
])
def test_a_file_it_cannot_use_is_a_codec_file_error(tmp_path, content, reason):
    path = tmp_path / "bad.abc"
    path.write_bytes(content)
    with pytest.raises(seqgen.CodecFileError, match=reason):
        AbcCodec().read(path)


def test_abc2midi_messages_stay_off_the_terminal(tmp_path, capfd):
    sloppy = PLAIN.replace("G2 |]", "G2 A2 | d8 |]")  # its second bar is too long
    symusic.Score.from_abc(sloppy)
    assert "Bar 1 has" in "".join(capfd.readouterr())  # abc2midi says so on the terminal
    AbcCodec().read(write_tune(tmp_path, "sloppy.abc", sloppy))
    assert capfd.readouterr() == ("", "")


def test_corpus_inspect_skips_damaged_files_with_their_reasons(tmp_path):
    folder = tmp_path / "tunes"
    folder.mkdir()
    for tune in TUNES[:3]:
        (folder / tune.name).write_bytes(tune.read_bytes())
    write_tune(folder, "notes.abc", "Remember to practise the reel.\n")
    (folder / "truncated.abc").write_bytes(TUNES[0].read_bytes()[:40])  # cut before K:
    result = runner.invoke(app, ["corpus", "inspect", str(folder), "--verbose"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "(abc)" in output and "3 read" in output
    assert "2 skipped" in output
    assert "not ABC notation (no X: line starts a tune)" in output
    assert "the first tune has no K: (key) line" in output
    assert "notes.abc" in output and "truncated.abc" in output
    assert "NOTE" in output and "DUR" in output


# ---- augmentation ----------------------------------------------------------------------------


def augmentation(transpose: int, stretch: float = 0.05) -> SimpleNamespace:
    """What seqgen's data layer passes: the training settings ``transpose`` and ``stretch``."""
    return SimpleNamespace(transpose=transpose, stretch=stretch)


def test_augment_transposes_deterministically_for_a_seeded_generator():
    codec = AbcCodec()
    tokens, _ = codec.read(TUNES[0])
    shifts = []
    for seed in range(12):
        first = codec.augment(tokens, augmentation(3), torch.Generator().manual_seed(seed))
        second = codec.augment(tokens, augmentation(3), torch.Generator().manual_seed(seed))
        assert first.tolist() == second.tolist()
        is_note = codec.is_note(tokens)
        assert first[~is_note].tolist() == tokens[~is_note].tolist()  # DURs stay
        shift = set((first[is_note] - tokens[is_note]).tolist())
        assert len(shift) == 1  # every note by the same interval
        shifts += shift
    assert set(shifts) <= set(range(-3, 4)) and min(shifts) < 0 < max(shifts)
    assert codec.augment(tokens, augmentation(0), torch.Generator().manual_seed(1)).tolist() \
        == tokens.tolist()


def test_augment_ignores_stretch():
    codec = AbcCodec()
    tokens, _ = codec.read(TUNES[1])
    plain = codec.augment(tokens, augmentation(2, 0.0), torch.Generator().manual_seed(5))
    stretched = codec.augment(tokens, augmentation(2, 0.5), torch.Generator().manual_seed(5))
    assert plain.tolist() == stretched.tolist()
    assert AbcCodec.implements("augment")


def test_a_transposition_leaving_0_to_127_is_clipped_keeping_the_intervals():
    codec = AbcCodec()
    high = tokens_of(codec, "NOTE_120", "DUR_3", "NOTE_125", "DUR_3")
    assert codec.transpose(high, 5).tolist() == \
        tokens_of(codec, "NOTE_122", "DUR_3", "NOTE_127", "DUR_3").tolist()
    low = tokens_of(codec, "NOTE_1", "NOTE_8", "DUR_3").to(torch.int16)  # the cache's type
    moved = codec.transpose(low, -3)
    assert moved.dtype == torch.int16 and moved.tolist() == tokens_of(
        codec, "NOTE_0", "NOTE_7", "DUR_3").tolist()
    full = tokens_of(codec, "NOTE_0", "DUR_1", "NOTE_127", "DUR_1")
    assert codec.transpose(full, 2).tolist() == full.tolist()
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        moved = codec.augment(high, augmentation(12), generator)
        assert int(moved[codec.is_note(moved)].max()) - NOTE <= 127


# ---- music controls --------------------------------------------------------------------------

D_MAJOR = """X:1
T:D major
M:4/4
L:1/8
Q:1/4=120
K:D
D2 F2 A2 d2 | B2 G2 E2 C2 | D2 A,2 F2 A2 | d8 |]
"""


def test_the_codec_declares_controls_and_measures_a_tunes_key_and_density(tmp_path):
    codec = AbcCodec()
    assert AbcCodec.implements("controls") and codec.controls() == ("density", "key", "register")
    tokens = codec.read(write_tune(tmp_path, "d.abc", D_MAJOR))[0]
    notes, times = codec.control_notes(tokens)
    assert len(times) == len(tokens) and times[-1] == pytest.approx(6.0)  # the last DUR's start
    assert [round(n.start, 3) for n in notes[:3]] == [0.0, 0.5, 1.0]  # quarters at 120 a minute
    values = seqgen.measure_controls(codec, tokens, ["key", "density", "register"], window=8.0)
    assert {int(k) for k in values[:, 0]} == {2}  # D major, 2 in seqgen's key classes
    assert values[0, 1] == pytest.approx(2.0)  # eight onsets in [0, 4): two a second
    moved = seqgen.measure_controls(codec, codec.transpose(tokens, 2), ["key"], window=8.0)
    assert {int(k) for k in moved[:, 0]} == {4}  # E major
    with pytest.raises(seqgen.UsageError, match="abc codec cannot measure dynamics: it "
                                                "measures density, key, register"):
        seqgen.measure_controls(codec, tokens, ["dynamics"])


# ---- the CLI end to end ----------------------------------------------------------------------


def train(run: Path, *options: str) -> None:
    result = runner.invoke(app, ["train", str(CORPUS), "--hidden", "16", "--layers", "1",
                                 "--steps", "20", "--batch-size", "4", "--seq-len", "32",
                                 "--eval-interval", "10", "--device", "cpu", "--no-curves",
                                 "--out", str(run), *options])
    assert result.exit_code == 0, result.output


def test_the_cli_trains_and_samples_abc_files_that_symusic_reads(tmp_path):
    run = tmp_path / "run"
    train(run, "--augment", "--transpose", "2", "--codec-opt", "steps_per_quarter=6")
    config = json.loads((run / "best" / "config.json").read_text())
    assert config["codec"] == {"name": "abc", "reader": 1, "steps_per_quarter": 6,
                               "max_quarters": 8, "tempo": 120}
    assert config["codec_plugin"] == {"format": "abc", "distribution": "seqgen-abc",
                                      "version": "0.1.0"}
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [e["loss"] for e in events if e["event"] == "train"]
    assert len(losses) >= 2 and losses[-1] < losses[0], losses
    assert isinstance(seqgen.load_checkpoint(run).codec, AbcCodec)

    sample = ["sample", str(run), "--num-samples", "2", "--length", "64", "--seed", "3"]
    result = runner.invoke(app, [*sample, "--out", f"{tmp_path / 'samples'}/"])
    assert result.exit_code == 0, result.output
    written = sorted((tmp_path / "samples").iterdir())
    assert [p.name for p in written] == ["sample-1.abc", "sample-2.abc"]
    for path in written:
        assert path.read_text(encoding="utf-8").startswith("X:1\n")
        score = symusic.Score(str(path), fmt="abc")
        assert sum(len(track.notes) for track in score.tracks) > 0
    again = runner.invoke(app, [*sample, "--out", f"{tmp_path / 'again'}/"])
    assert again.exit_code == 0, again.output
    assert [p.read_text() for p in sorted((tmp_path / "again").iterdir())] == \
        [p.read_text() for p in written]


def test_sample_length_in_seconds_counts_the_durs(tmp_path):
    run = tmp_path / "run"
    train(run, "--no-augment")
    result = runner.invoke(app, ["sample", str(run), "--length", "4s", "--seed", "2",
                                 "--out", str(tmp_path / "tune.abc")])
    assert result.exit_code == 0, result.output
    seconds = float(re.search(r"tune\.abc \(([0-9.]+) s\)", result.output).group(1))
    assert 4 <= seconds < 4 + 4  # at 120 quarters a minute the longest DUR (8) is 4 s


def test_training_with_augmentation_transposes_through_the_codec(tmp_path, monkeypatch):
    shifts = []
    augment = AbcCodec.augment

    def spy(self, tokens, augmentation, generator):
        moved = augment(self, tokens, augmentation, generator)
        is_note = self.is_note(tokens)
        shifts.append(int((moved[is_note] - tokens[is_note])[0]))
        return moved

    monkeypatch.setattr(AbcCodec, "augment", spy)
    train(tmp_path / "run", "--augment", "--transpose", "4")
    assert shifts and set(shifts) <= set(range(-4, 5)) and len(set(shifts)) > 1
