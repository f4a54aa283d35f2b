"""Each documented option of `seqgen train` and `seqgen sample`, through the CLI: every test
fails if its option is ignored."""

import json
import re
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from typer.testing import CliRunner

from seqgen.cli import app
from seqgen.data.codecs.midi import MidiCodec
from seqgen.training.checkpoint import load_checkpoint
from seqgen.training.devices import bf16_native
from tests.conftest import ROOT, one_line_error

runner = CliRunner()
CHORALES = ROOT / "corpora" / "bach-chorales"
TINY = ["--hidden", "16", "--batch-size", "4", "--seq-len", "8", "--steps", "4",
        "--eval-interval", "2", "--log-interval", "1", "--device", "cpu", "--no-curves"]
MIDI_TINY = ["--cell", "gru", "--layers", "1", "--hidden", "8", "--batch-size", "2",
             "--seq-len", "16", "--steps", "2", "--eval-interval", "2", "--log-interval", "1",
             "--device", "cpu", "--no-curves"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def train(*args):
    """``seqgen train ARGS``, which must succeed."""
    result = run("train", *args)
    assert result.exit_code == 0, result.output
    return result


def config_of(run_dir):
    return json.loads((run_dir / "last/config.json").read_text())


def events(run_dir, kind="train"):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == kind]


def weights(run_dir):
    return load_file(run_dir / "last/model.safetensors")


def same_weights(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def midi_corpus(tmp_path):
    """Four real chorales (three for training, one for validation)."""
    folder = tmp_path / "midi"
    folder.mkdir()
    for path in sorted(CHORALES.glob("*.mid"))[:4]:
        shutil.copy(path, folder / path.name)
    return folder


# ---- the model -------------------------------------------------------------------------------


def test_tie_weights_stores_one_matrix_for_the_embedding_and_the_head(tiny_corpus, tmp_path):
    train(tiny_corpus, *TINY, "--tie-weights", "--out", tmp_path / "tied")
    train(tiny_corpus, *TINY, "--out", tmp_path / "untied")
    assert config_of(tmp_path / "tied")["model"]["tie_weights"] is True
    assert config_of(tmp_path / "untied")["model"]["tie_weights"] is False
    with safe_open(tmp_path / "tied/last/model.safetensors", "pt") as f:
        tied = set(f.keys())
    with safe_open(tmp_path / "untied/last/model.safetensors", "pt") as f:
        untied = set(f.keys())
    assert {"embedding.weight", "head.weight"} <= untied
    assert len({"embedding.weight", "head.weight"} & tied) == 1  # one tensor, saved once
    assert tied | {"embedding.weight", "head.weight"} == untied
    model = load_checkpoint(tmp_path / "tied").model
    assert model.head.weight is model.embedding.weight


# ---- how long, and which data ---------------------------------------------------------------


def test_epochs_trains_the_chunks_of_that_many_epochs(tiny_corpus, tmp_path):
    # 296 characters, the last 30 held out: 266 in 4 rows of 66, 65 targets a row in chunks
    # of 8 -> 9 chunks an epoch
    result = train(tiny_corpus, *TINY[:6], "--epochs", "1", "--eval-interval", "100",
                   "--device", "cpu", "--no-curves", "--out", tmp_path / "one")
    assert "done: step 9 after" in result.stdout
    assert [e["step"] for e in events(tmp_path / "one", "val")] == [9]
    half = train(tiny_corpus, *TINY[:6], "--epochs", "1.5", "--eval-interval", "100",
                 "--device", "cpu", "--no-curves", "--out", tmp_path / "half")
    assert "done: step 14 after" in half.stdout  # ceil(1.5 * 9)
    assert config_of(tmp_path / "half")["training"]["epochs"] == 1.5


def test_val_fraction_sets_the_validation_split(tiny_corpus, tmp_path):
    default = train(tiny_corpus, *TINY, "--out", tmp_path / "default")
    fifth = train(tiny_corpus, *TINY, "--val-fraction", "0.2", "--out", tmp_path / "fifth")
    assert "266 training and" in " ".join(default.stdout.split())
    assert "236 training and" in " ".join(fifth.stdout.split())  # 296 - ceil(0.2 * 296)
    config = config_of(tmp_path / "fifth")
    assert config["corpus"]["val_fraction"] == config["training"]["val_fraction"] == 0.2
    tokens = [re.search(r"and (\d+) validation tokens", " ".join(r.stdout.split())).group(1)
              for r in (default, fifth)]
    assert int(tokens[1]) > int(tokens[0])


def test_train_without_out_writes_runs_named_after_the_corpus(tiny_corpus, tmp_path,
                                                                       monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = train(tiny_corpus, *TINY)
    assert "checkpoint in runs/tiny" in " ".join(result.stdout.split())
    assert (work / "runs/tiny/best/config.json").exists()
    folder = tmp_path / "my-corpus"
    folder.mkdir()
    shutil.copy(tiny_corpus, folder / "a.txt")
    train(folder, *TINY)
    assert (work / "runs/my-corpus/best/config.json").exists()
    assert sorted(p.name for p in (work / "runs").iterdir()) == ["my-corpus", "tiny"]


# ---- the optimizer ---------------------------------------------------------------------------


def test_clip_limits_the_gradient_norm(tiny_corpus, tmp_path):
    for name, clip in (("off", "0"), ("huge", "1e9"), ("tiny", "1e-6")):
        train(tiny_corpus, *TINY, "--clip", clip, "--out", tmp_path / name)
    assert config_of(tmp_path / "tiny")["training"]["clip"] == 1e-6
    off, huge, tiny = (weights(tmp_path / n) for n in ("off", "huge", "tiny"))
    assert same_weights(off, huge)  # a limit never reached changes nothing
    assert not same_weights(off, tiny)


STEP_CELL = ["--layers", "1", "--hidden", "8", "--batch-size", "4", "--seq-len", "4",
             "--steps", "2", "--eval-interval", "2", "--log-interval", "1", "--device", "cpu",
             "--precision", "fp32", "--no-curves"]  # fp32: compiled and plain must agree closely


def count_compiled_calls(monkeypatch, **compile_options) -> list:
    """Each call of a module compiled with ``Module.compile`` from now on (the list of them)."""
    compile_module, calls = torch.nn.Module.compile, []

    def counted_compile(module, *args, **kwargs):
        compile_module(module, *args, **{**kwargs, **compile_options})
        compiled = module._compiled_call_impl

        def counted(*call_args, **call_kwargs):
            calls.append(module)
            return compiled(*call_args, **call_kwargs)

        module._compiled_call_impl = counted

    monkeypatch.setattr(torch.nn.Module, "compile", counted_compile)
    return calls


def test_compile_runs_a_step_cell_s_time_loop_compiled(tiny_corpus, tiny_cell, tmp_path,
                                                       monkeypatch):
    """The trainer's forward goes through what torch.compile made (with its eager backend
    here, to be quick: what the compiler then generates is torch's business; the slow test
    below runs the real one)."""
    compiled_calls = count_compiled_calls(monkeypatch, backend="eager")
    train(tiny_corpus, "--cell", tiny_cell, *STEP_CELL, "--out", tmp_path / "plain")
    assert compiled_calls == []
    train(tiny_corpus, "--cell", tiny_cell, *STEP_CELL, "--compile", "--out",
          tmp_path / "compiled")
    assert len(compiled_calls) >= 3  # two training steps and a validation
    assert config_of(tmp_path / "compiled")["training"]["compile"] is True
    assert weights(tmp_path / "compiled").keys() == weights(tmp_path / "plain").keys()
    assert len(events(tmp_path / "compiled")) == 2
    sample = run("sample", tmp_path / "compiled", "--primer", "All", "--length", "5",
                 "--seed", "1")
    assert sample.exit_code == 0 and sample.stdout.startswith("All")


@pytest.mark.slow
def test_compile_with_the_real_compiler_trains_as_the_plain_loop_does(tiny_corpus, tiny_cell,
                                                                       tmp_path, monkeypatch):
    train(tiny_corpus, "--cell", tiny_cell, *STEP_CELL, "--out", tmp_path / "plain")
    compiled_calls = count_compiled_calls(monkeypatch)
    train(tiny_corpus, "--cell", tiny_cell, *STEP_CELL, "--compile", "--out",
          tmp_path / "compiled")
    assert len(compiled_calls) >= 3
    plain, compiled = weights(tmp_path / "plain"), weights(tmp_path / "compiled")
    assert plain.keys() == compiled.keys()
    for name in plain:
        torch.testing.assert_close(compiled[name], plain[name], rtol=1e-4, atol=1e-5)


# ---- precision -------------------------------------------------------------------------------


@pytest.mark.skipif(not bf16_native("cpu"), reason="this CPU has no native bf16 (AVX512-BF16, "
                    "AMX-BF16 or Arm BF16): bf16 would be emulated, slower than fp32")
def test_bf16_on_a_cpu_trains_resumes_and_samples(tiny_corpus, tmp_path):
    train(tiny_corpus, *TINY, "--precision", "fp32", "--out", tmp_path / "fp32")
    train(tiny_corpus, *TINY, "--precision", "bf16", "--out", tmp_path / "bf16")
    assert config_of(tmp_path / "bf16")["training"]["precision"] == "bf16"
    assert not same_weights(weights(tmp_path / "fp32"), weights(tmp_path / "bf16"))
    losses = [e["loss"] for e in events(tmp_path / "bf16")]
    assert len(losses) == 4 and all(0 < loss < 10 for loss in losses)
    resumed = train("--resume", tmp_path / "bf16", "--steps", "6")
    assert "done: step 6 after" in resumed.stdout
    assert config_of(tmp_path / "bf16")["training"]["precision"] == "bf16"
    sample = run("sample", tmp_path / "bf16", "--primer", "All", "--length", "20", "--seed", "1")
    assert sample.exit_code == 0 and sample.stdout.startswith("All"), sample.output


# ---- MIDI ------------------------------------------------------------------------------------


@pytest.fixture
def augmented(monkeypatch):
    """What the training augmentation did: (transpose, stretch) settings, semitones, factors,
    and (tokens in, tokens out) of each piece."""
    seen = {"settings": set(), "semitones": [], "factors": [], "pieces": []}
    augment, transpose, stretch = MidiCodec.augment, MidiCodec.transpose, MidiCodec.stretch

    def spy_augment(self, tokens, augmentation, generator):
        out = augment(self, tokens, augmentation, generator)
        seen["settings"].add((augmentation.transpose, augmentation.stretch))
        seen["pieces"].append((tokens.long(), out.long()))
        return out

    def spy_transpose(self, tokens, semitones):
        seen["semitones"].append(semitones)
        return transpose(self, tokens, semitones)

    def spy_stretch(self, tokens, factor):
        seen["factors"].append(factor)
        return stretch(self, tokens, factor)

    monkeypatch.setattr(MidiCodec, "augment", spy_augment)
    monkeypatch.setattr(MidiCodec, "transpose", spy_transpose)
    monkeypatch.setattr(MidiCodec, "stretch", spy_stretch)
    return seen


def test_augmentation_is_on_by_default_and_no_augment_turns_it_off(midi_corpus, tmp_path,
                                                                    augmented):
    train(midi_corpus, *MIDI_TINY, "--out", tmp_path / "default")
    assert augmented["settings"] == {(3, 0.05)}
    assert any(not torch.equal(a, b) for a, b in augmented["pieces"])
    augmented["settings"].clear()
    augmented["pieces"].clear()
    train(midi_corpus, *MIDI_TINY, "--no-augment", "--out", tmp_path / "plain")
    assert augmented["pieces"] == []
    assert config_of(tmp_path / "plain")["training"]["augment"] is False
    assert events(tmp_path / "plain")[0]["loss"] != events(tmp_path / "default")[0]["loss"]


def test_transpose_and_stretch_set_the_augmentation_ranges(midi_corpus, tmp_path, augmented):
    train(midi_corpus, *MIDI_TINY, "--steps", "8", "--transpose", "6", "--stretch", "0.3",
          "--out", tmp_path / "wide")
    assert augmented["settings"] == {(6, 0.3)}
    semitones, factors = augmented["semitones"], augmented["factors"]
    assert all(-6 <= s <= 6 for s in semitones) and any(abs(s) > 3 for s in semitones)
    assert all(0.7 <= f <= 1.3 for f in factors) and any(abs(f - 1) > 0.05 for f in factors)
    training_config = config_of(tmp_path / "wide")["training"]
    assert (training_config["transpose"], training_config["stretch"]) == (6, 0.3)


def test_transpose_0_and_stretch_0_leave_every_piece_as_it_is(midi_corpus, tmp_path, augmented):
    train(midi_corpus, *MIDI_TINY, "--steps", "8", "--transpose", "0", "--stretch", "0",
          "--out", tmp_path / "none")
    assert augmented["settings"] == {(0, 0.0)} and len(augmented["pieces"]) >= 3
    assert set(augmented["semitones"]) == {0} and set(augmented["factors"]) == {1.0}
    assert all(torch.equal(a, b) for a, b in augmented["pieces"])


def test_codec_opt_changes_the_tokens_and_is_recorded(midi_corpus, tmp_path):
    train(midi_corpus, *MIDI_TINY, "--out", tmp_path / "fine")
    train(midi_corpus, *MIDI_TINY, "--codec-opt", "resolution_ms=20", "--codec-opt",
          "velocity_bins=8", "--out", tmp_path / "coarse")
    fine, coarse = config_of(tmp_path / "fine"), config_of(tmp_path / "coarse")
    assert coarse["training"]["codec_options"] == {"resolution_ms": 20, "velocity_bins": 8}
    ckpt = load_checkpoint(tmp_path / "coarse")
    assert ckpt.codec.options.resolution_ms == 20 and ckpt.codec.options.velocity_bins == 8
    # 50 time shifts instead of 100, 8 velocity bins instead of 32: 391 - 50 - 24 tokens
    assert (fine["model"]["vocab_size"], coarse["model"]["vocab_size"]) == (391, 317)
    assert ckpt.model.head.out_features == 317


def test_strict_stops_on_a_broken_file_that_is_otherwise_skipped(midi_corpus, tmp_path):
    (midi_corpus / "noise.mid").write_bytes(bytes(range(256)) * 4)
    result = run("train", midi_corpus, *MIDI_TINY, "--strict", "--out", tmp_path / "strict")
    assert result.exit_code == 1, result.output
    line = one_line_error(result.output)
    assert "1 files cannot be used (first: noise.mid:" in line and "drop --strict" in line
    assert not (tmp_path / "strict").exists()
    lenient = train(midi_corpus, *MIDI_TINY, "--out", tmp_path / "lenient")
    assert "1 skipped" in " ".join(lenient.stderr.split())


# ---- sampling --------------------------------------------------------------------------------


def test_sample_unique_drops_duplicates_and_copies_of_training_items(tmp_path):
    lines = ["ab", "ba", "aab", "abb", "bab", "aba", "bba", "baa"] * 3
    corpus = tmp_path / "words.txt"
    corpus.write_text("\n".join(lines) + "\n")
    train(corpus, "--items", "lines", "--hidden", "16", "--batch-size", "4", "--seq-len", "8",
          "--steps", "30", "--eval-interval", "30", "--device", "cpu", "--no-curves",
          "--out", tmp_path / "run")
    args = ["sample", tmp_path / "run", "--num-samples", "40", "--seed", "2", "--max-length", "4"]
    plain = run(*args)
    assert plain.exit_code == 0, plain.output
    samples = plain.stdout.splitlines()
    assert len(samples) == 40
    expected = list(dict.fromkeys(s for s in samples if s not in set(lines)))
    assert len(expected) < 40  # the same seed gives copies and duplicates to drop
    unique = run(*args, "--unique")
    assert unique.exit_code == 0, unique.output
    assert unique.stdout.splitlines() == expected
    copies = sum(s in set(lines) for s in samples)
    duplicates = 40 - copies - len(expected)
    assert (f"--unique dropped {duplicates} duplicate(s) and {copies} cop"
            in " ".join(unique.stderr.split()))
