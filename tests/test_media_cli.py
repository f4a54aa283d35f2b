"""show, plot, render, stats, and what sample and train draw: from the command line."""

import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqgen.cli import app
from seqgen.data.codecs.midi import notes_to_midi
from seqgen.data.notes import Note
from tests.conftest import BACH, NAMES, NAMES_MODEL, one_line_error
from tests.test_plots import png_size

ROOT = Path(__file__).resolve().parent.parent
CHORALES = ROOT / "corpora" / "bach-chorales"
CHORALE = CHORALES / "riemenschneider001.mid"
needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None,
                                      reason="FluidSynth is not installed (.ci/run installs it)")
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_show_prints_the_facts_and_the_roll(tmp_path):
    result = run("show", CHORALE, "--png", tmp_path / "roll.png", "--width", "640",
                 "--height", "320")
    assert result.exit_code == 0, result.output
    assert "duration 42.0 s" in result.stdout and "notes 300" in result.stdout
    assert "tempo 120 BPM" in result.stdout and "C4 ┤" in result.stdout
    assert png_size(tmp_path / "roll.png") == (640, 320)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("not midi"), "cannot show"),
    (lambda p: None, "not found"),
])
def test_show_of_a_bad_file_is_one_line(tmp_path, make, message):
    path = tmp_path / "bad.mid"
    make(path)
    result = run("show", path)
    assert result.exit_code == 2 and message in one_line_error(result.output)


def test_plot_draws_several_runs_on_one_chart(tmp_path):
    result = run("plot", BACH, NAMES_MODEL, "-o", tmp_path / "both.png", "--width", "900",
                 "--height", "400")
    assert result.exit_code == 0, result.output
    assert png_size(tmp_path / "both.png") == (900, 400)
    missing = run("plot", tmp_path, "-o", tmp_path / "none.png")
    assert missing.exit_code == 2 and "metrics.jsonl" in one_line_error(missing.output)
    assert not (tmp_path / "none.png").exists()


@pytest.fixture
def no_matplotlib(monkeypatch):
    """As if matplotlib were not installed, even where an earlier test imported it."""
    for name in [n for n in sys.modules if n.split(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)


def test_without_matplotlib_plot_says_what_to_install(tmp_path, no_matplotlib):
    result = run("plot", BACH, "-o", tmp_path / "c.png")
    assert result.exit_code == 2
    assert "pip install 'seqgen[plots]'" in one_line_error(result.output)


def test_training_draws_its_curves_and_says_so_without_matplotlib(tiny_corpus, tmp_path,
                                                                  request):
    args = ["train", tiny_corpus, "--hidden", "8", "--batch-size", "2", "--seq-len", "8",
            "--steps", "4", "--eval-interval", "2", "--log-interval", "1", "--device", "cpu"]
    assert run(*args, "--out", tmp_path / "a").exit_code == 0
    assert png_size(tmp_path / "a" / "curves.png") == (1200, 500)
    request.getfixturevalue("no_matplotlib")
    with pytest.warns(UserWarning, match=r"curves.png not drawn.*seqgen\[plots\]"):
        result = run(*args, "--out", tmp_path / "b")
    assert result.exit_code == 0 and (tmp_path / "b" / "best").is_dir()
    assert not (tmp_path / "b" / "curves.png").exists()


@needs_fluidsynth
def test_render_writes_a_wav_beside_the_midi(tmp_path):
    midi = tmp_path / "piece.mid"
    notes_to_midi([Note(60, 0.0, 0.5, 90), Note(64, 0.5, 1.0, 90)]).save(midi)
    result = run("render", midi, "--sample-rate", "22050")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "piece.wav").stat().st_size > 22050  # about 1 s and a tail, stereo


def test_render_without_fluidsynth_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run("render", CHORALE, "-o", tmp_path / "x.wav")
    assert result.exit_code == 2 and "apt-get install fluidsynth" in one_line_error(
        result.output)
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("render", [False, pytest.param(True, marks=needs_fluidsynth)])
def test_sample_shows_each_piano_roll_and_renders_if_asked(tmp_path, render):
    args = ["sample", BACH, "--length", "3s", "--num-samples", "2", "--seed", "1", "--out",
            tmp_path, "--device", "cpu"]
    result = run(*args, *(["--render"] if render else []))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("velocity") == 2 and result.stdout.count("duration") == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        ["sample-1.mid", "sample-1.wav", "sample-2.mid", "sample-2.wav"] if render
        else ["sample-1.mid", "sample-2.mid"])
    quiet = run(*args, "--quiet", "--out", tmp_path / "quiet")
    assert quiet.exit_code == 0 and "velocity" not in quiet.stdout


def test_render_of_a_text_model_is_an_error(trained_run):
    result = run("sample", trained_run, "--render")
    assert result.exit_code == 2 and "MIDI models" in one_line_error(result.output)


def write_pieces(folder: Path, low: int) -> Path:
    folder.mkdir()
    for i in range(4):
        notes = [Note(low + (i + k) % 5, k * 0.5, k * 0.5 + 0.4, 80) for k in range(8)]
        notes_to_midi(notes).save(folder / f"{i}.mid")
    return folder


def test_music_stats_against_a_corpus_as_table_and_json(tmp_path):
    low, high = write_pieces(tmp_path / "low", 40), write_pieces(tmp_path / "high", 80)
    table = run("stats", low, "--against", CHORALES)
    assert table.exit_code == 0, table.output
    assert "pitch_range" in table.stdout and "corpus KL" in table.stdout
    same = json.loads(run("stats", low, "--against", low, "--json").stdout)
    apart = json.loads(run("stats", low, "--against", high, "--json").stdout)
    pitch = {c["feature"]: c for c in apart["comparison"]}["mean_pitch"]
    assert pitch["mean_a"] == pytest.approx(42, abs=1) and pitch["mean_b"] == pytest.approx(
        82, abs=1)
    same_pitch = {c["feature"]: c for c in same["comparison"]}["mean_pitch"]
    assert pitch["overlap_a"] < 0.05 < 0.5 < same_pitch["overlap_a"]
    alone = run("stats", low)
    assert alone.exit_code == 0 and "4 pieces" in alone.stdout


def test_text_stats_against_a_corpus_of_lines(tmp_path):
    samples = tmp_path / "names.txt"
    known = (NAMES / "Irish.txt").read_text(encoding="utf-8").splitlines()[0]
    samples.write_text(f"{known}\nZzqxvy\n", encoding="utf-8")
    result = json.loads(run("stats", samples, "--against", NAMES, "--json").stdout)
    assert result["item_copies"] == 1 and result["unknown_words"] == ["Zzqxvy"]
    assert result["samples"]["samples"] == 2
    table = run("stats", samples, "--against", NAMES)
    assert "samples equal to a corpus item" in table.stdout


def test_stats_of_nothing_is_one_line(tmp_path):
    result = run("stats", tmp_path / "none")
    assert result.exit_code == 2 and "not found" in one_line_error(result.output)
