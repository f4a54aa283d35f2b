"""Whatever a user types, and whatever state a run folder is in, seqgen answers with an exit
code (0, 1, 2 or 130), never a traceback, and never leaves a half-written file.

Hypothesis drives the real CLI with generated option values (out of range, empty, huge, not
numbers, paths that are missing, files, folders or unwritable) and with damaged run folders
(truncated, emptied, random bytes, a file removed). Values that would only mean a long run
(many steps, a long sample) are kept small: the property is about answers, not endurance.
"""

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from seqgen.cli import app
from seqgen.config import TrainConfig
from seqgen.training.checkpoint import load_checkpoint
from seqgen.training.runs import train
from tests.conftest import TEXT, TINY_CONFIG

runner = CliRunner()
EXIT_CODES = {0, 1, 2, 130}
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

SMALL = st.sampled_from(["-1", "0", "1", "2", "3", "", "nan", "inf", "-inf", "1e400", "two",
                         " 2", "2.5", "-0", "0x10"])
SIZES = st.one_of(SMALL, st.sampled_from(["100000", "2000000", "5000", "99999999999999999999",
                                          "-99999999999999999999"]))
FRACTIONS = st.one_of(SMALL, st.sampled_from(["0.5", "0.999", "1", "1.0001", "1e-300", "-0.1"]))
WORDS = st.one_of(st.text(max_size=12), st.sampled_from(["", "x" * 5000, "lstm", "gru",
                                                         "text", "midi", "lines", "stem",
                                                         "a=b", "=", "bf16", "cuda", "cpu:0",
                                                         "cuda:7", "mps", "meta", "\x00"]))
PLACES = ("missing", "file", "folder", "unwritable", "new-folder/", "nested/new.png")


def place(kind: str, workspace: Path) -> str:
    """A path of a kind: one that does not exist, a file, a folder, one that cannot be
    written, or one in folders that do not exist yet."""
    if kind == "file":
        (workspace / "a-file.txt").write_text("keep")
        return str(workspace / "a-file.txt")
    if kind == "folder":
        (workspace / "a-folder").mkdir(exist_ok=True)
        return str(workspace / "a-folder")
    if kind == "unwritable":
        return "/proc/seqgen-cannot-write-here"
    return str(workspace / kind)


PATHS = st.sampled_from(PLACES)
TRAIN_OPTIONS = {
    "--cell": WORDS, "--layers": st.sampled_from(["-1", "0", "1", "2", "5000", "abc"]),
    "--hidden": SIZES, "--embedding": SIZES, "--label-size": SIZES, "--dropout": FRACTIONS,
    "--arch": WORDS, "--format": WORDS, "--items": WORDS, "--label-from": WORDS,
    "--codec-opt": WORDS, "--cell-opt": WORDS, "--transpose": SIZES, "--stretch": FRACTIONS,
    "--batch-size": SIZES, "--seq-len": SIZES, "--steps": SMALL, "--epochs": SMALL,
    "--lr": FRACTIONS, "--clip": FRACTIONS, "--precision": WORDS, "--eval-interval": SMALL,
    "--log-interval": SMALL, "--val-fraction": FRACTIONS, "--max-val-tokens": SIZES,
    "--seed": SIZES, "--device": WORDS, "--out": PATHS, "--resume": PATHS,
}
SAMPLE_OPTIONS = {
    "--primer": WORDS, "--length": st.one_of(SMALL, st.sampled_from(["3s", "0s", "-1s", "s",
                                                                      "nans", "1e9s"])),
    "--num-samples": SMALL, "--temperature": FRACTIONS, "--top-k": SIZES, "--top-p": FRACTIONS,
    "--seed": SIZES, "--device": WORDS, "--out": PATHS, "--condition": WORDS,
    "--max-length": SMALL, "--corpus": PATHS, "--soundfont": PATHS,
}
INSPECT_OPTIONS = {"--format": WORDS, "--items": WORDS, "--label-from": WORDS,
                   "--codec-opt": WORDS, "--val-fraction": FRACTIONS, "--batch-size": SIZES,
                   "--seq-len": SIZES}
MEDIA = {"show": {"--png": PATHS, "--width": SIZES, "--height": SIZES},
         "plot": {"--out": PATHS, "--width": SIZES, "--height": SIZES},
         "render": {"--out": PATHS, "--soundfont": PATHS, "--sample-rate": SIZES},
         "stats": {"--against": PATHS}}


def options(table: dict) -> st.SearchStrategy:
    """A few options of a command, each with a generated value."""
    return st.lists(st.sampled_from(sorted(table)), min_size=1, max_size=3,
                    unique=True).flatmap(lambda names: st.tuples(
                        *[st.tuples(st.just(n), table[n]) for n in names]))


def invoke(args: list[str], workspace: Path) -> None:
    """Run the CLI and check the property."""
    result = runner.invoke(app, args)
    assert result.exit_code in EXIT_CODES, (args, result.output)
    assert "Traceback" not in result.output, (args, result.output)
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), (args, repr(result.exception))
    leftovers = [p for p in workspace.rglob("*") if ".tmp-" in p.name]
    assert not leftovers, (args, leftovers)


def concrete(pairs, workspace: Path) -> list[str]:
    args = []
    for name, value in pairs:
        args += [name, place(value, workspace) if value in PLACES else value]
    return args


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny text run and a tiny MIDI run, trained once."""
    root = tmp_path_factory.mktemp("fuzz-runs")
    text = root / "tiny.txt"
    text.write_text(TEXT * 2, encoding="utf-8")
    train(text, TrainConfig(**TINY_CONFIG), root / "text-run")
    midi = root / "midi"
    midi.mkdir()
    chorales = Path(__file__).resolve().parent.parent / "corpora" / "bach-chorales"
    for path in sorted(chorales.glob("*.mid"))[:4]:
        shutil.copy(path, midi / path.name)
    train(midi, TrainConfig(**{**TINY_CONFIG, "batch_size": 2, "max_val_tokens": 200}),
          root / "midi-run")
    return {"text": text, "text-run": root / "text-run", "midi": midi,
            "midi-run": root / "midi-run"}


BASE_TRAIN = ["--hidden", "8", "--layers", "1", "--steps", "2", "--eval-interval", "2",
              "--batch-size", "2", "--seq-len", "8", "--device", "cpu", "--no-curves"]


@FUZZ
@given(corpus=st.sampled_from(["text", "midi"]), pairs=options(TRAIN_OPTIONS))
def test_train_answers_any_options(runs, corpus, pairs):
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder)
        args = ["train", str(runs[corpus]), *BASE_TRAIN, "--out", str(workspace / "run"),
                *concrete(pairs, workspace)]
        invoke(args, workspace)
        for snapshot in (workspace / "run").glob("*/config.json"):
            load_checkpoint(snapshot.parent)  # whatever was written is whole


@FUZZ
@given(run=st.sampled_from(["text-run", "midi-run"]), pairs=options(SAMPLE_OPTIONS))
def test_sample_answers_any_options(runs, run, pairs):
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder)
        invoke(["sample", str(runs[run]), "--length", "5", "--quiet",
                *concrete(pairs, workspace)], workspace)


@FUZZ
@given(corpus=st.sampled_from(["text", "midi"]), pairs=options(INSPECT_OPTIONS))
def test_corpus_inspect_answers_any_options(runs, corpus, pairs):
    with tempfile.TemporaryDirectory() as folder:
        invoke(["corpus", "inspect", str(runs[corpus]), *concrete(pairs, Path(folder))],
               Path(folder))


@FUZZ
@given(command=st.sampled_from(sorted(MEDIA)), target=st.sampled_from(["midi-file", *PLACES]),
       data=st.data())
def test_media_commands_answer_any_options(runs, command, target, data):
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder)
        path = (str(sorted(runs["midi"].glob("*.mid"))[0]) if target == "midi-file"
                else place(target, workspace))
        if command == "plot":
            path = str(runs["text-run"]) if target == "midi-file" else path
        pairs = data.draw(options(MEDIA[command]))
        out = ["--out", str(workspace / "out.png")] if command == "plot" else []
        invoke([command, path, *out, *concrete(pairs, workspace)], workspace)


DAMAGE = ("truncate", "empty", "random bytes", "remove")


def damage(file: Path, how: str, data: st.DataObject) -> None:
    if how == "remove":
        file.unlink()
    elif how == "empty":
        file.write_bytes(b"")
    elif how == "truncate":
        content = file.read_bytes()
        file.write_bytes(content[: data.draw(st.integers(0, max(0, len(content) - 1)))])
    else:
        file.write_bytes(data.draw(st.binary(min_size=1, max_size=200)))


@FUZZ
@given(run=st.sampled_from(["text-run", "midi-run"]), how=st.sampled_from(DAMAGE),
       command=st.sampled_from(["sample", "eval", "plot", "resume", "sample-last"]),
       data=st.data())
def test_a_damaged_run_folder_is_a_one_line_answer(runs, run, how, command, data):
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder)
        copy = workspace / "run"
        shutil.copytree(runs[run], copy)
        files = sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file()
                       and p.name != ".lock")
        damage(copy / data.draw(st.sampled_from(files)), how, data)
        args = {"sample": ["sample", str(copy), "--length", "5", "--quiet", "--out",
                           str(workspace / "samples/")],
                "sample-last": ["sample", str(copy / "last"), "--length", "5", "--quiet",
                                "--out", str(workspace / "samples/")],
                "eval": ["eval", str(copy), "--device", "cpu"],
                "plot": ["plot", str(copy), "--out", str(workspace / "c.png")],
                "resume": ["train", "--resume", str(copy), "--steps", "14", "--device", "cpu",
                           "--no-curves"]}[command]
        invoke(args, workspace)
