"""Corpora of items (lines, files), labels, one-to-many models and conditioned sampling."""

import json
import re

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from seqgen.cli import app
from seqgen.config import ModelConfig, TrainConfig
from seqgen.data.batching import item_batches
from seqgen.data.codecs.chars import CharCodec
from seqgen.data.corpus import load_corpus
from seqgen.data.items import TextItemCorpus
from seqgen.data.streams import TextCorpus
from seqgen.errors import UsageError
from seqgen.nn.build import build_model
from seqgen.nn.constraints import Constraints
from seqgen.nn.sampling import condition_labels, drop_repeats, generate, generate_text
from seqgen.training.evaluation import evaluate_batches
from seqgen.training.runs import train
from tests.conftest import one_line_error

runner = CliRunner()
NAMES = {
    "Russian": ["Ivanov", "Petrov", "Sidorov", "Smirnov", "Kuznetsov", "Popov", "Volkov",
                "Sokolov", "Lebedev", "Kozlov", "Novikov", "Morozov"],
    "Japanese": ["Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto",
                 "Nakamura", "Kobayashi", "Kato", "Yoshida", "Yamada"],
}
ITEM_CONFIG = dict(cell="gru", layers=1, hidden=24, batch_size=4, seq_len=8, steps=40,
                   eval_interval=20, log_interval=5, warmup_steps=2, device="cpu")


@pytest.fixture
def names(tmp_path):
    folder = tmp_path / "names"
    folder.mkdir()
    for language, surnames in NAMES.items():
        (folder / f"{language}.txt").write_text("\n".join(surnames) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def names_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("names-run") / "names"
    folder.mkdir()
    for language, surnames in NAMES.items():
        (folder / f"{language}.txt").write_text("\n".join(surnames) + "\n", encoding="utf-8")
    train(folder, TrainConfig(**ITEM_CONFIG, arch="one-to-many", items="lines",
                              label_from="stem"), folder.parent / "run")
    return folder.parent / "run"


# ---- corpora ---------------------------------------------------------------------------------


def test_lines_are_detected_and_labelled_by_file_name(names):
    corpus = load_corpus(names, label_from="stem")
    assert isinstance(corpus, TextItemCorpus) and corpus.items == "lines"
    assert corpus.label_names == ("Japanese", "Russian")
    assert corpus.items_per_label() == {"Japanese": 12, "Russian": 12}
    assert corpus.codec.decode(corpus.pieces[0]) == "Sato"
    assert corpus.codec.specials and corpus.codec.size == len(corpus.codec.vocab) + 3


def test_text_with_blank_lines_is_a_stream(tmp_path):
    (tmp_path / "play.txt").write_text("ROMEO:\nHello.\n\nJULIET:\nHi.\n")
    assert isinstance(load_corpus(tmp_path), TextCorpus)
    assert isinstance(load_corpus(tmp_path, items="lines"), TextItemCorpus)


def test_a_corpus_declares_how_it_is_read(names):
    (names / "seqgen.json").write_text(json.dumps({"items": "files", "label_from": "stem"}))
    corpus = load_corpus(names)
    assert corpus.items == "files" and len(corpus.pieces) == 2
    assert corpus.codec.decode(corpus.pieces[1]).startswith("Ivanov\nPetrov")
    (names / "seqgen.json").write_text(json.dumps({"itmes": "lines"}))
    with pytest.raises(UsageError, match="unknown keys"):
        load_corpus(names)


def test_labels_from_folders_and_from_csv_and_json_files(tmp_path):
    for style in ("baroque", "jazz"):
        (tmp_path / "c" / style).mkdir(parents=True)
        (tmp_path / "c" / style / "a.txt").write_text(f"{style} one\n{style} two\n")
    assert load_corpus(tmp_path / "c", label_from="folder").label_names == ("baroque", "jazz")
    (tmp_path / "labels.csv").write_text("item,label\nbaroque/a.txt,old\njazz/a.txt,new\n")
    assert load_corpus(tmp_path / "c", label_from=str(tmp_path / "labels.csv")
                       ).items_per_label() == {"new": 2, "old": 2}
    (tmp_path / "labels.json").write_text(json.dumps({"baroque/a.txt": "old"}))
    with pytest.raises(UsageError, match="gives no label for jazz/a.txt"):
        load_corpus(tmp_path / "c", label_from=str(tmp_path / "labels.json"))
    with pytest.raises(UsageError, match="must be stem, folder or a CSV/JSON file"):
        load_corpus(tmp_path / "c", label_from="colour")


def test_every_label_is_in_the_validation_split(names):
    train_data, val_data = load_corpus(names, label_from="stem").split(0.1)
    assert val_data.labels.tolist() == [0, 1]  # one of each label's 12
    assert len(train_data.items) == 22



def test_label_balance_draws_rare_labels_as_often_as_common_ones(tmp_path):
    folder = tmp_path / "unequal"
    folder.mkdir()
    (folder / "Common.txt").write_text("\n".join(f"Name{i}" for i in range(90)) + "\n")
    (folder / "Rare.txt").write_text("\n".join(f"Rare{i}" for i in range(10)) + "\n")
    corpus = load_corpus(folder, label_from="stem")

    def rare_share(balance: float) -> float:
        train_data, _ = corpus.split(0.1, label_balance=balance)
        labels = torch.cat([chunk.labels for chunk in train_data.batches(8, 16, train=True)])
        return float((labels == 1).float().mean())

    assert rare_share(0.0) == pytest.approx(9 / 90)  # every item once: the corpus's share
    assert 0.35 < rare_share(1.0) < 0.65  # drawn with replacement, the labels about even
    assert 9 / 90 < rare_share(0.5) < 0.35
    _, val_data = corpus.split(0.1, label_balance=1.0)
    assert float((val_data.labels == 1).float().mean()) == pytest.approx(1 / 10)  # untouched


def test_label_balance_needs_labels_and_a_share(names, tmp_path):
    (tmp_path / "plain.txt").write_text("\n".join(NAMES["Russian"]) + "\n")
    with pytest.raises(UsageError, match="--label-balance .* needs a corpus with labels"):
        train(tmp_path / "plain.txt", TrainConfig(**ITEM_CONFIG, items="lines",
                                                  label_balance=1.0), tmp_path / "run")
    with pytest.raises(UsageError, match="--label-balance must be from 0 to 1, not 2"):
        TrainConfig(label_balance=2)

# ---- padding and state -----------------------------------------------------------------------


def test_padding_does_not_change_the_loss():
    """The same items in groups with different padding give the same loss."""
    torch.manual_seed(0)
    items = [torch.cat([torch.tensor([1]), torch.randint(3, 20, (n,)), torch.tensor([2])])
             for n in (3, 9, 4, 15, 6, 2, 11)]
    labels = torch.tensor([0, 1, 0, 1, 1, 0, 1])
    for arch in ("many-to-many", "one-to-many"):
        model = build_model(ModelConfig(20, "lstm", hidden_size=8, num_layers=2, arch=arch,
                                        num_labels=2, label_size=4)).eval()
        losses = {evaluate_batches(model, item_batches(items, rows, seq_len, 0, labels),
                                   ("a", "b")).loss
                  for rows, seq_len in ((1, 50), (2, 4), (7, 3), (3, 100))}
        total = 0.0
        with torch.no_grad():
            for item, label in zip(items, labels, strict=True):
                logits, _ = model(item[None, :-1], model.init_state(1, labels=label[None]),
                                  label[None])
                total += F.cross_entropy(logits[0], item[1:], reduction="sum").item()
        expected = total / sum(i.numel() - 1 for i in items)
        assert all(loss == pytest.approx(expected, rel=1e-5) for loss in losses), arch


def test_one_to_many_start_state_depends_on_the_label():
    model = build_model(ModelConfig(10, "lstm", hidden_size=6, num_layers=2,
                                    arch="one-to-many", num_labels=3, label_size=4))
    (h1, c1), (h2, c2) = model.init_state(3, labels=torch.tensor([0, 1, 2]))
    assert h1.shape == c2.shape == (3, 6) and not torch.equal(h1[0], h1[1])
    unlabelled = build_model(ModelConfig(10, "gru", hidden_size=6, arch="one-to-many"))
    first, second = unlabelled.init_state(2)
    assert first.shape == (2, 6) and first.requires_grad


def test_a_many_to_many_model_reads_its_label_at_every_step():
    model = build_model(ModelConfig(10, "gru", hidden_size=6, num_labels=2, label_size=4)).eval()
    tokens = torch.randint(3, 10, (1, 5))
    a, _ = model(tokens, model.init_state(1), torch.tensor([0]))
    b, _ = model(tokens, model.init_state(1), torch.tensor([1]))
    assert not torch.allclose(a, b)
    with pytest.raises(UsageError, match="conditioned on a label"):
        model(tokens, model.init_state(1))


# ---- training, evaluation and sampling -------------------------------------------------------


def test_one_to_many_training_records_labels_and_items(names_run):
    config = json.loads((names_run / "best/config.json").read_text())
    assert config["labels"] == ["Japanese", "Russian"]
    assert config["model"]["arch"] == "one-to-many" and config["model"]["num_labels"] == 2
    assert config["codec"]["specials"] is True


def test_one_to_many_needs_items(tmp_path):
    (tmp_path / "play.txt").write_text("ROMEO:\nHello there.\n\nJULIET:\nHi.\n" * 20)
    with pytest.raises(UsageError, match="one-to-many model generates whole items"):
        train(tmp_path, TrainConfig(**ITEM_CONFIG, arch="one-to-many"), tmp_path / "run")


def test_every_sample_stops_at_its_own_end_token():
    torch.manual_seed(0)
    codec = CharCodec("abc", specials=True)
    model = build_model(ModelConfig(codec.size, "gru", hidden_size=8, arch="one-to-many"))
    with torch.no_grad():
        model.head.bias[codec.EOS] = 1.5  # ends often, but at different steps per sample
    prompt = torch.tensor([codec.BOS])
    ends = Constraints(stop_token=codec.EOS, banned=[codec.PAD, codec.BOS])
    samples = generate(model, prompt, 50, num_samples=16, seed=3, constraints=ends)
    lengths = [s.numel() for s in samples]
    assert len(set(lengths)) > 3 and max(lengths) < 50
    again = generate(model, prompt, 50, num_samples=16, seed=3, constraints=ends)
    for sample, same in zip(samples, again, strict=True):
        assert codec.EOS not in sample.tolist() and torch.equal(sample, same)
    texts = generate_text(model, codec, "", 50, num_samples=16, seed=3)
    at_least_one = generate(model, prompt, 50, num_samples=16, seed=3,
                            constraints=Constraints(stop_token=codec.EOS, min_length=1,
                                                    banned=[codec.PAD, codec.BOS]))
    assert [len(t) for t in texts] == [s.numel() for s in at_least_one]
    assert min(map(len, texts)) >= 1 and min(lengths) == 0  # no empty item without a primer


def test_condition_labels():
    ids, labels = condition_labels(["a", "b"], "b", 3)
    assert ids.tolist() == [1, 1, 1] and labels == ["b", "b", "b"]
    ids, labels = condition_labels(["a", "b", "c"], None, 30, seed=1)
    assert labels == [["a", "b", "c"][i] for i in ids.tolist()]
    assert set(labels) == {"a", "b", "c"}  # a label drawn for each sample, not one for all
    assert condition_labels(["a", "b", "c"], None, 30, seed=1)[1] == labels
    with pytest.raises(UsageError, match="unknown label 'c'; the model knows: a, b"):
        condition_labels(["a", "b"], "c", 1)
    with pytest.raises(UsageError, match="not conditioned on labels"):
        condition_labels([], "a", 1)
    assert condition_labels([], None, 1) == (None, [])


def test_drop_repeats():
    kept, duplicates, copies = drop_repeats(["Ivanova", "Petrov", "Ivanova", "Zed"],
                                            {"Petrov"})
    assert kept == ["Ivanova", "Zed"] and (duplicates, copies) == (1, 1)


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_sample_with_a_condition_and_a_primer(names_run):
    result = run("sample", names_run, "--condition", "Japanese", "--primer", "Ka",
                 "--num-samples", "5", "--seed", "2", "--max-length", "12")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 5 and all(line.startswith("Ka") and len(line) <= 14 for line in lines)


def test_sample_without_a_condition_says_which_label_each_sample_got(names_run):
    result = run("sample", names_run, "--num-samples", "3", "--seed", "1")
    assert result.exit_code == 0, result.output
    said = re.search(r"drawn at random for each sample \(--condition picks one\): "
                     r"1 (\w+), 2 (\w+), 3 (\w+)$", result.stderr.strip())
    assert said and set(said.groups()) <= {"Russian", "Japanese"}, result.stderr
    assert len(result.stdout.splitlines()) == 3
    one = run("sample", names_run, "--seed", "1")
    assert re.search(r"^condition: (Russian|Japanese) \(drawn at random; --condition picks "
                     r"one\)$", one.stderr.strip()), one.stderr


def test_unique_reports_what_it_dropped(names_run):
    result = run("sample", names_run, "--condition", "Russian", "--num-samples", "30",
                 "--seed", "1", "--unique", "--temperature", "0.3")
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert len(out) == len(set(out)) and not set(out) & set(NAMES["Russian"] + NAMES["Japanese"])
    assert "--unique dropped" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--condition", "Klingon"], "unknown label 'Klingon'; the model knows: Japanese, Russian"),
    (["--primer", "Kä"], "'ä'"),
])
def test_bad_sampling_input_for_a_labelled_model(names_run, args, message):
    result = run("sample", names_run, *args)
    assert result.exit_code == 2 and message in one_line_error(result.output)


def test_eval_reports_per_label_and_wrong_label_losses(names_run):
    result = run("eval", names_run)
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "Japanese" in out and "Russian" in out and "with wrong labels" in out


def test_corpus_inspect_items(names):
    result = run("corpus", "inspect", names, "--label-from", "stem")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    for text in ("24 (lines)", "Japanese 12", "Russian 12", "median", "padding"):
        assert text in out, text


def test_label_balance_is_a_train_option_recorded_in_the_run(names, tmp_path):
    args = ["train", str(names), "--items", "lines", "--label-from", "stem", "--label-balance",
            "0.7", "--cell", "gru", "--layers", "1", "--hidden", "8", "--batch-size", "4",
            "--seq-len", "8", "--steps", "2", "--device", "cpu", "--no-curves", "--out",
            str(tmp_path / "run")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run/last/config.json").read_text())
    assert config["training"]["label_balance"] == 0.7
