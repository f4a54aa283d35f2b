"""The traps a new user meets in the first hour: each stops with one line that says what the
input looks like and what to do, or shows what is there instead of a misleading figure."""

import json
import math
import random
import re
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from seqgen import plugins
from seqgen.cli import app
from seqgen.config import TrainConfig
from seqgen.data.codecs.base import codecs
from seqgen.data.codecs.midi import notes_to_midi
from seqgen.data.corpus import load_corpus
from seqgen.data.notes import Note
from seqgen.errors import UsageError
from seqgen.media.music_stats import compare_music, pieces_stats
from seqgen.media.plots import read_curves
from seqgen.training.checkpoint import BUNDLED, is_bundled, load_checkpoint
from seqgen.training.runs import check_run_dir, resume, train
from tests.conftest import NAMES, ROOT, TEXT, TINY_CONFIG, one_line_error

runner = CliRunner()
TINY = ["--cell", "lstm", "--hidden", "16", "--batch-size", "4", "--seq-len", "8",
        "--steps", "6", "--eval-interval", "3", "--device", "cpu", "--no-curves"]


def fails(code: int, *args) -> str:
    """Run a command that must fail with ``code`` and one clean error line; return that line."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return one_line_error(result.output)


# ---- 1. a bundled model is never offered for destruction; --resume only where it works ----


@pytest.fixture
def bundled(trained_run, tmp_path) -> Path:
    """A copy of a run (with a resumable last/) marked as a bundled model."""
    folder = tmp_path / "bundled"
    shutil.copytree(trained_run, folder)
    (folder / BUNDLED).write_text("bundled\n")
    return folder


def test_every_model_under_checkpoints_is_marked_bundled():
    """The folders the repository keeps (those .gitignore lets in), not a user's own runs."""
    kept = re.findall(r"^!/checkpoints/([^/]+)/$", (ROOT / ".gitignore").read_text(), re.M)
    assert len(kept) >= 6 and all(is_bundled(ROOT / "checkpoints" / name) for name in kept)


def test_a_bundled_model_folder_suggests_another_out(monkeypatch):
    monkeypatch.chdir(ROOT)
    line = fails(2, "train", "corpora/names", "--arch", "one-to-many", "--out", "checkpoints/names")
    assert "checkpoints/names holds a model bundled with seqgen" in line
    assert line.endswith("--out checkpoints/names-2")
    assert "--overwrite" not in line and "--resume" not in line


def test_a_bundled_folder_is_neither_replaced_nor_resumed(tiny_corpus, bundled):
    before = sorted(p.relative_to(bundled) for p in bundled.rglob("*"))
    line = fails(2, "train", tiny_corpus, *TINY, "--out", bundled)
    assert "--overwrite" not in line and "--resume" not in line
    assert line.endswith(f"--out {bundled}-2")
    line = fails(2, "train", tiny_corpus, *TINY, "--out", bundled, "--overwrite")
    assert line.startswith(f"error: --overwrite would destroy {bundled}, a model bundled")
    assert sorted(p.relative_to(bundled) for p in bundled.rglob("*")) == before


def test_resume_is_suggested_for_the_same_run_only(trained_run, tmp_path):
    corpus = trained_run.parent / "tiny.txt"  # the run's own corpus
    with pytest.raises(UsageError, match=r"already holds a training run: continue it with "
                                         r"--resume .*, replace it with --overwrite"):
        check_run_dir(trained_run, False, TrainConfig(**TINY_CONFIG), corpus)
    other = tmp_path / "other.txt"
    other.write_text(TEXT, encoding="utf-8")
    changed = TrainConfig(**{**TINY_CONFIG, "hidden": 32})
    for config, text in ((TrainConfig(**TINY_CONFIG), other), (changed, corpus)):
        with pytest.raises(UsageError, match="already holds") as refused:
            check_run_dir(trained_run, False, config, text)
        assert "--resume" not in str(refused.value) and "--overwrite" in str(refused.value)


def test_resume_is_not_suggested_without_a_resumable_snapshot(tiny_corpus, trained_run,
                                                              tmp_path):
    sampled_only = tmp_path / "best-only"
    shutil.copytree(trained_run / "best", sampled_only / "best")
    line = fails(2, "train", tiny_corpus, *TINY, "--out", sampled_only)
    assert "already holds a training run" in line and "--resume" not in line


# ---- 2. and 4. a file read as text must look like text, and not like pairs ---------------------


def test_a_file_of_pairs_without_arch_says_what_it_looks_like(tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"{n}\tnumber {n}\n" for n in range(40)), encoding="utf-8")
    line = fails(2, "train", pairs, "--out", tmp_path / "run")
    assert "looks like pairs (100% of its lines are source<TAB>target)" in line
    assert "--arch encoder-decoder" in line and "--format char" in line
    assert not (tmp_path / "run").exists()
    assert len(load_corpus(pairs, "char").codec.vocab) > 10  # as characters when asked


def test_text_with_a_few_tabs_is_text(tmp_path):
    text = tmp_path / "some.txt"
    text.write_text("a\tb\nno tab here\nc\td\nnor here\n", encoding="utf-8")
    assert load_corpus(text).format == "char"


def test_a_binary_file_does_not_train_as_text(tmp_path):
    rng = random.Random(0)
    program = tmp_path / "program"
    program.write_bytes(b"\x7fELF\x02\x01" + bytes(rng.randrange(256) for _ in range(4000)))
    line = fails(2, "train", program, "--out", tmp_path / "run")
    assert re.search(r"program does not look like text: \d+% of its first 4,006 bytes", line)
    assert "--format char" in line and not (tmp_path / "run").exists()
    with pytest.warns(UserWarning, match="invalid UTF-8 byte sequences were replaced"):
        assert load_corpus(program, "char").format == "char"  # asked for: read anyway


def test_text_with_a_few_undecodable_bytes_is_text(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes(("Le caf\xe9 est pr\xeat. " * 50).encode("latin-1"))
    with pytest.warns(UserWarning, match="100 invalid UTF-8 byte sequences were replaced"):
        assert load_corpus(latin).format == "char"


# ---- 3. --label-from folder needs sub-folders ---------------------------------------------------


def test_label_from_folder_on_a_flat_folder_says_how_to_lay_it_out(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for language in ("Dutch", "Greek"):
        shutil.copy(NAMES / f"{language}.txt", flat)
    line = fails(2, "train", flat, "--arch", "one-to-many", "--label-from", "folder",
                 "--out", tmp_path / "run")
    assert "every file of" in line and "one label, which conditions nothing" in line
    assert f"{flat}/LABEL/FILE" in line and not (tmp_path / "run").exists()
    nested = tmp_path / "nested"
    for language in ("Dutch", "Greek"):
        (nested / language).mkdir(parents=True)
        shutil.copy(NAMES / f"{language}.txt", nested / language)
    assert load_corpus(nested, label_from="folder").label_names == ("Dutch", "Greek")


# ---- 5. the formats --format takes come from the registry -------------------------------------


@pytest.fixture
def without_abc():
    """The seqgen-abc plugin as if it were not installed, for one test."""
    plugins.load_entry_point_plugins()
    plugin = plugins.pm.unregister(name="abc")
    if plugin is None:
        pytest.skip("the example plugin seqgen-abc is not loaded")
    yield
    plugins.pm.register(plugin, name="abc")


def help_text(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.replace("│", " ").split())


def formats_in_help(*command: str) -> list[str]:
    """The formats that a command's --format help lists."""
    return re.search(r"Corpus format: (.*?)[.;] ", help_text(*command)).group(1).split(", ")


@pytest.mark.parametrize("command", [("train",), ("corpus", "inspect")])
def test_format_help_lists_the_registered_codecs(command):
    """The built-ins, then each installed plugin's codec with its package."""
    listed = formats_in_help(*command)
    assert listed[:5] == ["char", "bpe", "words", "midi", "parts"]
    plugins = {f"{name} ({spec.distribution})" for name, spec in codecs().items()
               if spec.distribution != "seqgen"}
    assert set(listed[5:]) == plugins


def test_format_help_leaves_out_a_plugin_not_installed(without_abc):
    listed = formats_in_help("train")
    assert listed[:5] == ["char", "bpe", "words", "midi", "parts"]
    assert not any(name.startswith("abc") for name in listed)


# ---- 6. files an example plugin reads name the plugin to install --------------------------------


def test_files_only_a_missing_example_plugin_reads_name_it(tmp_path, without_abc, monkeypatch):
    tunes = tmp_path / "tunes"
    tunes.mkdir()
    for tune in sorted((ROOT / "corpora" / "abc-tunes").glob("*.abc"))[:3]:
        shutil.copy(tune, tunes)
    monkeypatch.chdir(ROOT)
    line = fails(2, "train", tunes, "--out", tmp_path / "run")
    assert line.endswith("its .abc files are read by the example plugin seqgen-abc, which is "
                         "not installed: pip install -e plugins/seqgen-abc")
    monkeypatch.chdir(tmp_path)
    line = fails(2, "train", tunes, "--out", tmp_path / "run")
    assert line.endswith(f"pip install -e {ROOT / 'plugins' / 'seqgen-abc'}")


BUILT_IN_SUFFIXES = {suffix for spec in codecs().values() if spec.distribution == "seqgen"
                     for suffix in spec.cls.suffixes}


def test_example_plugins_declare_the_suffixes_their_codecs_read():
    checked = 0
    for pyproject in (ROOT / "plugins").glob("*/pyproject.toml"):
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        specs = [spec for spec in codecs().values()
                 if spec.distribution == project["project"]["name"]]
        if not specs:  # not installed, or not loaded (SEQGEN_LOAD_PLUGINS)
            continue
        registered = {suffix for spec in specs for suffix in spec.cls.suffixes}
        declared = set(project.get("tool", {}).get("seqgen", {}).get("suffixes", []))
        # a suffix a built-in codec reads is the built-in's: a plugin declares only its own
        assert declared == registered - BUILT_IN_SUFFIXES, pyproject
        checked += bool(declared)
    if not checked:
        pytest.skip("no example plugin that declares suffixes is loaded")


# ---- 7. stats: "-" and why, where there is nothing to measure ---------------------------------


def piece(rng: np.random.Generator, velocity: int | None) -> list[Note]:
    """Twelve notes in turn; each at ``velocity``, or a random one when None."""
    return [Note(int(rng.integers(60, 68)), i * 0.5, i * 0.5 + 0.5,
                 velocity or int(rng.integers(40, 120))) for i in range(12)]


def test_a_feature_without_spread_has_no_overlap_or_kl():
    rng = np.random.default_rng(0)
    varied = pieces_stats([piece(rng, None) for _ in range(8)])
    fixed = pieces_stats([piece(rng, 80) for _ in range(8)])
    velocity = {c.feature: c for c in compare_music(varied, fixed)}["velocity"]
    assert velocity.overlap_a > 0 and velocity.unmeasured_a == ""
    assert math.isnan(velocity.overlap_b) and math.isnan(velocity.kl_b)
    assert velocity.unmeasured_b == "no spread (every piece has the same value)"
    assert json.loads(json.dumps(velocity.to_json()))["kl_b"] is None
    alike = {c.feature: c for c in compare_music(fixed, fixed)}["velocity"]
    assert (alike.overlap_a, alike.kl_a) == (1.0, 0.0)  # one value in both: they agree


def test_stats_print_a_dash_and_the_reason(tmp_path):
    rng = np.random.default_rng(1)
    for name, velocity in (("samples", None), ("corpus", 80)):
        (tmp_path / name).mkdir()
        for i in range(5):
            notes_to_midi(piece(rng, velocity)).save(tmp_path / name / f"{i}.mid")
    result = runner.invoke(app, ["stats", str(tmp_path / "samples"), "--against",
                                 str(tmp_path / "corpus")])
    assert result.exit_code == 0, result.output
    velocity = next(line for line in result.stdout.splitlines() if "│ velocity" in line)
    oa, kl, corpus_oa, corpus_kl = (cell.strip() for cell in velocity.split("│")[-5:-1])
    assert (corpus_oa, corpus_kl) == ("-", "-") and float(oa) > 0 and float(kl) >= 0
    out = " ".join(result.stdout.split())
    assert re.search(r"the corpus's OA and KL are - for [a-z_, ]*velocity[a-z_, ]*: no spread "
                     r"\(every piece has the same value\)", out)


def test_text_stats_print_a_dash_and_the_reason_not_nan(tmp_path):
    samples = tmp_path / "names.txt"
    samples.write_text("Nakamura\nSmith\nDubois\n", encoding="utf-8")
    result = runner.invoke(app, ["stats", str(samples), "--against", str(NAMES)])
    assert result.exit_code == 0, result.output
    assert "nan" not in result.stdout
    assert "word 2-grams found in the corpus │ - (no sample has 2 words in a row)" in \
        re.sub(r" +", " ", result.stdout)


# ---- 8. curves count the tokens trained, not steps x batch x seq-len --------------------------


def items_corpus(folder: Path) -> Path:
    """Short lines, each an item, shorter than a chunk: most of a batch is padding."""
    path = folder / "words.txt"
    path.write_text("".join(f"{word}\n" for word in TEXT.split() * 4), encoding="utf-8")
    return path


def test_curves_count_the_tokens_trained(tmp_path):
    config = TrainConfig(**{**TINY_CONFIG, "seq_len": 32})
    train(items_corpus(tmp_path), config, tmp_path / "run")
    curves = read_curves(tmp_path / "run")
    padded = curves.train_steps * config.batch_size * config.seq_len
    assert (np.diff(curves.train_tokens) > 0).all() and (curves.train_tokens < padded / 2).all()
    assert set(curves.val_tokens) <= set(curves.train_tokens)


def test_a_resumed_run_counts_on_from_its_snapshot(tmp_path):
    corpus = items_corpus(tmp_path)
    config = TrainConfig(**{**TINY_CONFIG, "seq_len": 32})
    train(corpus, config, tmp_path / "whole")
    train(corpus, TrainConfig(**{**TINY_CONFIG, "seq_len": 32, "steps": 5}), tmp_path / "cut")
    resume(tmp_path / "cut", {"steps": 12})
    whole, cut = read_curves(tmp_path / "whole"), read_curves(tmp_path / "cut")
    assert cut.train_tokens[-1] == whole.train_tokens[-1] > 0


# ---- 9. each mistake is caught before any work, in one line that says what to do ---------------


def chorale_copy(tmp_path: Path) -> Path:
    return Path(shutil.copy(ROOT / "corpora/bach-chorales/riemenschneider001.mid", tmp_path))


def test_show_png_colours_several_tracks_by_track(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread
    from rich.color import Color

    from seqgen.media.pianoroll import roll_notes, track_colour

    chorale = chorale_copy(tmp_path)
    assert [name for name, _ in roll_notes(chorale)] == ["Soprano", "Alto", "Tenor", "Bass"]
    single = tmp_path / "one.mid"
    notes_to_midi([Note(60 + i, i * 0.5, i * 0.5 + 0.4, 30 + 20 * i) for i in range(4)]).save(
        single)
    assert all(isinstance(n, Note) for n in roll_notes(single))  # one track: by velocity
    result = runner.invoke(app, ["show", str(chorale), "--png", str(tmp_path / "roll.png")])
    assert result.exit_code == 0, result.output
    pixels = (imread(tmp_path / "roll.png")[..., :3] * 255).round().astype(int)
    drawn = {tuple(p) for p in pixels.reshape(-1, 3).tolist()}
    assert {Color.parse(track_colour(i)).get_truecolor() for i in range(4)} <= drawn


def test_show_refuses_a_folder_a_bad_size_and_a_name_not_png_before_drawing(tmp_path):
    chorale = chorale_copy(tmp_path)
    line = fails(2, "show", tmp_path)
    assert line == f"error: {tmp_path} is a folder: give a .mid file in it (such as {chorale})"
    for args, said in ((["--png", tmp_path / "roll.jpg"], "--png {}: seqgen draws PNG "
                        "pictures; give a name ending .png"),
                       (["--png", tmp_path / "roll.png", "--width", "10"],
                        "a picture must be 200 to 16,000 pixels wide and high, not 10x600")):
        result = runner.invoke(app, ["show", str(chorale), *map(str, args)])
        assert result.exit_code == 2
        assert one_line_error(result.output) == "error: " + said.format(args[1])
        assert "Soprano" not in result.output  # the roll was not shown first
    assert sorted(p.name for p in tmp_path.iterdir()) == [chorale.name]
    line = fails(2, "plot", ROOT / "checkpoints/bach", "--out", tmp_path / "curves.jpg")
    assert "give a name ending .png" in line


def test_several_inputs_each_get_their_outputs_in_order(monkeypatch):
    from tests.conftest import NUMBERS_MODEL

    def outputs(*inputs):
        args = [a for text in inputs for a in ("--input", text)]
        result = runner.invoke(app, ["sample", str(NUMBERS_MODEL), *args, "--beam", "2",
                                     "--device", "cpu"])
        assert result.exit_code == 0, result.output
        return result.stdout.splitlines()

    alone = outputs("en 21") + outputs("fr 1987")
    assert len(alone) == 2 and outputs("en 21", "fr 1987") == alone
    assert outputs("fr 1987", "en 21") == alone[::-1]


def test_a_folder_of_pairs_without_arch_says_it_holds_pairs(tmp_path):
    folder = tmp_path / "numbers"
    folder.mkdir()
    (folder / "pairs.tsv").write_text("".join(f"en {n}\tnumber {n}\n" for n in range(40)),
                                      encoding="utf-8")
    (folder / "SOURCE.md").write_text("where they came from\n", encoding="utf-8")
    line = fails(2, "train", folder, "--out", tmp_path / "run")
    assert "no .txt, .mid, .midi" in line
    assert f"files in {folder}; it holds pairs (pairs.tsv: lines of a source and its target)" \
        in line and line.endswith("train an encoder-decoder on them with --arch encoder-decoder")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("cell", "listed"), [("lstm", "none"), ("gru", "none"),
                                              ("vanilla", "activation=tanh, init=default")])
def test_an_unknown_cell_option_lists_the_cells_options(tmp_path, monkeypatch, cell, listed):
    import seqgen.training.runs

    monkeypatch.setattr(seqgen.training.runs, "load_run_corpus", None)  # no work may start
    line = fails(2, "train", NAMES, "--cell", cell, "--cell-opt", "foo=1",
                 "--out", tmp_path / "run")
    assert line == f"error: cell '{cell}' has no option 'foo'; its options: {listed}"


@pytest.mark.parametrize(("args", "message"), [
    (["--attention", "dot"], "--attention is for --arch encoder-decoder, not many-to-many: "
                             "drop it"),
    (["--bidirectional"], "--bidirectional is for --arch encoder-decoder or many-to-one, not "
                          "many-to-many"),
    (["--no-bidirectional"], "--no-bidirectional is for --arch encoder-decoder or many-to-one"),
    (["--attention", "general"], "--attention is for --arch encoder-decoder"),  # given: counts
    (["--arch", "many-to-one", "--attention", "dot", "--no-input-feeding", "--encoder-hidden",
      "8"], "--encoder-hidden, --attention and --no-input-feeding are for --arch "
            "encoder-decoder, not many-to-one: drop them"),
    (["--pool", "mean", "--shared-vocab"], "--shared-vocab is for --arch encoder-decoder; "
                                           "--pool is for --arch many-to-one, not many-to-many"),
])
def test_a_setting_of_another_architecture_is_refused(tmp_path, args, message):
    line = fails(2, "train", NAMES, *args, "--out", tmp_path / "run")
    assert message in line
    assert not (tmp_path / "run").exists()


def test_only_settings_away_from_their_defaults_count_in_the_library():
    TrainConfig(arch="many-to-one", bidirectional=False)  # it takes that
    TrainConfig(arch="many-to-many", bidirectional=True, attention="general")  # defaults
    with pytest.raises(UsageError, match="^--no-bidirectional is for --arch encoder-decoder "
                                         "or many-to-one, not one-to-many: drop it$"):
        TrainConfig(arch="one-to-many", bidirectional=False)


def test_resuming_a_folder_with_no_snapshot_says_to_start_again(tmp_path):
    (tmp_path / "empty").mkdir()
    line = fails(2, "train", "--resume", tmp_path / "empty")
    assert line == (f"error: --resume {tmp_path / 'empty'}: it holds no snapshot (no best/ or "
                    "last/ with a config.json), so there is nothing to resume: start a new run "
                    f"with seqgen train CORPUS --out {tmp_path / 'empty'}")


@pytest.mark.parametrize("model", ["names", "names-classifier"])
def test_eval_on_a_corpus_without_labels_says_how_to_lay_it_out(tmp_path, model):
    for name in ("English", "French"):
        shutil.copy(NAMES / f"{name}.txt", tmp_path)
    line = fails(2, "eval", ROOT / "checkpoints" / model, "--corpus", tmp_path,
                 "--device", "cpu")
    assert "(18 labels: Arabic, Chinese, Czech, ...)" in line
    assert line.endswith(f"and the corpus {tmp_path} has no labels: give a folder laid out as "
                         'the training corpus was, its own seqgen.json declaring {"label_from": '
                         '"stem"}, as corpora/names/seqgen.json does')
    assert "--condition" not in line and "--label-from" not in line
    (tmp_path / "seqgen.json").write_text('{"items": "lines", "label_from": "stem"}')
    ckpt = load_checkpoint(ROOT / "checkpoints" / model, "cpu")
    ckpt.check_labelled(tmp_path, None)  # laid out as the training corpus: read
    ckpt.check_labelled(tmp_path / "English.txt", "stem")  # labels given: read


def test_eval_checks_its_numbers_before_evaluating(monkeypatch):
    import seqgen.training.evaluation

    monkeypatch.setattr(seqgen.training.evaluation, "evaluate_checkpoint", None)
    line = fails(2, "eval", ROOT / "checkpoints/names", "--judge",
                 ROOT / "checkpoints/names-classifier", "--num-samples", "0")
    assert line == "error: --num-samples must be at least 1, not 0"


def test_a_split_of_too_few_items_is_counted_in_good_english():
    import torch

    from seqgen.data.splits import split_items

    with pytest.raises(UsageError, match="^1 item cannot be split into training and "
                                         "validation; the corpus needs at least 2 items$"):
        split_items(1, None, 0.1)
    with pytest.raises(UsageError, match="^3 items of 3 labels cannot be split .* a label "
                                         "needs at least 2 items$"):
        split_items(3, torch.tensor([0, 1, 2]), 0.1)


def test_the_judge_tells_its_progress_label_by_label():
    from seqgen.tasks.judge import judge

    told = []
    pair = (load_checkpoint(ROOT / "checkpoints/names", "cpu"),
            load_checkpoint(ROOT / "checkpoints/names-classifier", "cpu"))
    judge(*pair, num_samples=2, progress=lambda *args: told.append(args))
    assert told == [(2 * i, 36, "writing 2 items per label") for i in range(1, 19)]


@pytest.mark.parametrize("kind", ["OutOfMemoryError", "cuda.OutOfMemoryError"])
def test_out_of_gpu_memory_is_one_line_with_a_fix(monkeypatch, kind):
    import torch

    import seqgen.training.evaluation

    error = torch.OutOfMemoryError if kind == "OutOfMemoryError" else \
        torch.cuda.OutOfMemoryError

    def full(*args, **kwargs):
        raise error("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
                    "capacity of 79.15 GiB of which 1.06 GiB is free. Including non-PyTorch "
                    "memory, this process has 78.08 GiB memory in use.\nmore")

    monkeypatch.setattr(seqgen.training.evaluation, "evaluate_checkpoint", full)
    line = fails(1, "eval", ROOT / "checkpoints/names")
    assert line == ("error: the GPU ran out of memory (CUDA out of memory. Tried to allocate "
                    "2.00 GiB): use less, with a smaller --batch-size, --hidden or --seq-len "
                    "(to sample: fewer --num-samples, a smaller --beam)")


def test_more_processes_than_gpus_is_refused_before_launching(monkeypatch, tiny_corpus,
                                                               tmp_path):
    import torch

    import seqgen.training.distributed as distributed

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("RANK", raising=False)
    line = fails(2, "train", tiny_corpus, "--nproc", "3", "--out", tmp_path / "run")
    assert line == ("error: --nproc 3 trains on 3 GPUs, one per process, and this machine has "
                    "2: give --nproc 2 or fewer, or --device cpu to train in processes on the "
                    "CPU")
    distributed.check_nproc(3, "cpu")  # processes on the CPU: as many as asked
    distributed.check_nproc(2, "cuda")
    assert not (tmp_path / "run").exists()
