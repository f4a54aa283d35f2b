"""MIDI corpora: ingestion, caching, skipped files, training on pieces, sampling to .mid files."""

import json
import shutil
from dataclasses import replace

import mido
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from seqgen.cli import app
from seqgen.config import ModelConfig, TrainConfig
from seqgen.data import workers
from seqgen.data.cache import CacheWriter
from seqgen.data.codecs.base import Augmentation
from seqgen.data.codecs.midi import MidiCodec, read_notes
from seqgen.data.corpus import load_corpus
from seqgen.data.declaration import detect_format
from seqgen.data.items import load_file_corpus
from seqgen.data.splits import ItemData
from seqgen.errors import SeqgenError, UsageError
from seqgen.nn.build import build_model
from seqgen.nn.sampling import generate_pieces
from seqgen.training.checkpoint import load_checkpoint
from seqgen.training.evaluation import evaluate_batches
from seqgen.training.runs import resume, train
from seqgen.training.trainer import TrainingInterrupted
from tests.conftest import ROOT, one_line_error
from tests.test_training import interrupt_at, weights

CHORALES = ROOT / "corpora" / "bach-chorales"
runner = CliRunner()
MIDI_TINY = dict(cell="gru", layers=1, hidden=16, batch_size=3, seq_len=16, steps=10,
                 eval_interval=4, log_interval=1, warmup_steps=2, device="cpu")


@pytest.fixture
def small_midi(tmp_path):
    """Eight real chorales and two broken files."""
    folder = tmp_path / "midi"
    (folder / "sub").mkdir(parents=True)
    for path in sorted(CHORALES.glob("*.mid"))[:8]:
        shutil.copy(path, folder / "sub" / path.name)
    (folder / "noise.mid").write_bytes(bytes(range(256)) * 4)
    data = (CHORALES / "riemenschneider001.mid").read_bytes()
    (folder / "truncated.midi").write_bytes(data[: len(data) // 2])
    return folder


@pytest.fixture(scope="module")
def midi_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("midi-run")
    for path in sorted(CHORALES.glob("*.mid"))[:8]:
        shutil.copy(path, folder / path.name)
    train(folder, TrainConfig(**MIDI_TINY), folder / "run")
    return folder / "run"


def test_a_folder_is_read_recursively_and_broken_files_are_skipped_with_reasons(small_midi):
    corpus = load_file_corpus(small_midi, MidiCodec())
    assert len(corpus.pieces) == 8 and len(corpus.files) == 8
    skipped = dict(corpus.skipped)
    assert set(skipped) == {"noise.mid", "truncated.midi"}
    assert all(reason for reason in skipped.values())
    expected = MidiCodec().read(small_midi / "sub" / "riemenschneider001.mid")[0]
    assert torch.equal(corpus.pieces[0].long(), expected)
    notes = sum(len(read_notes(f, corpus.codec.options)) for f in corpus.files)
    assert corpus.stats["notes"] == notes


def test_the_second_load_comes_from_the_cache(small_midi, tmp_path):
    first = load_file_corpus(small_midi, MidiCodec(), cache_dir=tmp_path / "cache")
    second = load_file_corpus(small_midi, MidiCodec(), cache_dir=tmp_path / "cache")
    assert not first.from_cache and second.from_cache
    assert second.skipped == first.skipped and second.stats == first.stats
    assert all(torch.equal(a, b) for a, b in zip(first.pieces, second.pieces, strict=True))


def test_the_cache_is_written_piece_by_piece_and_reads_back_every_piece(small_midi, tmp_path,
                                                                         monkeypatch):
    appended, append = [], CacheWriter.append

    def logged_append(writer, name, values):
        appended.append(name)
        append(writer, name, values)

    monkeypatch.setattr(CacheWriter, "append", logged_append)
    first = load_file_corpus(small_midi, MidiCodec(), cache_dir=tmp_path / "cache")
    assert appended == ["tokens"] * 8 + ["lengths", "meta"]
    second = load_file_corpus(small_midi, MidiCodec(), cache_dir=tmp_path / "cache")
    assert second.from_cache and [f.name for f in second.files] == [f.name for f in first.files]
    for file, a, b in zip(first.files, first.pieces, second.pieces, strict=True):
        tokens, _ = first.codec.read(file)
        assert torch.equal(a.long(), tokens) and torch.equal(b.long(), tokens)


def test_a_failed_read_leaves_no_half_cache(small_midi, tmp_path, monkeypatch):
    read_file_job = workers.read_file_job  # one process: 10 files are not worth a pool

    def failing_job(job):
        if job[0].name == "riemenschneider005.mid":
            raise KeyboardInterrupt(job[0].name)
        return read_file_job(job)

    monkeypatch.setattr(workers, "read_file_job", failing_job)
    with pytest.raises(KeyboardInterrupt, match="^riemenschneider005.mid$"):
        load_file_corpus(small_midi, MidiCodec(), cache_dir=tmp_path / "cache")
    assert [f.name for f in (tmp_path / "cache").iterdir() if f.suffix != ".key"] == []


def test_codec_options_change_the_cache_key_and_the_tokens(small_midi, tmp_path):
    fine = load_corpus(small_midi, "midi", cache_dir=tmp_path / "cache")
    coarse = load_corpus(small_midi, "midi", {"resolution_ms": 20}, cache_dir=tmp_path / "cache")
    assert not coarse.from_cache and coarse.codec.options.resolution_ms == 20
    assert (fine.codec.size, coarse.codec.size) == (391, 341)  # 100 vs 50 time shifts
    assert not torch.equal(fine.pieces[0], coarse.pieces[0])
    with pytest.raises(UsageError, match="the midi codec has no option 'speed'"):
        load_corpus(small_midi, "midi", {"speed": 2})


def test_strict_makes_a_skipped_file_an_error(small_midi):
    with pytest.raises(SeqgenError, match="2 files cannot be used.*drop --strict"):
        load_file_corpus(small_midi, MidiCodec(), strict=True)


def test_a_corpus_with_no_usable_file_is_an_error(tmp_path):
    (tmp_path / "a.mid").write_bytes(b"MThd garbage")
    (tmp_path / "b.mid").write_bytes(b"")
    with pytest.raises(SeqgenError, match="no usable midi file .*2 skipped"):
        load_file_corpus(tmp_path, MidiCodec())


def test_format_detection(tmp_path, small_midi):
    assert detect_format(small_midi) == "midi"
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "a.txt").write_text("hello")
    assert detect_format(tmp_path / "text") == "char"
    (small_midi / "notes.txt").write_text("a text file among the MIDI files")
    with pytest.raises(UsageError, match="mixes char and midi files.*--format char.midi"):
        detect_format(small_midi)
    assert load_corpus(small_midi, format="midi").format == "midi"


def test_loss_on_item_batches_equals_each_piece_on_its_own():
    """The state starts fresh at every piece, and padding never counts."""
    torch.manual_seed(0)
    codec = MidiCodec()
    pieces = [torch.randint(3, codec.size, (n,)) for n in (30, 7, 19, 11)]
    model = build_model(ModelConfig(codec.size, "lstm", hidden_size=8, num_layers=2)).eval()
    batches = ItemData(pieces, codec).batches(rows=2, seq_len=8)
    together = evaluate_batches(model, batches)
    total, count = 0.0, 0
    for piece in pieces:
        tokens = torch.cat([torch.tensor([codec.BOS]), piece, torch.tensor([codec.EOS])])
        logits, _ = model(tokens[None, :-1], model.init_state(1))
        total += F.cross_entropy(logits[0], tokens[1:], reduction="sum").item()
        count += tokens.numel() - 1
    assert together.tokens == count
    assert together.loss == pytest.approx(total / count, rel=1e-5)


def test_augmentation_varies_by_epoch_is_reproducible_and_keeps_pitches_in_range():
    codec = MidiCodec()
    corpus = load_file_corpus(sorted(CHORALES.glob("*.mid"))[0], MidiCodec())
    data = ItemData(corpus.pieces * 2, codec, augmentation=Augmentation(transpose=3,
                                                                         stretch=0.05))
    plain = data.batches(2, 32).chunk(0).inputs
    epoch1, again, epoch2 = (data.batches(2, 32, epoch=e, seed=1, train=True).chunk(0).inputs
                             for e in (1, 1, 2))
    assert torch.equal(epoch1, again)
    assert not torch.equal(epoch1, epoch2)
    assert not torch.equal(epoch1, plain)
    assert int(epoch1.max()) < codec.size


def test_validation_is_never_augmented(midi_run):
    config = json.loads((midi_run / "best/config.json").read_text())
    assert config["training"]["augment"] is True
    corpus = load_corpus(config["corpus"]["path"])
    _, val = corpus.split(0.1)
    model = load_checkpoint(midi_run).model
    expected = evaluate_batches(model, val.batches(min(3, val.max_rows()), 16),
                                precision=config["training"]["precision"]).loss
    best = json.loads((midi_run / "best/trainer.json").read_text())["val_loss"]
    last_val = [json.loads(line) for line in (midi_run / "metrics.jsonl").read_text().splitlines()
                if '"val"' in line]
    assert min(e["val_loss"] for e in last_val) == pytest.approx(best)
    assert expected == pytest.approx(best, rel=1e-5)


def test_interrupted_midi_training_resumes_exactly(tmp_path):
    folder = tmp_path / "midi"
    folder.mkdir()
    for path in sorted(CHORALES.glob("*.mid"))[:8]:
        shutil.copy(path, folder / path.name)
    # 14 steps cross epochs: a new shuffle and new augmentation
    config = TrainConfig(**{**MIDI_TINY, "steps": 12, "seq_len": 256})
    whole = train(folder, config, tmp_path / "whole")
    with pytest.raises(TrainingInterrupted,
                       match="training stopped by Ctrl-C at step 9; .*resume with"):
        train(folder, config, tmp_path / "cut", progress=interrupt_at(9))
    resume(tmp_path / "cut")
    a, b = weights(tmp_path / "whole/last"), weights(tmp_path / "cut/last")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((tmp_path / "whole/last/trainer.json").read_text())["epoch"] >= 1
    assert whole.step == 12


def test_training_records_the_midi_codec(midi_run):
    config = json.loads((midi_run / "best/config.json").read_text())
    assert config["codec"]["name"] == "midi" and config["corpus"]["format"] == "midi"
    ckpt = load_checkpoint(midi_run)
    assert isinstance(ckpt.codec, MidiCodec) and ckpt.codec.size == 391


def test_too_few_pieces_for_the_batch(tmp_path):
    shutil.copy(CHORALES / "riemenschneider001.mid", tmp_path / "a.mid")
    shutil.copy(CHORALES / "riemenschneider002.mid", tmp_path / "b.mid")
    with pytest.raises(UsageError, match="--batch-size 3 is too large: the training split "
                                         "has 1 items"):
        train(tmp_path, replace(TrainConfig(**MIDI_TINY)), tmp_path / "run")


# ---- the CLI ---------------------------------------------------------------------------------


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_sampling_writes_midi_files_reproducibly_without_overwriting(midi_run, tmp_path):
    out = tmp_path / "samples"
    first = run("sample", midi_run, "--length", "5s", "--num-samples", "2", "--out", f"{out}/",
                "--seed", "4")
    assert first.exit_code == 0, first.output
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["sample-1.mid", "sample-2.mid"]
    for f in files:
        mido.MidiFile(f)  # loads back
    again = run("sample", midi_run, "--length", "5s", "--num-samples", "2", "--out", f"{out}/",
                "--seed", "4")
    assert again.exit_code == 0
    assert sorted(f.name for f in out.iterdir()) == [f"sample-{i}.mid" for i in (1, 2, 3, 4)]
    assert (out / "sample-3.mid").read_bytes() == (out / "sample-1.mid").read_bytes()
    forced = run("sample", midi_run, "--length", "40", "--num-samples", "2", "--out", f"{out}/",
                 "--seed", "5", "--force")
    assert forced.exit_code == 0 and len(list(out.iterdir())) == 4


def test_a_length_in_seconds_gives_pieces_that_long(midi_run):
    ckpt = load_checkpoint(midi_run)
    pieces = generate_pieces(ckpt.model, ckpt.codec, seconds=3.0, num_samples=3, seed=2)
    for tokens in pieces:
        assert 3.0 <= ckpt.codec.duration_s(tokens) < 4.0
        assert ckpt.codec.EOS not in tokens.tolist()


def test_open_ended_pieces_stop_at_the_end_token_and_a_length_bans_it(midi_run):
    ckpt = load_checkpoint(midi_run)
    with torch.no_grad():
        ckpt.model.head.bias[ckpt.codec.EOS] = 100.0  # the model now ends the piece at once
    # ... but a piece without a primer is never empty: it ends after its first token
    assert [t.numel() for t in generate_pieces(ckpt.model, ckpt.codec, num_samples=2)] == [1, 1]
    pieces = generate_pieces(ckpt.model, ckpt.codec, length=25, num_samples=2, seed=1)
    assert [t.numel() for t in pieces] == [25, 25]
    assert not {ckpt.codec.EOS, ckpt.codec.BOS, ckpt.codec.PAD} & set(pieces[0].tolist())


def test_a_midi_primer_is_continued(midi_run, tmp_path):
    primer = CHORALES / "riemenschneider003.mid"
    out = tmp_path / "cont.mid"
    result = run("sample", midi_run, "--primer", f"@{primer}", "--length", "50", "--out", out,
                 "--seed", "1")
    assert result.exit_code == 0, result.output
    codec = load_checkpoint(midi_run).codec
    original = read_notes(primer, codec.options)
    continued = read_notes(out, codec.options)
    assert len(continued) >= len(original) - 2
    assert [n.pitch for n in continued[:20]] == [n.pitch for n in original[:20]]


@pytest.mark.parametrize(("args", "message"), [
    (["--primer", "hello"], "a midi model's primer is a file: --primer @FILE.mid"),
    (["--primer", "@missing.mid"], "cannot use the primer file"),
    (["--length", "ten"], "bad --length"),
    (["--num-samples", "2", "--out", "one.mid"], "give --out a folder"),
])
def test_bad_midi_sampling_input(midi_run, args, message):
    result = run("sample", midi_run, *args)
    assert result.exit_code == 2, result.output
    assert message in one_line_error(result.output)


def test_existing_output_file_needs_force(midi_run, tmp_path):
    (tmp_path / "x.mid").write_bytes(b"keep me")
    result = run("sample", midi_run, "--out", tmp_path / "x.mid", "--length", "10")
    assert result.exit_code == 2 and "pass --force" in one_line_error(result.output)
    assert (tmp_path / "x.mid").read_bytes() == b"keep me"


def test_text_model_rejects_a_duration(trained_run):
    result = run("sample", trained_run, "--length", "30s")
    assert result.exit_code == 2 and "not a duration" in one_line_error(result.output)


def test_corpus_inspect_midi(small_midi):
    result = run("corpus", "inspect", small_midi, "--verbose")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    for text in ("8 read", "2 skipped", "notes", "hours", "391 events", "128 NOTE_ON",
                 "training items", "padding", "items"):
        assert text in out, text
    err = " ".join(result.stderr.split())
    assert "skipped noise.mid" in err and "skipped truncated.midi" in err


def test_eval_of_a_midi_checkpoint(midi_run):
    result = run("eval", midi_run)
    assert result.exit_code == 0, result.output
    assert "perplexity" in result.stdout


def test_eval_gives_nats_per_second_of_the_validation_music(midi_run):
    """The loss per second of music (what models of different music codecs share) divides
    the summed loss by the validation pieces' own length, read from their files."""
    from seqgen.data.codecs.midi import MidiOptions
    from seqgen.data.splits import split_items
    from seqgen.training.evaluation import evaluate_checkpoint

    result = evaluate_checkpoint(midi_run, device="cpu")
    files = load_checkpoint(midi_run).load_corpus().files
    _, val_ids = split_items(len(files), None, TrainConfig(**MIDI_TINY).val_fraction)
    lasting = sum(max(note.end for note in read_notes(files[i], MidiOptions()))
                  for i in val_ids)
    assert result.seconds == pytest.approx(lasting, rel=0.01, abs=0.05)
    assert result.nats_per_second == pytest.approx(result.loss * result.tokens / lasting,
                                                   rel=0.01)
    shown = run("eval", midi_run).stdout
    assert f"{result.nats_per_second:.3f}" in shown and "nats/second" in shown
