"""Music controls in training and sampling: each step's controls measured from the pieces as
trained, carried beside the tokens, joined to every step's input, recorded with the model, and
set by a user when sampling (a value, or a ramp along the piece's time)."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from seqgen.cli import app
from seqgen.config import ModelConfig, TrainConfig
from seqgen.data.batching import item_batches
from seqgen.data.codecs.base import Augmentation
from seqgen.data.codecs.midi import MidiCodec
from seqgen.data.controls import ControlScheme, fit_scheme, parse_controls
from seqgen.data.splits import ItemData
from seqgen.errors import UsageError
from seqgen.nn.model import build_generator
from seqgen.nn.steering import Steered, Steering
from seqgen.training.checkpoint import load_checkpoint
from seqgen.training.devices import bf16_native
from seqgen.training.runs import resume, train
from tests.conftest import BACH, CHORALES, ROOT, SHAKESPEARE, one_line_error

runner = CliRunner()
TINY = dict(cell="gru", layers=1, hidden=16, batch_size=4, seq_len=64, steps=4, eval_interval=4,
            device="cpu", curves=False, precision="fp32")


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def chorales(tmp_path_factory) -> Path:
    """Eight chorales: enough for a batch of four and a validation piece."""
    folder = tmp_path_factory.mktemp("chorales")
    for file in sorted(CHORALES.glob("*.mid"))[:8]:
        shutil.copy(file, folder / file.name)
    return folder


@pytest.fixture(scope="module")
def steered_run(chorales, tmp_path_factory) -> Path:
    """A tiny model of the chorales trained with every control they vary in."""
    out = tmp_path_factory.mktemp("steered") / "run"
    train(chorales, TrainConfig(**TINY, controls=("all",), control_bins=3), out)
    return out


def chorale_items(count: int = 3) -> tuple[MidiCodec, list[torch.Tensor]]:
    codec = MidiCodec()
    return codec, [codec.read(file)[0] for file in sorted(CHORALES.glob("*.mid"))[:count]]


# ---- the data ------------------------------------------------------------------------------


@pytest.mark.parametrize("seq_len", [4, 64])  # long items packed into rows; short ones grouped
def test_chunks_carry_each_steps_controls_beside_its_input(seq_len):
    items = [torch.arange(n) + 10 for n in (9, 5, 7)]
    controls = [torch.stack([torch.arange(n - 1), 100 + torch.arange(n - 1)], 1) for n in
                (9, 5, 7)]  # each input step's ids: its position, and 100 + it
    batches = item_batches(items, 2, seq_len, pad=0, controls=controls)
    seen = 0
    for chunk in batches:
        real = chunk.targets != -100
        assert chunk.controls.shape == (*chunk.inputs.shape, 2)
        # a step's ids are those of its item at that step: the input token (10 + position)
        assert torch.equal(chunk.controls[..., 0][real], chunk.inputs[real] - 10)
        assert torch.equal(chunk.controls[..., 1][real], chunk.inputs[real] + 90)
        seen += int(real.sum())
    assert seen == sum(n - 1 for n in (9, 5, 7))


def test_training_measures_the_controls_of_each_piece_as_augmented():
    codec, items = chorale_items(1)
    scheme = fit_scheme(codec, items, ("key", "register"), free=0.0)
    data = ItemData(items, codec, augmentation=Augmentation(transpose=5, stretch=0.0)) \
        .steered(scheme, 0.0)
    plain = scheme.target_ids(codec, items[0])
    moved = 0
    for epoch in range(4):
        chunk = data.batches(1, 10_000, epoch, seed=3, train=True).chunk(0)
        length = items[0].numel() + 1  # the start token and the piece's tokens
        tokens = chunk.inputs[0, 1:length]  # the piece as trained: transposed
        assert torch.equal(chunk.controls[0, :length], scheme.target_ids(codec, tokens))
        moved += not torch.equal(chunk.controls[0, :length], plain)
    assert moved  # a transposed piece is measured in its new key and register


def test_each_control_is_left_free_at_its_chance_for_a_whole_piece():
    codec, items = chorale_items(1)
    scheme = fit_scheme(codec, items, ("density", "key", "register"), free=0.5)
    ids = scheme.target_ids(codec, items[0])
    assert torch.equal(scheme.leave_free(ids, None, 0.0), ids)
    assert (scheme.leave_free(ids, None, 1.0) == scheme.free_ids()).all()
    generator = torch.Generator().manual_seed(0)
    free = torch.stack([(scheme.leave_free(ids, generator) == scheme.free_ids()).all(0)
                        for _ in range(400)])
    assert 0.4 < free.float().mean() < 0.6  # each control, a whole piece at a time
    assert (free.float().mean(0) > 0.35).all()


def test_the_bins_are_fitted_to_the_training_pieces_and_recorded(steered_run):
    ckpt = load_checkpoint(steered_run, "cpu")
    recorded = json.loads((steered_run / "best/config.json").read_text())
    assert recorded["training"]["controls"] == ["all"]
    # the chorales vary in density, key and register; their velocities are all alike
    assert ckpt.controls.names == ("density", "key", "register")
    density = ckpt.controls.by_name()["density"]
    assert density.names == ("low", "mid", "high") and density.low < density.high
    train_data, _ = ckpt.split(ckpt.load_corpus())
    refit = fit_scheme(ckpt.codec, train_data.written, ckpt.controls.names, 3)
    assert refit.bins == ckpt.controls.bins
    assert tuple(ckpt.model.config.control_sizes) == (5, 26, 5)  # bins, none and free


# ---- the model -----------------------------------------------------------------------------


def steered_model(cell: str = "lstm"):
    """A model of two controls, its control embeddings as training might leave them (they
    start at zero: as a model without controls)."""
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=20, cell=cell, hidden_size=12, num_layers=2,
                         control_sizes=(4, 3))
    model = build_generator(config).eval()
    for embedding in model.control_embeddings:
        assert not embedding.weight.any()
        with torch.no_grad():
            embedding.weight[:-1].normal_()  # a control's free id stays at zero
    return model


@pytest.mark.parametrize("cell", ["lstm", "gru", "vanilla"])
def test_a_model_of_controls_reads_each_steps_controls_in_either_path(cell):
    model = steered_model(cell)
    tokens = torch.randint(20, (3, 6))
    controls = torch.stack([torch.randint(4, (3, 6)), torch.randint(3, (3, 6))], -1)
    state = model.init_state(3)
    whole, _ = model(tokens, state, controls=controls)
    stepped = []
    for t in range(6):
        logits, state = model.step(tokens[:, t], state, controls=controls[:, t])
        stepped.append(logits)
    torch.testing.assert_close(torch.stack(stepped, 1), whole, rtol=1e-5, atol=1e-5)
    other, _ = model(tokens, model.init_state(3), controls=controls.flip(0))
    assert not torch.allclose(other, whole)  # the controls change what it predicts
    free = torch.tensor([3, 2]).expand(3, 6, 2)
    unset, _ = model(tokens, model.init_state(3))
    given_free, _ = model(tokens, model.init_state(3), controls=free)
    torch.testing.assert_close(unset, given_free)  # none given: every control free


def test_with_every_control_free_a_model_of_controls_is_the_model_without():
    torch.manual_seed(3)
    plain = build_generator(ModelConfig(vocab_size=20, hidden_size=12, num_layers=2))
    torch.manual_seed(3)
    steered = build_generator(ModelConfig(vocab_size=20, hidden_size=12, num_layers=2,
                                          control_sizes=(4, 3)))
    mine = dict(steered.named_parameters())
    for name, weight in plain.named_parameters():  # the same weights, drawn in the same order
        assert torch.equal(mine.pop(name), weight), name
    assert sorted(mine) == ["control_embeddings.0.weight", "control_embeddings.1.weight"]
    tokens = torch.randint(20, (2, 5))
    free = torch.tensor([3, 2]).expand(2, 5, 2)
    expected, _ = plain.eval()(tokens, plain.init_state(2))
    for given in (None, free, torch.zeros(2, 5, 2, dtype=torch.long)):  # zeros: as it starts
        got, _ = steered.eval()(tokens, steered.init_state(2), controls=given)
        torch.testing.assert_close(got, expected)


class Recorder:
    """A model that records the controls it is given."""

    def __init__(self, model):
        self.model, self.given = model, []
        self.head = model.head

    def init_state(self, *args):
        return self.model.init_state(*args)

    def __call__(self, tokens, state, labels=None, controls=None):
        self.given.append(controls)
        return self.model(tokens, state, labels, controls=controls)

    def step(self, tokens, state, labels=None, controls=None):
        self.given.append(controls[:, None])
        return self.model.step(tokens, state, labels, controls=controls)


def test_sampling_gives_each_step_the_controls_at_the_time_of_the_token_it_predicts():
    codec, items = chorale_items(2)
    scheme = fit_scheme(codec, items, ("density", "register"), free=0.0)
    model = build_generator(ModelConfig(vocab_size=codec.size, cell="gru", hidden_size=8,
                                        num_layers=1, control_sizes=scheme.sizes)).eval()
    settings = parse_controls(["density=2@0s,12@3s"], scheme.by_name())
    recorder = Recorder(model)
    steered = Steered(recorder, Steering.of(scheme, settings, codec, guidance=1.0))
    tokens = items[0][:40].long()[None]
    state = steered.init_state(1)
    _, state = steered(tokens[:, :25], state)
    for t in range(25, 40):
        _, state = steered.step(tokens[:, t], state)
    given = torch.cat(recorder.given, 1)[0]
    # the time of the token each step predicts: the seconds of every token up to its input
    times = codec.token_seconds().double()[tokens[0]].cumsum(0)
    assert torch.equal(given[:, 0], settings["density"].bins_at(times, scheme.bins[0]))
    assert (given[:, 1] == scheme.bins[1].states).all()  # register not set: free
    assert given[:, 0].unique().numel() > 1  # the ramp crosses bins
    assert state[1].item() == pytest.approx(float(times[-1]))


def test_guidance_moves_each_step_further_from_the_free_model_as_the_controls_move_it():
    codec, items = chorale_items(1)
    scheme = fit_scheme(codec, items, ("density", "register"), free=0.0)
    torch.manual_seed(1)
    model = build_generator(ModelConfig(vocab_size=codec.size, cell="gru", hidden_size=8,
                                        num_layers=1, control_sizes=scheme.sizes)).eval()
    for embedding in model.control_embeddings:
        with torch.no_grad():
            embedding.weight[:-1].normal_()
    settings = parse_controls(["density=very-high"], scheme.by_name())
    tokens = items[0][:30].long()[None]
    plain = Steered(model, Steering.of(scheme, settings, codec, guidance=1.0))
    guided = Steered(model, Steering.of(scheme, settings, codec, guidance=3.0))
    unset = Steered(model, Steering.of(scheme, {}, codec, guidance=3.0))
    given, _ = plain(tokens, plain.init_state(1))
    free, _ = unset(tokens, unset.init_state(1))  # no control set: nothing to guide
    assert len(unset.init_state(1)) == 2 and len(guided.init_state(1)) == 3
    state = guided.init_state(1)
    whole, state = guided(tokens[:, :20], state)
    steps = [whole]
    for t in range(20, 30):
        logits, state = guided.step(tokens[:, t], state)
        steps.append(logits[:, None])
    expected = free.log_softmax(-1) + 3.0 * (given.log_softmax(-1) - free.log_softmax(-1))
    torch.testing.assert_close(torch.cat(steps, 1), expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(UsageError, match="--guidance must be at least 1, not 0.5"):
        Steering.of(scheme, settings, codec, guidance=0.5)


# ---- the command line ----------------------------------------------------------------------


def test_a_model_of_controls_samples_constant_and_ramped_controls_and_evaluates_free(
        steered_run, tmp_path):
    for index, controls in enumerate((["--control", "density=high", "--control", "key=D-major"],
                                      ["--control", "register=50@0s,70@3s", "--control",
                                       "density=4"], [])):
        out = tmp_path / f"{index}"
        result = run("sample", steered_run, *controls, "--length", "4s", "--num-samples", "2",
                     "--seed", "1", "--quiet", "--out", f"{out}/", "--device", "cpu")
        assert result.exit_code == 0, result.output
        assert len(list(out.glob("*.mid"))) == 2
    result = run("eval", steered_run, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "with every control free" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--control", "tempo=3"], "--control: no control 'tempo': give any of density, key, "
                               "register, dynamics"),
    (["--control", "dynamics=80"], "--control dynamics=80: the model was not trained with "
                                   "dynamics: its controls are density, key, register"),
    (["--control", "density=500"], "--control density=500: out of range: give a bin (low, mid, "
                                   "high) or a number of notes/s from 0 to 100"),
    (["--control", "key=H-major"], "--control key=H-major: not a key: give a key such as"),
    (["--control", "density"], "--control 'density': give NAME=VALUE"),
    (["--control", "density=2@5s,4@1s"], "the times of a ramp must rise"),
    (["--control", "density=2", "--control", "density=3"], "density given twice"),
    (["--guidance", "2"], "--guidance says how far to follow the controls set: give --control"),
    (["--control", "key=C", "--guidance", "0"], "--guidance must be at least 1, not 0"),
])
def test_a_bad_control_when_sampling_is_a_one_line_error(steered_run, tmp_path, args, message):
    result = run("sample", steered_run, *args, "--length", "2s", "--out", f"{tmp_path}/")
    assert result.exit_code == 2, result.output
    assert message in one_line_error(result.output)
    assert list(tmp_path.iterdir()) == []


def test_a_model_without_controls_refuses_them(tmp_path):
    result = run("sample", BACH, "--control", "density=3", "--out", f"{tmp_path}/")
    assert result.exit_code == 2
    assert "was trained without music controls: drop --control" in one_line_error(result.output)


@pytest.mark.parametrize(("corpus", "args", "message"), [
    (CHORALES, ["--controls", "density,tempo"], "--controls: no control 'tempo': give any of "
                                               "density, key, register, dynamics, or all"),
    (CHORALES, ["--controls", "key,key"], "--controls: key named twice"),
    (CHORALES, ["--controls", "key", "--arch", "many-to-one", "--label-from", "stem"],
      "--controls is for --arch many-to-many, one-to-many or encoder-decoder, not many-to-one"),
    (CHORALES, ["--controls", "key", "--control-bins", "0"], "--control-bins must be at least 1"),
    (CHORALES, ["--controls", "key", "--control-free", "1"], "--control-free must be at least 0 "
                                                            "and below 1"),
    (SHAKESPEARE, ["--controls", "key"], "--controls: the char codec cannot measure key: it "
                                         "measures none"),
])
def test_a_bad_control_when_training_is_a_one_line_error(tmp_path, corpus, args, message):
    result = run("train", corpus, *args, "--steps", "1", "--out", tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert message in one_line_error(result.output)
    assert not (tmp_path / "run" / "best").exists()


def test_train_help_lists_the_controls_each_codec_measures():
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "400"})
    assert "midi: density, key, register, dynamics; parts: density, key, register" in \
        " ".join(result.output.split())


# ---- every architecture, resume, processes -------------------------------------------------


def test_an_interrupted_run_with_controls_resumes_to_the_same_weights(chorales, tmp_path):
    from tests.test_training import assert_resumes_to_the_same_weights

    config = TrainConfig(**TINY | dict(steps=6, eval_interval=2, log_interval=1),
                         controls=("density", "key"), control_free=0.5)
    assert_resumes_to_the_same_weights(chorales, config, tmp_path, at=3)
    with pytest.raises(UsageError, match="cannot change controls when resuming"):
        resume(tmp_path / "cut", {"controls": ("key",), "steps": 8})


def test_one_to_many_and_an_encoder_decoder_are_steered(chorales, tmp_path):
    train(chorales, TrainConfig(**TINY, arch="one-to-many", controls=("density",)),
          tmp_path / "one")
    pairs = shutil.copytree(chorales, tmp_path / "pairs")  # declared as the harmoniser's are
    (pairs / "seqgen.json").write_text(json.dumps({
        "source_track": "Soprano", "format": "parts",
        "codec_options": {"voices": 3, "step_ms": 250}}), encoding="utf-8")
    train(pairs, TrainConfig(**TINY, arch="encoder-decoder", controls=("density", "register")),
          tmp_path / "two")
    assert load_checkpoint(tmp_path / "two", "cpu").controls.names == ("density", "register")
    source = sorted(pairs.glob("*.mid"))[0]
    for model, extra in ((tmp_path / "one", ["--length", "3s"]),
                         (tmp_path / "two", ["--input", f"@{source}", "--max-length", "40"])):
        result = run("sample", model, "--control", "density=high", *extra, "--seed", "2",
                     "--quiet", "--out", f"{tmp_path / model.name}-out/", "--device", "cpu")
        assert result.exit_code == 0, result.output


def test_a_plugin_codec_that_declares_controls_trains_and_is_steered(tmp_path):
    pytest.importorskip("seqgen_abc", reason="the seqgen-abc example plugin is not installed")
    tunes = tmp_path / "tunes"
    shutil.copytree(ROOT / "corpora" / "abc-tunes", tunes, ignore=lambda folder, names: sorted(
        name for name in names if name.endswith(".abc"))[10:])
    train(tunes, TrainConfig(**TINY, controls=("all",)), tmp_path / "run")
    ckpt = load_checkpoint(tmp_path / "run", "cpu")
    assert set(ckpt.controls.names) <= {"density", "key", "register"}
    result = run("sample", tmp_path / "run", "--control", "key=G-major", "--length", "40",
                 "--seed", "0", "--quiet", "--out", f"{tmp_path}/out/", "--device", "cpu")
    assert result.exit_code == 0, result.output


@pytest.mark.skipif(not bf16_native("cpu"), reason="this CPU has no native bf16, where seqgen "
                    "refuses --precision bf16 (a test of its own); auto trains in fp32 here")
def test_bf16_trains_and_samples_a_model_of_controls(chorales, tmp_path):
    train(chorales, TrainConfig(**TINY | dict(precision="bf16"), controls=("register",)),
          tmp_path / "run")
    result = run("sample", tmp_path / "run", "--control", "register=low", "--length", "2s",
                 "--quiet", "--out", f"{tmp_path}/out/", "--device", "cpu")
    assert result.exit_code == 0, result.output


def test_a_scheme_reads_back_from_json():
    codec, items = chorale_items(2)
    scheme = fit_scheme(codec, items, ("density", "key"), 5, window=3.0, free=0.1)
    assert ControlScheme.from_json(json.loads(json.dumps(scheme.to_json()))) == scheme
