"""The codecs learned from the text (``bpe``, ``words``): round trips over the bundled corpora,
the training split they are fitted on, losses per character, streamed decoding, bad input."""

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from seqgen.cli import app
from seqgen.config import TrainConfig
from seqgen.data.codecs.chars import CharCodec
from seqgen.data.codecs.subwords import UNKNOWN, BpeCodec, WordLevelCodec, byte_symbols
from seqgen.data.corpus import load_corpus
from seqgen.data.pairs import load_pairs
from seqgen.media.plots import read_curves
from seqgen.nn.sampling import generate_text
from seqgen.training.checkpoint import load_checkpoint
from seqgen.training.evaluation import evaluate_checkpoint
from seqgen.training.runs import train
from tests.conftest import ROOT, SHAKESPEARE, TINY_CONFIG, one_line_error

runner = CliRunner()
BUNDLED = sorted([*(ROOT / "corpora").glob("*/*.txt"), *(ROOT / "corpora").glob("*/*.md"),
                  *(ROOT / "corpora" / "abc-tunes").glob("*.abc")])
PLAYS = (SHAKESPEARE / "input.txt").read_text(encoding="utf-8")


def bundled_texts() -> dict[str, str]:
    """The text of every bundled corpus: the plays, the names (all languages), the tunes."""
    texts: dict[str, list[str]] = {}
    for file in BUNDLED:
        texts.setdefault(file.parent.name, []).append(file.read_text(encoding="utf-8"))
    return {name: "".join(parts) for name, parts in texts.items()}


@pytest.fixture(scope="module")
def bpe_run(tmp_path_factory):
    """A tiny BPE model of the first 30,000 characters of the plays."""
    folder = tmp_path_factory.mktemp("bpe")
    (folder / "plays.txt").write_text(PLAYS[:30_000], encoding="utf-8")
    train(folder / "plays.txt", TrainConfig(**TINY_CONFIG, format="bpe",
                                            codec_options={"vocab_size": 300}), folder / "run")
    return folder / "run"


# ---- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("name, text", bundled_texts().items())
@pytest.mark.parametrize("specials", [False, True])
def test_bpe_round_trips_every_bundled_corpus(name, text, specials):
    codec = BpeCodec.fit(text, specials, vocab_size=512 if len(text) > 50_000 else 300)
    ids = codec.encode(text)
    assert codec.decode(ids) == text
    assert int(codec.token_chars(ids).sum()) == len(text)
    assert BpeCodec.from_json(json.loads(json.dumps(codec.to_json()))).decode(ids) == text


@pytest.mark.parametrize("name, text", bundled_texts().items())
def test_words_round_trip_every_bundled_corpus_with_the_unknown_token(name, text):
    codec = WordLevelCodec.fit(text[: len(text) // 2], min_count=2)
    words = [word for word, _ in codec.tokenizer.pre_tokenizer.pre_tokenize_str(text)]
    assert "".join(words) == text  # every character is in a word, a mark or whitespace
    vocab = codec.tokenizer.get_vocab()
    ids = codec.encode(text)
    assert codec.decode(ids) == "".join(w if w in vocab else UNKNOWN for w in words)
    assert int((ids == vocab[UNKNOWN]).sum()) == sum(w not in vocab for w in words) > 0
    assert int(codec.encode_chars(text).sum()) == len(text)


def test_the_byte_table_is_the_byte_level_alphabet():
    from tokenizers.pre_tokenizers import ByteLevel

    assert set(byte_symbols()) == set(ByteLevel.alphabet())
    assert sorted(byte_symbols().values()) == list(range(256))


def test_streamed_decoding_holds_a_character_split_across_tokens_back():
    codec = BpeCodec.fit(PLAYS[:20_000], vocab_size=300)  # ASCII: other characters are bytes
    text = "héllo 日本 🎉!"
    ids = codec.encode(text).tolist()
    assert len(ids) > len(text)  # the multi-byte characters are split across tokens
    stream = codec.token_stream()
    shown = ""
    for token in ids:
        piece = stream.step(token)
        assert text.startswith(shown + piece)  # whole characters only, never half of one
        shown += piece
    assert shown == text and stream.finish() == ""
    assert [stream.step(i) for i in codec.encode("é").tolist()] == ["", "é"]


# ---- fitted on the training split ------------------------------------------------------------


def test_the_vocabulary_comes_from_the_training_text_only(tmp_path):
    lines = [f"the cat sat on mat number {i}." for i in range(90)]
    lines += [f"zebras graze far away {i}." for i in range(10)]
    (tmp_path / "c.txt").write_text("\n".join(lines) + "\n")
    corpus = load_corpus(tmp_path / "c.txt", "words", {"min_count": 1}, items="stream")
    assert not any("zebras" in word for word in corpus.codec.tokenizer.get_vocab())
    train_data, val = corpus.split(0.1)
    decoded = corpus.codec.decode(val.ids)  # the last 10% of the bytes, from a line break:
    assert decoded.startswith("the cat sat on mat number")  # two lines of cats, ten of zebras
    assert decoded.count("\n") == 12 and decoded.count(".\n") == 12
    assert int(val.chars.sum()) == len("\n".join(lines[88:]) + "\n")
    other = load_corpus(tmp_path / "c.txt", "words", {"min_count": 1}, items="stream",
                        val_fraction=0.02)
    assert "zebras" in other.codec.tokenizer.get_vocab()  # another split, another cache
    assert other.val_start != corpus.val_start and other.val_fraction == 0.02


def test_items_are_fitted_on_the_training_items(tmp_path):
    (tmp_path / "names.txt").write_text("\n".join(["Ann"] * 18 + ["Zoe", "Zed"]) + "\n")
    corpus = load_corpus(tmp_path / "names.txt", "words", {"min_count": 1}, items="lines")
    assert "Ann" in corpus.codec.tokenizer.get_vocab()
    assert {"Zoe", "Zed"}.isdisjoint(corpus.codec.tokenizer.get_vocab())
    train_data, val = corpus.split(0.1)
    assert [corpus.codec.decode(item) for item in val.items] == [UNKNOWN, UNKNOWN]
    assert val.target_chars(2) == len("Zoe") + len("Zed") + 2  # and each item's end


# ---- losses per character --------------------------------------------------------------------


def test_per_character_loss_is_the_character_codecs_per_token_loss(trained_run):
    result = evaluate_checkpoint(trained_run)
    assert result.unit == "character" and result.chars == result.tokens
    assert result.bits_per_char == pytest.approx(result.bits_per_token, rel=1e-12)
    events = [json.loads(line) for line in (trained_run / "metrics.jsonl").open()]
    for event in events:
        loss = event.get("val_loss", event.get("loss"))
        key = "val_bits_per_char" if event["event"] == "val" else "bits_per_char"
        assert event[key] == pytest.approx(loss / math.log(2), rel=1e-12)


def test_per_character_loss_of_items_counts_each_end_as_a_character(tmp_path):
    corpus = load_corpus(ROOT / "corpora" / "names", "char", label_from="stem")
    _, val = corpus.split(0.1)
    assert val.target_chars(64) == sum(len(item) + 1 for item in val.items)


def test_bpe_counts_the_characters_of_the_validation_text(bpe_run):
    result = evaluate_checkpoint(bpe_run)
    ckpt = load_checkpoint(bpe_run)
    corpus = load_corpus(ckpt.config["corpus"]["path"], "bpe", {"vocab_size": 300})
    _, val = corpus.split(0.1)
    rows = 4  # the run's batch size: its validation rows
    used = val.ids[: val.ids.numel() // rows * rows].view(rows, -1)
    firsts = sum(len(corpus.codec.decode(row[:1])) for row in used)  # not targets
    assert result.chars == sum(len(corpus.codec.decode(row)) for row in used) - firsts
    assert result.bits_per_char == pytest.approx(
        result.loss * result.tokens / result.chars / math.log(2))
    assert result.chars < 2 * result.tokens  # tokens of several characters


# ---- the codecs through the commands ----------------------------------------------------------


def test_a_bpe_model_samples_evaluates_and_plots_per_character(bpe_run, tmp_path):
    sample = runner.invoke(app, ["sample", str(bpe_run), "--primer", "ROMEO:", "--chars", "40",
                                 "--seed", "1"])
    assert sample.exit_code == 0, sample.output
    assert sample.stdout.startswith("ROMEO:") and len(sample.stdout) == len("ROMEO:") + 40 + 1
    evaluation = runner.invoke(app, ["eval", str(bpe_run)])
    assert evaluation.exit_code == 0, evaluation.output
    assert "bits/char" in evaluation.stdout and "characters" in evaluation.stdout
    plot = runner.invoke(app, ["plot", str(bpe_run), "--per-char", "-o", str(tmp_path / "c.png")])
    assert plot.exit_code == 0 and (tmp_path / "c.png").stat().st_size > 0, plot.output
    corpus = load_checkpoint(bpe_run).config["corpus"]["path"]
    inspect = runner.invoke(app, ["corpus", "inspect", corpus, "--format", "bpe",
                                  "--codec-opt", "vocab_size=300"])
    assert "300 tokens (byte-level BPE): 256 bytes and 44 merged pieces" in inspect.stdout


def test_chars_cuts_every_sample_of_any_text_codec(bpe_run, trained_run):
    for run in (bpe_run, trained_run):
        ckpt = load_checkpoint(run)
        texts = generate_text(ckpt.model, ckpt.codec, "All", 200, num_samples=3, seed=2,
                              max_chars=25)
        assert [len(t) for t in texts] == [3 + 25] * 3


def test_tied_weights_with_thousands_of_tokens(tmp_path):
    (tmp_path / "plays.txt").write_text(PLAYS[:300_000], encoding="utf-8")
    config = dict(TINY_CONFIG, hidden=32, steps=2, eval_interval=2)
    runs = {tie: train(tmp_path / "plays.txt", TrainConfig(
        **config, format="bpe", codec_options={"vocab_size": 4096}, tie_weights=tie),
        tmp_path / f"run-{tie}").run_dir for tie in (False, True)}
    tied, untied = load_checkpoint(runs[True]).model, load_checkpoint(runs[False]).model
    assert tied.head.weight.shape == (4096, 32) and tied.head.weight is tied.embedding.weight
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    assert count(untied) - count(tied) == 4096 * 32


# ---- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("options, message", [
    (["--format", "bpe", "--codec-opt", "vocab_size=200"],
     "the bpe codec: vocab_size=200 is below the byte alphabet: byte-level BPE needs at least "
     "256 tokens"),
    (["--format", "bpe", "--codec-opt", "vocab_size=100000"],
     "the bpe codec: vocab_size=100000 is more than the training text makes"),
    (["--format", "bpe", "--codec-opt", "vocab_size=big"],
     "the bpe codec: vocab_size must be a whole number of at least 1, not 'big'"),
    (["--format", "words", "--codec-opt", "min_count=1000"],
     "the words codec: min_count=1000 leaves an empty vocabulary"),
    (["--format", "words", "--codec-opt", "min_count=0"],
     "the words codec: min_count must be a whole number of at least 1, not 0"),
    (["--format", "words", "--codec-opt", "vocab_size=9"],
     "the words codec has no option 'vocab_size'; its options: min_count=2"),
])
def test_bad_codec_options_are_one_line_errors(tiny_corpus, tmp_path, options, message):
    result = runner.invoke(app, ["train", str(tiny_corpus), *options, "--steps", "1",
                                 "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert one_line_error(result.output).startswith(f"error: {message}")


def test_a_primer_empty_once_tokenized_is_a_one_line_error(bpe_run, monkeypatch):
    monkeypatch.setattr(BpeCodec, "encode", lambda self, text, what="text": torch.zeros(
        0, dtype=torch.long))
    result = runner.invoke(app, ["sample", str(bpe_run), "--primer", "\u200b"])
    assert result.exit_code == 2
    assert "is empty once tokenized by the bpe codec" in one_line_error(result.output)


def test_an_empty_primer_file_is_a_one_line_error(bpe_run, tmp_path):
    (tmp_path / "empty.txt").write_text("")
    result = runner.invoke(app, ["sample", str(bpe_run), "--primer", f"@{tmp_path}/empty.txt"])
    assert result.exit_code == 2
    assert "the primer file" in one_line_error(result.output)


@pytest.mark.parametrize("damage", ["truncated", "model"])
def test_a_damaged_tokenizer_in_a_checkpoint_is_a_one_line_error(bpe_run, tmp_path, damage):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(bpe_run / "best", copy)
    config = json.loads((copy / "config.json").read_text())
    if damage == "truncated":
        config["codec"]["tokenizer"]["model"]["merges"] = "not a list"
    else:
        config["codec"]["tokenizer"]["model"] = {"type": "Unigram"}
    (copy / "config.json").write_text(json.dumps(config))
    result = runner.invoke(app, ["sample", str(copy), "--length", "5"])
    assert result.exit_code == 1
    assert "config.json is damaged: bad codec (its tokenizer JSON is damaged" in \
        one_line_error(result.output)


def test_chars_must_be_positive_and_text(bpe_run):
    result = runner.invoke(app, ["sample", str(bpe_run), "--chars", "0"])
    assert result.exit_code == 2 and "--chars must be at least 1" in one_line_error(result.output)


def test_per_char_plot_of_a_run_without_text(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(json.dumps(
        {"event": "train", "step": 1, "loss": 2.0}) + "\n")
    result = runner.invoke(app, ["plot", str(tmp_path), "--per-char", "-o",
                                 str(tmp_path / "c.png")])
    assert result.exit_code == 2
    assert "has no losses per character" in one_line_error(result.output)


def test_the_char_codec_counts_one_character_a_token():
    codec = CharCodec.fit("ab\n", specials=True)
    assert codec.token_chars(torch.tensor([0, 1, 2, 3, 4, 5])).tolist() == [0, 0, 1, 1, 1, 1]


def test_a_character_run_logged_before_losses_per_character_plots_per_character():
    run = ROOT / "checkpoints" / "shakespeare-lstm"  # trained before bits_per_char was logged
    plain, per_char = read_curves(run), read_curves(run, per_char=True)
    assert per_char.val_loss == pytest.approx(plain.val_loss / math.log(2))
    assert per_char.train_tokens == pytest.approx(plain.train_tokens)  # a token a character


def test_text_pairs_fit_a_learnt_codec_on_the_training_pairs_only(tmp_path):
    lines = [f"{i} cats\tthe cat number {i}" for i in range(18)]
    lines += ["2 zebras\tthe zebra pair", "3 zebras\tthe zebra trio"]  # the last 10%
    (tmp_path / "pairs.tsv").write_text("\n".join(lines) + "\n")
    corpus = load_pairs(tmp_path / "pairs.tsv", "words", {"min_count": 1},
                        cache_dir=tmp_path / "cache")
    assert not any("zebra" in word for word in corpus.codec.tokenizer.get_vocab())
    assert not any("zebra" in word for word in corpus.source_codec.tokenizer.get_vocab())
    wider = load_pairs(tmp_path / "pairs.tsv", "words", {"min_count": 1},
                       cache_dir=tmp_path / "cache", val_fraction=0.05)
    assert " zebra" in wider.codec.tokenizer.get_vocab()  # another split, another cache entry
