"""What ``seqgen sample`` writes: files whose suffix says what they hold, a harmoniser's input
track and its voices' names, and a quiet end when the reader of its output leaves."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import mido
import pytest
from typer.testing import CliRunner

from seqgen.cli import app
from seqgen.data.codecs.midi import MidiOptions, read_track_notes, tracks_to_midi
from seqgen.training.checkpoint import load_checkpoint
from tests.conftest import BACH, HARMONIZER, NUMBERS_MODEL, PRETRAINED, ROOT, one_line_error

runner = CliRunner()
CHORALE = ROOT / "corpora/bach-chorales/riemenschneider001.mid"
needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None,
                                      reason="FluidSynth is not installed (.ci/run installs it)")


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


# ---- the output's suffix ---------------------------------------------------------------------


@pytest.mark.parametrize(("model", "args", "name", "message"), [
    (BACH, ["--length", "10"], "x.txt", "--out {out}: a midi model writes .mid or .midi files, "
                                        "or .wav rendered from them: give --out NAME.mid, "
                                        "NAME.wav or a folder"),
    (PRETRAINED, ["--length", "10"], "x.mid", "--out {out}: a char model writes text, not .mid "
                                              "files: give --out NAME.txt or a folder"),
    (PRETRAINED, ["--length", "10"], "x.wav", "a char model writes text, not .wav files"),
    (NUMBERS_MODEL, ["--input", "12"], "x.midi", "a char model writes text, not .midi files"),
])
def test_an_output_named_for_another_kind_of_file_is_refused(tmp_path, model, args, name,
                                                             message):
    out = tmp_path / name
    result = run("sample", model, *args, "--out", out, "--device", "cpu")
    assert result.exit_code == 2, result.output
    assert message.format(out=out) in one_line_error(result.output)
    assert list(tmp_path.iterdir()) == []


@needs_fluidsynth
def test_a_wav_output_of_a_midi_model_is_rendered_from_the_midi_beside_it(tmp_path):
    result = run("sample", BACH, "--length", "2s", "--seed", "1", "--quiet", "--device", "cpu",
                 "--out", tmp_path / "piece.wav")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["piece.mid", "piece.wav"]
    assert (tmp_path / "piece.wav").read_bytes()[:4] == b"RIFF"
    assert "wrote" in result.stderr and "s of audio" in result.stderr


def test_a_wav_output_without_fluidsynth_fails_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    result = run("sample", BACH, "--length", "2s", "--device", "cpu",
                 "--out", tmp_path / "piece.wav")
    assert result.exit_code == 2 and "apt-get install fluidsynth" in one_line_error(
        result.output)
    assert list(tmp_path.iterdir()) == []


# ---- a broken pipe -------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="a Unix pipe's end")
def test_output_piped_into_a_reader_that_leaves_ends_quietly():
    """``seqgen sample ... | head``: seqgen stops as a Unix tool does, without a word."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    sample = subprocess.Popen([sys.executable, "-m", "seqgen", "sample", str(PRETRAINED),
                               "--length", "100000", "--device", "cpu"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.buffer.read(64)"],
                            stdin=sample.stdout, stdout=subprocess.PIPE)
    sample.stdout.close()  # the reader holds the pipe's only read end: it leaves, it breaks
    read, _ = head.communicate(timeout=300)
    _, errors = sample.communicate(timeout=300)
    assert head.returncode == 0 and read == b""
    assert sample.returncode in (0, 141), errors
    assert errors.decode() == ""  # no "error: Broken pipe", no traceback


# ---- a harmoniser's input track and its voices ---------------------------------------------


def melody_named(path: Path, name: str) -> Path:
    """The chorale with its soprano's track renamed ``name``."""
    tracks = read_track_notes(CHORALE, MidiOptions())
    tracks_to_midi([(name if t.name == "Soprano" else t.name, t.notes) for t in tracks]
                   ).save(path)
    return path


def harmonise(tmp_path: Path, *args) -> tuple:
    out = tmp_path / f"out-{len(list(tmp_path.iterdir()))}.mid"
    result = run("sample", HARMONIZER, "--max-length", "40", "--seed", "1", "--quiet",
                 "--device", "cpu", "--out", out, *args)
    return result, out


def test_source_track_names_the_melody_of_an_input_file(tmp_path):
    melody = melody_named(tmp_path / "melody.mid", "Melody")
    unnamed, out = harmonise(tmp_path, "--input", f"@{melody}")
    assert unnamed.exit_code == 2 and not out.exists()
    assert (f"cannot use the input file {melody}: no track 'Soprano'; tracks with notes: "
            "1 'Melody', 2 'Alto', 3 'Tenor', 4 'Bass' (--source-track NAME or INDEX: the "
            "track to read)") in one_line_error(unnamed.output)
    soprano = [n.pitch for n in read_track_notes(CHORALE, MidiOptions())[0].notes]
    for track in ("Melody", "melody", "1"):  # a name in any case, or an index, as in training
        result, out = harmonise(tmp_path, "--input", f"@{melody}", "--source-track", track)
        assert result.exit_code == 0, result.output
        given = read_track_notes(out, MidiOptions())[0]
        assert given.name == "input" and [n.pitch for n in given.notes] == soprano
    missing, out = harmonise(tmp_path, "--input", f"@{melody}", "--source-track", "Descant")
    assert missing.exit_code == 2 and not out.exists()
    assert "no track 'Descant'" in one_line_error(missing.output)


@pytest.mark.parametrize(("model", "args", "message"), [
    (NUMBERS_MODEL, ["--input", "12"], "--source-track names the track of an input file; "
                                       "this model reads text: drop it"),
    (BACH, ["--length", "10"], "--source-track is for encoder-decoder models"),
])
def test_source_track_for_a_model_without_input_files(model, args, message):
    result = run("sample", model, *args, "--source-track", "1", "--device", "cpu")
    assert result.exit_code == 2 and message in one_line_error(result.output)


def test_the_voices_are_named_after_the_tracks_the_model_was_trained_on(tmp_path, monkeypatch):
    # The bundled harmoniser was trained before checkpoints recorded the target's tracks: its
    # corpus, where the checkpoint says it is, names them.
    assert "target_tracks" not in load_checkpoint(HARMONIZER).config["corpus"]
    monkeypatch.chdir(ROOT)  # the checkpoint records the corpus at corpora/chorale-harmony
    result, out = harmonise(tmp_path, "--input", f"@{CHORALE}")
    assert result.exit_code == 0, result.output
    assert [t.name for t in mido.MidiFile(out).tracks] == ["", "input", "Alto", "Tenor", "Bass"]
    monkeypatch.chdir(tmp_path)  # no corpus there: the voices are numbered
    result, out = harmonise(tmp_path, "--input", f"@{CHORALE}")
    assert result.exit_code == 0, result.output
    assert [t.name for t in mido.MidiFile(out).tracks][2:] == \
        ["generated 1", "generated 2", "generated 3"]
