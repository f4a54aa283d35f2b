"""The edges: settings checked where they are defined, small corpora, output paths, damaged
files, non-finite losses, plugin failures, and evaluation that repeats training's validation."""

import json
import re
import shutil

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import seqgen
from seqgen.cli import app
from seqgen.config import TrainConfig
from seqgen.errors import UsageError
from seqgen.nn.cells import StepCell
from seqgen.training.evaluation import evaluate_checkpoint
from seqgen.training.runs import train
from tests.conftest import NAMES, ROOT, TINY_CONFIG, one_line_error

CHORALES = ROOT / "corpora" / "bach-chorales"
runner = CliRunner()
TINY_FLAGS = ["--hidden", "8", "--layers", "1", "--steps", "2", "--eval-interval", "2",
              "--device", "cpu", "--no-curves"]


def run(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def fails(code, *args):
    result = run(*args)
    assert result.exit_code == code, result.output
    return one_line_error(result.output)


# ---- settings, checked when they are made ----------------------------------------------------


@pytest.mark.parametrize(("setting", "message"), [
    ({"layers": 0}, "--layers must be at least 1, not 0"),
    ({"hidden": -3}, "--hidden must be at least 1, not -3"),
    ({"embedding": 0}, "--embedding must be at least 1, not 0"),
    ({"label_size": 0}, "--label-size must be at least 1, not 0"),
    ({"batch_size": 0}, "--batch-size must be at least 1, not 0"),
    ({"seq_len": 0}, "--seq-len must be at least 1, not 0"),
    ({"steps": 0}, "--steps must be at least 1, not 0"),
    ({"epochs": 0.0}, "--epochs must be a positive number"),
    ({"steps": 5, "epochs": 1.0}, "give one of --steps, --epochs and --time, not --steps and "
                                  "--epochs"),
    ({"time": 0.0}, "--time must be a positive duration, not 0.0"),
    ({"precision": "fp16"}, "unknown --precision 'fp16'; use auto, fp32, bf16"),
    ({"transpose": -1}, "--transpose must be at least 0, not -1"),
    ({"transpose": 200}, "--transpose must be at most 127, not 200"),
    ({"layers": 1001}, "--layers must be at most 1000, not 1001"),
    ({"hidden": 2**21}, "--hidden must be at most 1048576, not 2097152"),
    ({"stretch": 2.0}, r"--stretch must be at least 0 and below 1, not 2.0"),
    ({"dropout": 1.0}, r"--dropout must be at least 0 and below 1, not 1.0"),
    ({"val_fraction": 1.0}, "--val-fraction must be between 0 and 1, not 1.0"),
    ({"max_val_tokens": 0}, "--max-val-tokens must be at least 1, not 0"),
    ({"lr": float("nan")}, "--lr must be a positive number, not nan"),
    ({"clip": -1.0}, r"--clip must be at least 0, not -1.0"),
    ({"seed": -1}, "--seed must be from 0 to 4294967295, not -1"),
    ({"arch": "two-to-one"},
     "unknown --arch 'two-to-one'; available: encoder-decoder, many-to-many, many-to-one"),
    ({"items": "words"}, "unknown --items 'words'; use lines, files, stream"),
])
def test_a_bad_setting_is_refused_where_it_is_defined(setting, message):
    with pytest.raises(UsageError, match=message):
        TrainConfig(**setting)


@pytest.mark.parametrize(("args", "message"), [
    (["--seq-len", "0"], "--seq-len must be at least 1, not 0"),
    (["--batch-size", "0"], "--batch-size must be at least 1, not 0"),
    (["--val-fraction", "0"], "--val-fraction must be between 0 and 1"),
])
def test_corpus_inspect_checks_its_settings_as_training_does(args, message):
    assert message in fails(2, "corpus", "inspect", ROOT / "corpora" / "names", *args)


# ---- small corpora with the default flags ----------------------------------------------------


@pytest.fixture
def twenty_chorales(tmp_path):
    folder = tmp_path / "chorales"
    folder.mkdir()
    for path in sorted(CHORALES.glob("*.mid"))[:20]:
        shutil.copy(path, folder / path.name)
    return folder


def test_twenty_midi_files_train_with_the_default_batch_fitted_and_said(twenty_chorales,
                                                                         tmp_path):
    result = run("train", twenty_chorales, *TINY_FLAGS, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    rows = re.search(r"note: (\d+) rows per batch, not 64: the training split has (\d+) items",
                     result.output)
    assert rows and rows[1] == rows[2], result.output
    config = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert config["training"]["batch_size"] == int(rows[1])


def test_thirty_names_train_with_the_default_flags(tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("\n".join((NAMES / "Russian.txt").read_text().split("\n")[:30]) + "\n")
    result = run("train", names, "--items", "lines", *TINY_FLAGS, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert "note: 27 rows per batch, not 64: the training split has 27 items" in result.output


def test_an_explicit_batch_too_large_for_the_items_is_an_error(twenty_chorales, tmp_path):
    message = fails(2, "train", twenty_chorales, *TINY_FLAGS, "--batch-size", "64")
    assert "--batch-size 64 is too large: the training split has 18 items" in message


def test_a_short_text_fits_rows_then_chunks_and_an_explicit_seq_len_must_fit(tmp_path):
    text = tmp_path / "short.txt"
    text.write_text("To be, or not to be, that is the question.\n" * 20)   # 860 characters
    flags = [*TINY_FLAGS, "--items", "stream"]
    result = run("train", text, *flags, "--out", tmp_path / "a")
    assert result.exit_code == 0, result.output
    assert "note: 6 rows per batch, not 64: the training split has 774 tokens" in result.output
    result = run("train", text, *flags, "--batch-size", "32", "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert "note: chunks of 23 tokens: a row of the training split" in result.output
    message = fails(2, "train", text, *flags, "--seq-len", "1000")
    assert "--seq-len 1000 is longer than the training split (774 tokens)" in message
    message = fails(2, "train", text, *flags, "--batch-size", "32", "--seq-len", "100")
    assert "--seq-len 100 is longer than a row: 32 rows of the training split's 774" in message


def test_a_corpus_too_small_for_one_row_says_how_small(tmp_path):
    text = tmp_path / "one.txt"
    text.write_text("ab")
    message = fails(2, "train", text, *TINY_FLAGS)
    assert "the training split has 1 token(s); training needs at least 2" in message


# ---- output paths, checked before any work ---------------------------------------------------


def test_output_paths_are_checked_before_any_work(tiny_corpus, trained_run, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    assert "--out" in fails(2, "train", tiny_corpus, *TINY_FLAGS, "--out", afile)
    assert afile.read_text() == "keep me"
    assert "cannot write in /proc" in fails(2, "sample", trained_run, "--out", "/proc/nope.txt")
    assert "is a folder; give a file name" in fails(2, "plot", trained_run, "-o", tmp_path)


def test_pictures_go_into_new_folders(trained_run, tmp_path):
    target = tmp_path / "new" / "deeper" / "curves.png"
    result = run("plot", trained_run, "-o", target)
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(b"\x89PNG")


# ---- damaged run folders ---------------------------------------------------------------------


def test_a_trainer_record_missing_a_key_is_a_damaged_file(trained_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    (run_dir / "last" / "trainer.json").write_text("{}")
    message = fails(1, "train", "--resume", run_dir, "--steps", "20")
    assert re.search(r"last/trainer.json is damaged: it has no '\w+'", message)


def test_a_config_that_is_not_json_is_a_damaged_file(trained_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    (run_dir / "best" / "config.json").write_text("not json")
    message = fails(1, "sample", run_dir, "--length", "5")
    assert "best/config.json is damaged: not readable JSON" in message


def test_a_damaged_optimizer_state_is_named(trained_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    trainer = json.loads((run_dir / "last" / "trainer.json").read_text())
    (run_dir / "last" / "trainer.json").write_text(json.dumps({**trainer, "param_groups": []}))
    message = fails(1, "train", "--resume", run_dir, "--steps", "20")
    assert "last is damaged: cannot resume from it" in message


# ---- sampling --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chorale_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chorales")
    for path in sorted(CHORALES.glob("*.mid"))[:6]:
        shutil.copy(path, folder / path.name)
    train(folder, TrainConfig(cell="gru", layers=1, hidden=16, batch_size=3, seq_len=16,
                              steps=4, eval_interval=4, device="cpu", curves=False,
                              max_val_tokens=300), folder / "run")
    return folder / "run"


def test_sampling_settings_no_user_wants_are_errors(chorale_run, trained_run):
    assert "bad --length '0'" in fails(2, "sample", chorale_run, "--length", "0")
    assert "--max-length must be at least 1" in fails(2, "sample", chorale_run,
                                                      "--max-length", "0")
    assert "--max-length is for models of items" in fails(2, "sample", trained_run,
                                                          "--max-length", "5")
    assert "--seed must be from 0" in fails(2, "sample", trained_run, "--seed", "-2")


def test_a_piece_without_notes_is_shown_as_such(chorale_run, tmp_path, monkeypatch):
    from seqgen.training import checkpoint

    loaded = checkpoint.load_checkpoint

    def ending_at_once(*args, **kwargs):
        ckpt = loaded(*args, **kwargs)
        with torch.no_grad():  # a time shift, then the end: a piece without a note
            ckpt.model.head.bias.fill_(-100.0)
            ckpt.model.head.bias[[ckpt.codec.EOS, ckpt.codec.size - 1]] = 100.0
        return ckpt

    monkeypatch.setattr(checkpoint, "load_checkpoint", ending_at_once)
    result = run("sample", chorale_run, "--out", tmp_path / "out.mid", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "no notes" in result.output and (tmp_path / "out.mid").is_file()


# ---- a loss that is no longer a number -------------------------------------------------------


def test_a_non_finite_loss_stops_training_and_keeps_the_good_snapshot(tiny_corpus, tmp_path):
    run_dir = tmp_path / "run"
    result = run("train", tiny_corpus, "--hidden", "16", "--batch-size", "4", "--seq-len", "8",
                 "--steps", "60", "--eval-interval", "2", "--log-interval", "1", "--clip", "0",
                 "--lr", "1e6", "--device", "cpu", "--out", run_dir)
    assert result.exit_code == 1, result.output
    message = one_line_error(result.output)
    step = int(re.search(r"the loss became NaN or infinite (at|by) step (\d+)", message)[2])
    for snapshot in ("best", "last"):
        if (run_dir / snapshot).exists():
            saved = json.loads((run_dir / snapshot / "trainer.json").read_text())["step"]
            assert saved < step
            weights = load_file(run_dir / snapshot / "model.safetensors")
            assert all(torch.isfinite(w).all() for w in weights.values())
    if (run_dir / "last").exists():
        assert f"the last good snapshot is {run_dir}/last" in message
    else:
        assert "no snapshot was saved" in message


# ---- evaluation repeats what training validated ----------------------------------------------


def names_corpus(tmp_path):
    folder = tmp_path / "names"
    folder.mkdir()
    for language in ("Irish", "Japanese", "Czech"):
        shutil.copy(NAMES / f"{language}.txt", folder / f"{language}.txt")
    return folder


@pytest.mark.parametrize("kind", ["stream", "items", "midi"])
def test_eval_repeats_the_validation_loss_of_training(kind, tiny_corpus, tmp_path):
    corpus, extra = {
        "stream": (tiny_corpus, dict(max_val_tokens=20)),
        "items": (names_corpus(tmp_path), dict(items="lines", label_from="stem",
                                                max_val_tokens=150)),
        "midi": (CHORALES / "riemenschneider001.mid", {}),
    }[kind]
    if kind == "midi":
        corpus = tmp_path / "midi"
        corpus.mkdir()
        for path in sorted(CHORALES.glob("*.mid"))[:10]:
            shutil.copy(path, corpus / path.name)
        extra = dict(max_val_tokens=400)
    config = TrainConfig(**{**TINY_CONFIG, **extra, "val_fraction": 0.2, "steps": 6,
                            "eval_interval": 3})
    train(corpus, config, tmp_path / "run")
    recorded = json.loads((tmp_path / "run" / "best" / "trainer.json").read_text())
    result = evaluate_checkpoint(tmp_path / "run", device="cpu")
    assert result.loss == pytest.approx(recorded["val_loss"], abs=1e-6)
    uncapped = replace_training(tmp_path / "run", max_val_tokens=1_000_000)
    assert evaluate_checkpoint(uncapped, device="cpu").tokens > result.tokens  # the cap counts


def replace_training(run_dir, **changes):
    """A copy of a run's best snapshot with other training settings recorded."""
    copy = run_dir.parent / "changed"
    shutil.copytree(run_dir / "best", copy)
    config = json.loads((copy / "config.json").read_text())
    config["training"].update(changes)
    (copy / "config.json").write_text(json.dumps(config))
    return copy


# ---- a plugin's bug is the plugin's ----------------------------------------------------------


class Buggy(StepCell):
    """Fails inside its own code once it sees a training batch (not at the shape check)."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.linear = torch.nn.Linear(input_size + hidden_size, hidden_size)

    def init_state(self, batch_size, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def step(self, x, state):
        if x.size(0) > 3:
            raise TypeError("unsupported operand for the buggy cell")
        h = torch.tanh(self.linear(torch.cat([x, state], 1)))
        return h, h


class BuggyPlugin:
    @staticmethod
    @seqgen.hookimpl
    def register_cells(register):
        register("buggy", Buggy)


def test_a_bug_in_a_plugin_cell_names_the_plugin_and_debug_shows_the_traceback(
        register_plugin, tiny_corpus, tmp_path):
    register_plugin(BuggyPlugin, "buggy-plugin")
    args = ["train", tiny_corpus, "--cell", "buggy", *TINY_FLAGS, "--batch-size", "4"]
    result = run(*args, "--out", tmp_path / "a")
    assert result.exit_code == 1, result.output
    message = one_line_error(result.output)
    assert message.startswith("error: the plugin buggy-plugin unknown failed: TypeError: "
                              "unsupported operand for the buggy cell")
    assert "SEQGEN_DEBUG=1" in message
    debug = run(*args, "--out", tmp_path / "b", env={"SEQGEN_DEBUG": "1"})
    assert debug.exit_code == 1
    assert "Traceback" in debug.output and "in step" in debug.output
