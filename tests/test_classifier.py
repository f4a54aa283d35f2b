"""Many-to-one: a classifier trained, evaluated, asked to classify, and judging generators."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import one_line_error
from typer.testing import CliRunner

from seqgen.cli import app
from seqgen.config import ModelConfig
from seqgen.nn.build import build_model
from seqgen.tasks.many_to_one import Confusion

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
NAMES = ROOT / "corpora" / "names"
CHORALES = ROOT / "corpora" / "bach-chorales"
SMALL = ["--layers", "1", "--hidden", "32", "--batch-size", "16", "--eval-interval", "20",
         "--log-interval", "5", "--device", "cpu", "--no-curves", "--seed", "3"]


def names_corpus(folder: Path, languages=("Japanese", "Russian", "Italian"), count=60) -> Path:
    """A few languages' names, ``count`` each, one file per language (the label: its stem)."""
    folder.mkdir()
    for language in languages:
        lines = (NAMES / f"{language}.txt").read_text(encoding="utf-8").split("\n")[:count]
        (folder / f"{language}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "seqgen.json").write_text('{"items": "lines", "label_from": "stem"}')
    return folder


def train(corpus: Path, out: Path, *extra: str, steps: int = 60) -> None:
    result = runner.invoke(app, ["train", str(corpus), "--out", str(out), "--steps", str(steps),
                                 *SMALL, *extra])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("classifier")
    run = folder / "run"
    train(names_corpus(folder / "names"), run, "--arch", "many-to-one", steps=120)
    return run


def test_confusion_figures_are_those_of_the_matrix():
    # 3 labels; rows: true label, columns: predicted
    counts = torch.tensor([[8, 2, 0], [1, 3, 0], [0, 0, 0]])
    confusion = Confusion(counts, ("a", "b", "c"))
    assert confusion.items == 14
    assert confusion.accuracy == pytest.approx(11 / 14)
    # macro accuracy over the labels with validation items (c has none)
    assert confusion.macro_accuracy == pytest.approx((8 / 10 + 3 / 4) / 2)
    precision_a, precision_b = 8 / 9, 3 / 5
    f1_a = 2 * 0.8 * precision_a / (0.8 + precision_a)
    f1_b = 2 * 0.75 * precision_b / (0.75 + precision_b)
    assert confusion.macro_f1 == pytest.approx((f1_a + f1_b) / 2)
    assert [row["items"] for row in confusion.per_label()] == [10, 4, 0]


@pytest.mark.parametrize("pool", ["attention", "mean", "last"])
def test_padding_never_changes_an_items_label_scores(pool):
    torch.manual_seed(0)
    model = build_model(ModelConfig(vocab_size=12, cell="gru", hidden_size=16, num_layers=2,
                                    arch="many-to-one", num_labels=3, pool=pool)).eval()
    item = torch.tensor([[3, 5, 7, 2]])
    alone = model.classify(item, torch.tensor([4]))
    padded = torch.tensor([[3, 5, 7, 2, 9, 9, 9], [4, 4, 0, 0, 0, 0, 0]])
    together = model.classify(padded, torch.tensor([4, 2]))
    torch.testing.assert_close(together[:1], alone, rtol=1e-5, atol=1e-5)


def test_a_classifier_trains_evaluates_and_draws_its_confusion(classifier, tmp_path):
    picture = tmp_path / "confusion.png"
    result = runner.invoke(app, ["eval", str(classifier), "--confusion-png", str(picture)])
    assert result.exit_code == 0, result.output
    assert "loss (nats/label)" in result.output
    accuracy = float(result.output.split("accuracy ")[1].split("%")[0]) / 100
    assert accuracy > 0.5  # three languages: a third by chance
    assert "macro-averaged accuracy" in result.output and "F1" in result.output
    for language in ("Japanese", "Russian", "Italian"):
        assert language in result.output
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "training recorded" in result.output and "nats/label" in result.output


def test_classify_text_files_and_folders(classifier, tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("Adachi\nAbagyan\n", encoding="utf-8")
    result = runner.invoke(app, ["classify", str(classifier), "Abatangelo", f"@{names}",
                                 "--top-k", "2"])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.output.strip().split("\n")]
    assert [line[0] for line in lines] == ["Abatangelo", "Abatangelo", "Adachi", "Adachi",
                                           "Abagyan", "Abagyan"]
    for first, second in zip(lines[::2], lines[1::2], strict=True):
        assert float(first[2]) >= float(second[2])  # likeliest first
        assert first[1] != second[1]
    found = runner.invoke(app, ["classify", str(classifier), "Abukara", "--json"])
    record = json.loads(found.output)
    assert record["input"] == "Abukara" and len(record["labels"]) == 1
    assert record["labels"][0]["label"] in ("Japanese", "Russian", "Italian")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "one.txt").write_text("Abe", encoding="utf-8")
    (folder / "two.txt").write_text("Abaev", encoding="utf-8")
    result = runner.invoke(app, ["classify", str(classifier), f"@{folder}"])
    assert result.exit_code == 0, result.output
    assert [line.split("\t")[0] for line in result.output.strip().split("\n")] == \
        [str(folder / "one.txt"), str(folder / "two.txt")]


def test_symbols_the_classifier_does_not_know_are_named(classifier):
    result = runner.invoke(app, ["classify", str(classifier), "Ab§e"])
    assert result.exit_code == 2
    assert "§" in one_line_error(result.output)


def test_a_classifier_cannot_sample_and_a_generator_cannot_classify(classifier, trained_run):
    result = runner.invoke(app, ["sample", str(classifier)])
    assert result.exit_code == 2
    assert "seqgen classify" in one_line_error(result.output)
    result = runner.invoke(app, ["classify", str(trained_run), "text"])
    assert result.exit_code == 2
    assert "needs a classifier" in one_line_error(result.output)


def test_corpora_without_two_labels_are_refused(tmp_path):
    single = tmp_path / "single"
    single.mkdir()
    (single / "Irish.txt").write_text("Murphy\nKelly\nByrne\n", encoding="utf-8")
    (single / "seqgen.json").write_text('{"items": "lines", "label_from": "stem"}')
    for corpus, wanted in ((single, "one label (Irish)"), (NAMES / "Irish.txt", "no labels")):
        result = runner.invoke(app, ["train", str(corpus), "--arch", "many-to-one",
                                     "--out", str(tmp_path / "run"), *SMALL])
        assert result.exit_code == 2, result.output
        assert wanted in one_line_error(result.output)
        assert not (tmp_path / "run" / "best").exists()
    result = runner.invoke(app, ["train", str(NAMES), "--pool", "mean",
                                 "--out", str(tmp_path / "run"), *SMALL])
    assert result.exit_code == 2
    assert "--pool is for --arch many-to-one" in one_line_error(result.output)


def test_the_judge_labels_a_generators_items(classifier, tmp_path):
    corpus = names_corpus(tmp_path / "names")
    generator = tmp_path / "generator"
    train(corpus, generator, "--arch", "one-to-many", steps=40)
    result = runner.invoke(app, ["eval", str(generator), "--judge", str(classifier),
                                 "--num-samples", "8"])
    assert result.exit_code == 0, result.output
    assert "8 items per label" in result.output
    assert "macro average" in result.output
    assert "the classifier's macro accuracy on real validation items" in result.output
    for language in ("Japanese", "Russian", "Italian"):
        assert language in result.output


def test_the_judge_refuses_what_it_cannot_judge(classifier, trained_run, tmp_path):
    result = runner.invoke(app, ["eval", str(classifier), "--judge", str(trained_run)])
    assert result.exit_code == 2
    assert "--judge needs a classifier" in one_line_error(result.output)
    result = runner.invoke(app, ["eval", str(trained_run), "--judge", str(classifier)])
    assert result.exit_code == 2
    assert "is not conditioned on labels" in one_line_error(result.output)
    other = tmp_path / "other"
    train(names_corpus(tmp_path / "names", ("Greek", "Russian")), other, "--arch",
          "one-to-many", steps=2)
    result = runner.invoke(app, ["eval", str(other), "--judge", str(classifier)])
    assert result.exit_code == 2
    message = one_line_error(result.output)
    assert "(Greek, Russian)" in message and "(Italian, Japanese, Russian)" in message


def test_a_midi_classifier_labels_files_and_folders(tmp_path):
    corpus = tmp_path / "music"
    for label, first in (("early", 1), ("late", 300)):
        (corpus / label).mkdir(parents=True)
        for number in range(first, first + 6):
            name = f"riemenschneider{number:03d}.mid"
            shutil.copy(CHORALES / name, corpus / label / name)
    run = tmp_path / "run"
    train(corpus, run, "--arch", "many-to-one", "--label-from", "folder", "--batch-size", "4",
          steps=4)
    result = runner.invoke(app, ["eval", str(run)])
    assert result.exit_code == 0, result.output
    assert "validation items" in result.output
    piece = corpus / "late" / "riemenschneider300.mid"
    result = runner.invoke(app, ["classify", str(run), f"@{piece}", f"@{corpus / 'early'}",
                                 "--top-k", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().split("\n")
    assert len(lines) == 2 * 7
    assert lines[0].startswith(f"{piece}\t")
    result = runner.invoke(app, ["classify", str(run), "not a file"])
    assert result.exit_code == 2
    assert "@FILE" in one_line_error(result.output)
    generator = tmp_path / "generator"
    train(corpus, generator, "--arch", "one-to-many", "--label-from", "folder",
          "--batch-size", "4", steps=2)
    result = runner.invoke(app, ["eval", str(generator), "--judge", str(run),
                                 "--num-samples", "2"])
    assert result.exit_code == 0, result.output
    assert "2 items per label" in result.output and "late" in result.output


def test_an_interrupted_classifier_resumes_to_the_same_weights(tmp_path):
    from seqgen.config import TrainConfig
    from tests.test_training import assert_resumes_to_the_same_weights

    corpus = names_corpus(tmp_path / "names", count=20)
    config = TrainConfig(arch="many-to-one", hidden=8, layers=1, steps=10, eval_interval=4,
                         log_interval=1, dropout=0.2, batch_size=8, label_balance=0.5,
                         device="cpu", curves=False)
    assert_resumes_to_the_same_weights(corpus, config, tmp_path, at=5)
