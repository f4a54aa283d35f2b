"""The command line: every command works, and every bad input gets one line and an exit code."""

import json
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from benchmarks.suite import HELP_IMPORTS_TORCH
from seqgen import __version__
from seqgen.cli import app
from seqgen.training.checkpoint import run_lock
from tests.conftest import one_line_error

runner = CliRunner()
TINY = ["--cell", "lstm", "--hidden", "16", "--batch-size", "4", "--seq-len", "8",
        "--steps", "6", "--eval-interval", "3", "--device", "cpu"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def fails(code, *args):
    """Run a command that must fail with ``code`` and one clean error line; return that line."""
    result = run(*args)
    assert result.exit_code == code, result.output
    return one_line_error(result.output)


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"seqgen {__version__}"


def test_help_does_not_import_torch():
    """Every installed plugin loads (they may add commands), but none of them imports torch."""
    probe = subprocess.run([sys.executable, "-c", HELP_IMPORTS_TORCH], capture_output=True,
                           text=True, check=True)
    assert "Train and sample recurrent sequence generators" in probe.stdout
    assert probe.stdout.strip().endswith("False")


def test_cells_table_shows_name_plugin_description_and_options():
    result = run("cells")
    assert result.exit_code == 0
    for text in ("vanilla", "gru", "lstm", f"seqgen {__version__}", "activation=tanh",
                 "init=default", "Elman"):
        assert text in result.stdout


def test_corpus_inspect(tiny_corpus):
    result = run("corpus", "inspect", tiny_corpus)
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "1 read: tiny.txt" in out and "296 characters" in out
    assert "266 training, 30 validation tokens" in out


def test_train_sample_eval_round_trip(tiny_corpus, tmp_path):
    run_dir = tmp_path / "run"
    result = run("train", tiny_corpus, *TINY, "--out", run_dir)
    assert result.exit_code == 0, result.output
    assert "done: step 6" in result.stdout and "validation loss" in result.stdout

    first = run("sample", run_dir, "--primer", "All", "--length", "30", "--seed", "3",
                "--temperature", "0.8", "--top-p", "0.95", "--top-k", "10")
    second = run("sample", run_dir, "--primer", "All", "--length", "30", "--seed", "3",
                 "--temperature", "0.8", "--top-p", "0.95", "--top-k", "10")
    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout
    assert first.stdout.startswith("All") and len(first.stdout.rstrip("\n")) >= 30

    out_file = tmp_path / "sample.txt"
    assert run("sample", run_dir, "--length", "20", "--out", out_file, "--seed", "1").exit_code == 0
    assert len(out_file.read_text()) > 0

    folder = tmp_path / "samples/"
    result = run("sample", run_dir, "--length", "20", "--num-samples", "3",
                 "--out", f"{folder}/", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == [f"sample-{i}.txt" for i in (1, 2, 3)]

    result = run("eval", run_dir)
    assert result.exit_code == 0, result.output
    for text in ("loss (nats/token)", "bits/character", "perplexity", " 24 "):
        assert text in result.stdout


def test_primer_from_a_file(trained_run, tmp_path):
    primer = tmp_path / "primer.txt"
    primer.write_text("Speak")
    result = run("sample", trained_run, "--primer", f"@{primer}", "--length", "5", "--seed", "1")
    assert result.exit_code == 0 and result.stdout.startswith("Speak")


def test_resume_from_the_cli(tiny_corpus, tmp_path):
    run_dir = tmp_path / "run"
    assert run("train", tiny_corpus, *TINY, "--out", run_dir).exit_code == 0
    result = run("train", "--resume", run_dir, "--steps", "9")
    assert result.exit_code == 0, result.output
    assert "done: step 9" in result.stdout


# ---- bad input: one line, exit 2 for usage and 1 for failures ----------------------------------


def test_missing_corpus(tmp_path):
    assert "corpus not found" in fails(2, "train", tmp_path / "nope", "--out", tmp_path / "r")
    assert "corpus not found" in fails(2, "corpus", "inspect", tmp_path / "nope")


def test_empty_corpus(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    assert "is empty" in fails(2, "train", tmp_path / "empty.txt", "--out", tmp_path / "r")


def test_no_corpus_and_no_resume():
    assert "give a CORPUS" in fails(2, "train")


def test_unknown_cell(tiny_corpus, tmp_path):
    line = fails(2, "train", tiny_corpus, "--cell", "transformer", "--out", tmp_path / "r")
    assert "unknown cell 'transformer'" in line and "lstm" in line


@pytest.mark.parametrize(("option", "message"), [
    ("activation", "expected key=value"),
    ("act=relu", "has no option 'act'"),
    ("activation=softmax", "activation must be one of tanh, relu, sigmoid"),
])
def test_bad_cell_option(tiny_corpus, tmp_path, option, message):
    line = fails(2, "train", tiny_corpus, "--cell", "vanilla", "--cell-opt", option,
                 "--out", tmp_path / "r")
    assert message in line


@pytest.mark.parametrize(("args", "message"), [
    (["--temperature", "0"], "--temperature must be greater than 0"),
    (["--temperature", "-0.5"], "--temperature must be greater than 0"),
    (["--top-p", "0"], "--top-p must be in (0, 1]"),
    (["--top-p", "1.01"], "--top-p must be in (0, 1]"),
    (["--top-k", "-1"], "--top-k must be 0 (off) or more"),
])
def test_bad_sampling_options(trained_run, args, message):
    assert message in fails(2, "sample", trained_run, *args)


def test_missing_checkpoint(tmp_path):
    assert "no checkpoint at" in fails(2, "sample", tmp_path / "nope")
    assert "no checkpoint at" in fails(2, "eval", tmp_path / "nope")


def test_incomplete_checkpoint(trained_run, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(trained_run / "best", broken)
    (broken / "model.safetensors").unlink()
    assert "model.safetensors is missing" in fails(1, "sample", broken)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "not a complete seqgen checkpoint" in fails(1, "sample", empty)


def test_corrupted_checkpoint(trained_run, tmp_path):
    bad_weights = tmp_path / "bad-weights"
    shutil.copytree(trained_run / "best", bad_weights)
    (bad_weights / "model.safetensors").write_bytes(b"\x00" * 64)
    assert "model.safetensors is damaged" in fails(1, "sample", bad_weights)
    bad_json = tmp_path / "bad-json"
    shutil.copytree(trained_run / "best", bad_json)
    (bad_json / "config.json").write_text("{not json")
    assert "config.json is damaged: not readable JSON" in fails(1, "sample", bad_json)


def test_checkpoint_of_a_cell_that_is_not_installed(trained_run, tmp_path):
    copy = tmp_path / "ghost"
    shutil.copytree(trained_run / "best", copy)
    config = json.loads((copy / "config.json").read_text())
    config["model"]["cell"] = "ghost"
    config["cell"].update(name="ghost", distribution="seqgen-ghost", version="1.2")
    (copy / "config.json").write_text(json.dumps(config))
    assert "pip install seqgen-ghost" in fails(1, "sample", copy)


def test_primer_with_unknown_characters(trained_run):
    line = fails(2, "sample", trained_run, "--primer", "Zebra")
    assert "'Z'" in line and "not in the model's vocabulary" in line


def test_primer_file_missing(trained_run, tmp_path):
    assert "cannot read the primer file" in fails(2, "sample", trained_run, "--primer",
                                                  f"@{tmp_path}/none.txt")


def test_cuda_asked_for_and_absent(tiny_corpus, trained_run, tmp_path):
    # cuda:99 is absent on every machine: with no GPU, and with fewer than 100
    assert "cuda:99" in fails(1, "train", tiny_corpus, *TINY, "--device", "cuda:99",
                              "--out", tmp_path / "r")
    assert "cuda:99" in fails(1, "sample", trained_run, "--device", "cuda:99")


def test_unknown_device(trained_run):
    assert "unknown device 'tpu'" in fails(2, "sample", trained_run, "--device", "tpu")


def test_second_train_into_a_folder_being_written(tiny_corpus, tmp_path):
    with run_lock(tmp_path / "run"):
        line = fails(1, "train", tiny_corpus, *TINY, "--out", tmp_path / "run")
    assert "being written by another seqgen train" in line


def test_existing_run_needs_resume_or_overwrite(tiny_corpus, trained_run):
    assert "--overwrite" in fails(2, "train", tiny_corpus, *TINY, "--out", trained_run)


def test_resume_cannot_change_the_model(trained_run):
    assert "cannot change hidden" in fails(2, "train", "--resume", trained_run, "--hidden", "64")


def test_help_shows_the_defaults():
    out = " ".join(run("train", "--help").stdout.split())
    assert "[default: lstm]" in out and "[default: 2000 unless --epochs or --time]" in out
    assert "[default: text 500; MIDI: until the model ends the piece]" in " ".join(
        run("sample", "--help").stdout.split())
