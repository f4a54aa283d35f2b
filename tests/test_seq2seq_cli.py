"""The encoder-decoder through the command line: train on pairs, sample with --input and
--beam, eval, attention pictures, MIDI harmonisation files; and every bad input's one-line
error."""

import io
import json
import shutil
import sys
import warnings

import mido
import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from seqgen.cli import app
from seqgen.cli.display import WorkProgressView
from seqgen.config import TrainConfig
from seqgen.data.codecs.midi import MidiOptions, find_track, read_track_notes
from seqgen.data.pairs import load_pairs
from seqgen.media.harmony import harmony_features, read_harmonisation
from seqgen.media.text_stats import NO_SACREBLEU
from seqgen.training.checkpoint import RULES, load_checkpoint
from seqgen.training.devices import bf16_native
from seqgen.training.evaluation import evaluate_checkpoint
from seqgen.training.runs import resume, train
from tests.conftest import ROOT, one_line_error
from tests.test_pairs import PAIRS

runner = CliRunner()
TINY = ["--hidden", "16", "--layers", "1", "--batch-size", "4", "--steps", "12",
        "--eval-interval", "6", "--device", "cpu", "--no-curves"]


@pytest.fixture(scope="module")
def pairs_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pairs")
    (folder / "pairs.tsv").write_text(PAIRS * 3, encoding="utf-8")
    result = runner.invoke(app, ["train", str(folder / "pairs.tsv"), "--arch", "encoder-decoder",
                                 *TINY, "--out", str(folder / "run")])
    assert result.exit_code == 0, result.output
    return folder / "run"


def test_train_records_both_codecs_and_the_encoder(pairs_run):
    ckpt = load_checkpoint(pairs_run)
    assert ckpt.source_codec.vocab == "123" and ckpt.codec.vocab == " ehnortw"
    model = ckpt.config["model"]
    assert model["arch"] == "encoder-decoder" and model["attention"] == "general"
    assert model["bidirectional"] and model["source_vocab_size"] == 6


def test_sample_an_input_and_a_file_of_inputs(pairs_run, tmp_path):
    one = runner.invoke(app, ["sample", str(pairs_run), "--input", "12", "--beam", "3",
                              "--num-samples", "2"])
    assert one.exit_code == 0, one.output
    assert len(one.stdout.splitlines()) == 1 and len(one.stdout.split("\t")) == 2
    (tmp_path / "in.txt").write_text("1\n\n23\n321\n", encoding="utf-8")
    out = tmp_path / "out.txt"
    many = runner.invoke(app, ["sample", str(pairs_run), "--input", f"@{tmp_path / 'in.txt'}",
                               "--seed", "1", "--out", str(out)])
    assert many.exit_code == 0, many.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3


def test_inspect_pairs(tmp_path):
    (tmp_path / "pairs.tsv").write_text(PAIRS, encoding="utf-8")
    result = runner.invoke(app, ["corpus", "inspect", str(tmp_path / "pairs.tsv"),
                                 "--arch", "encoder-decoder"])
    assert result.exit_code == 0, result.output
    assert "source vocabulary" in result.stdout and "11 training pairs" in result.stdout


def test_attention_png(pairs_run, tmp_path):
    pytest.importorskip("matplotlib")
    picture = tmp_path / "attention.png"
    result = runner.invoke(app, ["sample", str(pairs_run), "--input", "321",
                                 "--attention-png", str(picture)])
    assert result.exit_code == 0, result.output
    assert picture.read_bytes().startswith(b"\x89PNG")


def test_eval_scores_greedy_and_beam(pairs_run):
    result = runner.invoke(app, ["eval", str(pairs_run), "--beam", "2"])
    assert result.exit_code == 0, result.output
    assert "greedy" in result.stdout and "beam 2" in result.stdout
    evaluation = evaluate_checkpoint(pairs_run, beam=2)
    assert evaluation.pairs == 4 and set(evaluation.decoding) == {"greedy", "beam 2"}
    assert all(0 <= v["chrF"] <= 100 for v in evaluation.decoding.values())


def test_eval_tells_a_progress_how_far_decoding_has_got(pairs_run):
    told = []
    evaluate_checkpoint(pairs_run, beam=2, progress=lambda *args: told.append(args))
    assert told == [(4, 4, "decoding the validation pairs, greedy"),
                    (4, 4, "decoding the validation pairs, beam 2")]
    result = runner.invoke(app, ["eval", str(pairs_run), "--beam", "2"])
    assert result.exit_code == 0 and "validation pairs" not in result.stderr  # no bar off a tty


def test_the_work_progress_view_draws_a_bar_on_a_terminal_alone():
    drawn, plain = io.StringIO(), io.StringIO()
    for file, terminal in ((drawn, True), (plain, False)):
        with WorkProgressView(Console(file=file, force_terminal=terminal, width=100)) as view:
            view(2, 4, "decoding the validation pairs, greedy")
    assert "decoding the validation pairs, greedy" in drawn.getvalue()
    assert "2/4" in drawn.getvalue() and plain.getvalue() == ""


def test_eval_without_sacrebleu_scores_exact_match_and_names_the_extra(pairs_run, monkeypatch):
    for name in ("sacrebleu", "sacrebleu.metrics"):  # not installed: importing it fails
        monkeypatch.setitem(sys.modules, name, None)
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("default")  # as the command line shows them: once a place
        result = runner.invoke(app, ["eval", str(pairs_run), "--beam", "2"])
    assert result.exit_code == 0, result.output
    assert NO_SACREBLEU == "chrF needs sacrebleu: pip install 'seqgen[metrics]'"
    assert [str(w.message) for w in warned] == [NO_SACREBLEU]  # for greedy and beam: once
    assert "nats/token" in result.stdout and "exact match (%)" in result.stdout
    assert "chrF" not in result.stdout


@pytest.mark.parametrize(("arguments", "message"), [
    (["--input", "4"], "--input '4' has characters that are not in the model's vocabulary: '4'"),
    ([], "this model is an encoder-decoder: give --input TEXT or --input @FILE"),
    (["--input", "1", "--beam", "0"], "--beam must be at least 1, not 0"),
    (["--input", "1", "--beam", "2", "--num-samples", "3"], "--num-samples 3 asks for more"),
    (["--input", "1", "--beam", "2", "--top-k", "3"], "--beam searches for the likeliest"),
    (["--input", "1", "--length", "20"], "--length is not for an encoder-decoder"),
    (["--input", "@missing.txt"], "--input @missing.txt: no such file or folder"),
    (["--input", "1", "--rules", "strict", "--out", "never.txt"],
     "the char codec has no rules to write by: drop --rules"),
    (["--input", "1", "--rules", "learned", "--out", "never.txt"],
     "this checkpoint has no learned rule weights (its codec has no rules"),
])
def test_bad_sampling_input_is_one_line(pairs_run, arguments, message, tmp_path,
                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["sample", str(pairs_run), *arguments])
    assert result.exit_code == 2
    assert message in one_line_error(result.output)
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("flag", ["--input", "--rules"])
def test_encoder_decoder_flags_to_a_model_without_an_encoder(trained_run, flag):
    given = ["--input", "First"] if flag == "--input" else ["--rules", "off"]
    result = runner.invoke(app, ["sample", str(trained_run), *given])
    assert result.exit_code == 2
    assert f"{flag} is for encoder-decoder models; this one is many-to-many" in \
        one_line_error(result.output)


@pytest.mark.parametrize(("arguments", "message"), [
    (["--source-track", "1"], "--source-track is for --arch encoder-decoder, not many-to-many"),
    (["--arch", "encoder-decoder", "--attention", "luong"], "unknown --attention 'luong'"),
    (["--arch", "encoder-decoder", "--attention", "none", "--input-feeding"],
     "--input-feeding feeds the attention back"),
    (["--arch", "encoder-decoder", "--encoder-layers", "0"], "--encoder-layers must be at least 1"),
    (["--arch", "encoder-decoder", "--items", "lines"], "an encoder-decoder reads pairs"),
    (["--clock"], "--clock is for --arch encoder-decoder, not many-to-many"),
    (["--arch", "encoder-decoder", "--clock"], "--clock needs pairs whose codec keeps time"),
])
def test_bad_training_settings_are_one_line(tmp_path, arguments, message):
    (tmp_path / "pairs.tsv").write_text(PAIRS, encoding="utf-8")
    result = runner.invoke(app, ["train", str(tmp_path / "pairs.tsv"), *arguments,
                                 "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert message in one_line_error(result.output)
    assert not (tmp_path / "run").exists()


def test_a_bad_pair_line_stops_training_before_any_output(tmp_path):
    (tmp_path / "pairs.tsv").write_text("1\tone\n2 two\n", encoding="utf-8")
    result = runner.invoke(app, ["train", str(tmp_path / "pairs.tsv"), "--arch",
                                 "encoder-decoder", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "line 2: a pair is a source and a target with a tab" in one_line_error(result.output)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


@pytest.mark.parametrize("kind", ["text, input feeding", "MIDI, a clock carried in chunks"])
def test_resume_of_pairs_gives_the_same_weights(tmp_path, kind):
    from safetensors.torch import load_file

    from tests.test_training import interrupt_at

    if kind.startswith("text"):
        (tmp_path / "pairs.tsv").write_text(PAIRS * 2, encoding="utf-8")
        corpus = load_pairs(tmp_path / "pairs.tsv")
        settings = {"input_feeding": True, "batch_size": 4}
    else:  # targets cut into chunks of 24 tokens: the clock's time goes on across the cut
        (tmp_path / "chorales").mkdir()
        for number in (1, 2, 3, 4):
            shutil.copy(ROOT / "corpora/bach-chorales" / f"riemenschneider00{number}.mid",
                        tmp_path / "chorales")
        corpus = load_pairs(tmp_path / "chorales", source_track="Soprano")
        settings = {"seq_len": 24, "augment": False, "batch_size": 2, "source_track": "Soprano"}
    config = TrainConfig(arch="encoder-decoder", hidden=8, layers=1, steps=10, eval_interval=4,
                         log_interval=1, dropout=0.2, device="cpu", curves=False, **settings)
    train(corpus, config, tmp_path / "whole")
    with pytest.raises(Exception, match="resume with: seqgen train --resume"):
        train(corpus, config, tmp_path / "cut", progress=interrupt_at(5))
    resume(tmp_path / "cut")
    a, b = (load_file(tmp_path / run / "last/model.safetensors") for run in ("whole", "cut"))
    assert all(torch.equal(a[name], b[name]) for name in a)


def train_a_harmoniser(tmp_path, declaration: dict):
    """Four chorales in a folder with ``declaration`` as its seqgen.json, a tiny model
    trained on them for two steps: the folder, the run and what training printed."""
    chorales = tmp_path / "chorales"
    chorales.mkdir()
    for number in (1, 2, 3, 4):
        shutil.copy(ROOT / "corpora/bach-chorales" / f"riemenschneider00{number}.mid", chorales)
    (chorales / "seqgen.json").write_text(json.dumps(declaration))
    run = tmp_path / "run"
    trained = runner.invoke(app, ["train", str(chorales), "--arch", "encoder-decoder",
                                  "--hidden", "8", "--layers", "1", "--steps", "2",
                                  "--batch-size", "2", "--device", "cpu", "--no-curves",
                                  "--out", str(run)])
    assert trained.exit_code == 0, trained.output
    return chorales, run, trained.output


def test_harmonise_a_melody_into_a_file_of_two_tracks(tmp_path):
    chorales, run, _ = train_a_harmoniser(tmp_path, {"source_track": "Soprano"})
    checkpoint = load_checkpoint(run)
    codec = checkpoint.codec
    # MIDI pairs keep time: the model got a clock, and the checkpoint its seconds per token
    assert checkpoint.config["training"]["clock"] is True
    assert checkpoint.config["model"]["clock_size"] > 0
    torch.testing.assert_close(checkpoint.model.target_clock.token_seconds,
                               codec.token_seconds().float())
    melody = tmp_path / "melody.mid"
    codec.write(codec.read_pair(chorales / "riemenschneider001.mid", "Soprano")[0], melody)
    out = tmp_path / "harmonised.mid"
    result = runner.invoke(app, ["sample", str(run), "--input", f"@{melody}", "--max-length",
                                 "40", "--seed", "1", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert [t.name for t in mido.MidiFile(out).tracks] == ["", "input", "generated"]
    shown = runner.invoke(app, ["show", str(out)])
    assert shown.exit_code == 0 and "tracks  input " in shown.stdout, shown.output
    # A whole chorale as the input: the model's source track is its melody.
    whole = runner.invoke(app, ["sample", str(run), "--input",
                                f"@{chorales / 'riemenschneider002.mid'}", "--max-length", "40",
                                "--seed", "1", "--quiet", "--out", str(tmp_path / "whole.mid")])
    assert whole.exit_code == 0, whole.output
    given = read_track_notes(tmp_path / "whole.mid", MidiOptions())[0].notes
    soprano = find_track(read_track_notes(chorales / "riemenschneider002.mid", MidiOptions()),
                         "Soprano").notes
    assert [n.pitch for n in given] == [n.pitch for n in soprano]
    ruled = runner.invoke(app, ["sample", str(run), "--input", f"@{melody}", "--rules",
                                "strict", "--out", str(tmp_path / "ruled.mid")])
    assert ruled.exit_code == 2 and not (tmp_path / "ruled.mid").exists()
    assert "the midi codec has no rules to write by: drop --rules" in \
        one_line_error(ruled.output)
    wrong = runner.invoke(app, ["train", str(chorales), "--arch", "encoder-decoder",
                                "--source-track", "Descant", "--out", str(tmp_path / "x")])
    assert wrong.exit_code == 2
    assert "no track 'Descant'; tracks with notes: 1 'Soprano'" in one_line_error(wrong.output)


@pytest.mark.skipif(not bf16_native("cpu"), reason="this CPU has no native bf16 (AVX512-BF16, "
                    "AMX-BF16 or Arm BF16): bf16 would be emulated, slower than fp32")
def test_bf16_trains_and_evaluates_an_encoder_decoder(tmp_path):
    (tmp_path / "pairs.tsv").write_text(PAIRS * 3, encoding="utf-8")
    result = runner.invoke(app, ["train", str(tmp_path / "pairs.tsv"), "--arch",
                                 "encoder-decoder", *TINY, "--precision", "bf16",
                                 "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    evaluation = evaluate_checkpoint(tmp_path / "run", beam=2)
    assert 0 < evaluation.loss < 10 and set(evaluation.decoding) == {"greedy", "beam 2"}


@pytest.mark.parametrize("relative", [False, True])
def test_harmonise_a_melody_into_parts(tmp_path, relative):
    options = {"voices": 3, "step_ms": 250, "relative": relative}
    chorales, run, printed = train_a_harmoniser(tmp_path, {
        "source_track": "Soprano", "format": "parts", "codec_options": options})
    assert "rows per batch" not in printed  # --batch-size was given: no note on it
    codec = load_checkpoint(run).codec
    assert codec.to_json() == {"name": "parts", **options}
    assert load_checkpoint(run).config["corpus"]["target_tracks"] == ["Alto", "Tenor", "Bass"]
    fitted = load_checkpoint(run).rule_weights.weights
    assert list(fitted) == ["above the melody", "above the voice before", "parallel fifths",
                            "parallel octaves"]
    assert "note: fitting the weights of the codec's rules" in printed  # before a long step
    assert "rule weights, fitted on 3 training pairs" in printed
    evaluated = runner.invoke(app, ["eval", str(run)])
    assert evaluated.exit_code == 0, evaluated.output
    with_weights = json.loads((run / "best" / RULES).read_text())["val_loss"][1]
    assert ("with the weights learnt for the network and its codec's rules (rules.json): "
            f"{with_weights:.4f} nats/token") in " ".join(evaluated.output.split())
    for how in (["--seed", "1"], ["--beam", "2"], ["--seed", "1", "--rules", "strict"],
                ["--beam", "2", "--rules", "strict"]):
        out = tmp_path / f"harmonised-{how[0][2:]}{'-ruled' if '--rules' in how else ''}.mid"
        result = runner.invoke(app, ["sample", str(run), "--input",
                                     f"@{chorales / 'riemenschneider002.mid'}", "--max-length",
                                     "60", "--quiet", "--out", str(out), *how])
        assert result.exit_code == 0, result.output
        tracks = read_track_notes(out, MidiOptions())
        assert tracks[0].name == "input"
        voices = [t.name for t in mido.MidiFile(out).tracks][2:]  # after the tempo and input
        assert voices and voices == ["Alto", "Tenor", "Bass"][:len(voices)]  # as trained
        soprano = find_track(read_track_notes(chorales / "riemenschneider002.mid",
                                              MidiOptions()), "Soprano").notes
        assert [n.pitch for n in tracks[0].notes] == [n.pitch for n in soprano]
        if "--rules" in how:  # even an untrained model's voices lead by the rules
            features = harmony_features(read_harmonisation(mido.MidiFile(out), MidiOptions()))
            assert features["melody_crossings"] == 0
            assert features["parallel_fifths_per_bar"] == 0
            assert features["parallel_octaves_per_bar"] == 0
    stats = runner.invoke(app, ["stats", str(tmp_path / "harmonised-seed.mid"), "--against",
                                str(chorales)])
    assert stats.exit_code == 0 and "consonant_onsets" in stats.stdout, stats.output
