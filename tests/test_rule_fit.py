"""The network's and the rules' weights fitted by seqgen.training.rule_fit, and their file."""

import pytest
import torch

import seqgen
from seqgen.config import ModelConfig
from seqgen.data.codecs.base import Codec
from seqgen.data.splits import PairData
from seqgen.errors import SeqgenError
from seqgen.nn.build import build_model
from seqgen.training import rule_fit
from seqgen.training.checkpoint import RULES, read_rule_weights, write_rule_fit
from seqgen.training.rule_fit import (
    FLOOR,
    PER_ROUND,
    ROUNDS,
    drawn_pairs,
    expected,
    fit_rule_weights,
    log_likelihood,
    loss_sum,
    mean_of,
    minimise,
    moment_gap,
    read_steps,
)

VOCAB, NEVER = 9, 8  # the corpus below never writes token 8


class Named(seqgen.Rules):  # as a plugin names its rules
    """No token twice in a row ("repeat"), and never token 8 ("eight")."""

    def __init__(self, last: int | None = None) -> None:
        self.last = last

    def broken(self) -> dict[str, list[int]]:
        return {"repeat": [] if self.last is None else [self.last], "eight": [NEVER]}

    def after(self, token: int) -> "Named":
        return Named(token)


class NamedCodec(Codec):
    name, size = "named", VOCAB

    def rules(self, source: torch.Tensor) -> Named:
        return Named()


def pairs(count: int, seed: int) -> PairData:
    """Sources and targets of tokens 3..7 drawn at random: a target repeats its last token
    about one step in five."""
    generator = torch.Generator().manual_seed(seed)
    sources = [torch.randint(3, 7, (int(torch.randint(2, 6, (), generator=generator)),),
                             generator=generator) for _ in range(count)]
    targets = [torch.randint(3, NEVER, (12,), generator=generator) for _ in range(count)]
    codec = NamedCodec()
    return PairData(sources, targets, codec, codec)


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    config = ModelConfig(VOCAB, "gru", hidden_size=8, num_layers=1, arch="encoder-decoder",
                         source_vocab_size=7)
    return build_model(config).eval()


def test_likeliest_weights_make_the_model_break_each_rule_as_often_as_the_corpus():
    net, codec, train = model(), NamedCodec(), pairs(40, seed=1)
    fit = fit_rule_weights(net, codec, train, pairs(10, seed=2))
    assert fit.weights["eight"] == fit.likeliest["eight"] == FLOOR  # never broken: never
    assert fit.pairs == 40 and fit.tokens == 40 * 13
    assert len(fit.own_rates) == len(fit.own_log_likelihood) == ROUNDS
    assert fit.weights != fit.likeliest
    steps = read_steps(net, codec, train, "fp32")
    assert steps.rules == ["repeat", "eight"]
    likeliest = torch.tensor([fit.likeliest_network_weight, *fit.likeliest.values()])
    observed = torch.tensor([log_likelihood(net, codec, train, "fp32"),
                             *(steps.breaks() / len(steps))])
    assert observed[1] > 0
    # the likelihood's gradient in a weight is what the corpus has of its feature less what
    # the model expects: zero at the fit, for the network's log-probability and each rule
    torch.testing.assert_close(expected(steps, likeliest), observed, rtol=1e-3, atol=1e-6)
    assert mean_of(loss_sum, steps, likeliest) < mean_of(loss_sum, steps,
                                                         torch.tensor([1.0, 0.0, 0.0]))
    assert fit.corpus_rates["repeat"] == pytest.approx(float(observed[1]))
    # each round matches the log-probability of the training targets of its own sources
    first = drawn_pairs(train, PER_ROUND, torch.Generator().manual_seed(0))
    assert len(fit.corpus_log_likelihood) == ROUNDS
    assert fit.corpus_log_likelihood[0] == pytest.approx(
        log_likelihood(net, codec, first, "fp32"))
    assert fit.corpus_log_likelihood[0] != pytest.approx(float(observed[0]))
    before, after = fit.val_loss
    assert after < before  # the weights that are kept help on held-out pairs too


@pytest.mark.parametrize("network", [1.5, 0.7])
def test_matched_weights_meet_the_moments_asked_for(network):
    net, codec = model(), NamedCodec()
    steps = read_steps(net, codec, pairs(20, seed=3), "fp32")
    # what a model with known weights expects: "repeat" and "eight" rarer than untrained, the
    # network surer (or less sure) of its tokens
    known = torch.tensor([network, -2.0, -3.0])
    targets = expected(steps, known)
    untouched = expected(steps, torch.tensor([1.0, 0.0, 0.0]))
    assert (untouched[1:] > 2 * targets[1:]).all()
    assert (targets[0] > untouched[0]) == (network > 1)
    weights = minimise(lambda at, w: moment_gap(at, w, targets), steps,
                       torch.tensor([False, False]))
    # to 1% (float32 sums over every step and token)
    torch.testing.assert_close(expected(steps, weights), targets, rtol=1e-2, atol=0)
    torch.testing.assert_close(weights, known, rtol=1e-2, atol=0)  # one set of weights does


def test_sums_over_chunks_of_steps_are_the_sums_over_all(monkeypatch):
    net, codec = model(), NamedCodec()
    steps = read_steps(net, codec, pairs(20, seed=3), "fp32")
    weights = torch.tensor([1.3, -1.0, -2.0])
    targets = torch.tensor([-1.9, 0.02, 0.001])
    whole = (expected(steps, weights), mean_of(loss_sum, steps, weights),
             minimise(lambda at, w: moment_gap(at, w, targets), steps,
                      torch.tensor([False, False])))
    monkeypatch.setattr(rule_fit, "CHUNK", 7)  # 260 steps: 38 chunks, the last of 1
    assert len(list(steps.chunks())) == 38
    chunked = (expected(steps, weights), mean_of(loss_sum, steps, weights),
               minimise(lambda at, w: moment_gap(at, w, targets), steps,
                        torch.tensor([False, False])))
    torch.testing.assert_close(chunked[0], whole[0])
    assert chunked[1] == pytest.approx(whole[1], rel=1e-6)
    torch.testing.assert_close(chunked[2], whole[2], rtol=1e-3, atol=0)  # float32 sums


def test_a_codec_whose_rules_never_apply_has_no_fit():
    class Idle(seqgen.Rules):
        def broken(self) -> dict[str, list[int]]:
            return {"repeat": []}

        def after(self, token: int) -> "Idle":
            return self

    class IdleCodec(NamedCodec):
        def rules(self, source: torch.Tensor) -> Idle:
            return Idle()

    train = pairs(5, seed=1)
    assert fit_rule_weights(model(), IdleCodec(), PairData(train.sources, train.targets,
                                                           IdleCodec(), IdleCodec()),
                            pairs(2, seed=2)) is None


def test_rule_weights_file_round_trips_and_rejects_damage(tmp_path):
    write_rule_fit(tmp_path, {"weights": {"parallel fifths": -1.5}, "network_weight": 1.25,
                              "pairs": 3})
    weights = read_rule_weights(tmp_path / RULES)
    assert weights.of("parallel fifths") == -1.5 and weights.of("unnamed") == 0.0
    assert weights.network == 1.25
    assert [p.name for p in tmp_path.iterdir()] == [RULES]  # no temporary file left
    assert read_rule_weights(tmp_path / "missing.json") is None
    (tmp_path / RULES).write_text('{"weights": {"parallel fifths": -1.5}}')  # before networks
    assert read_rule_weights(tmp_path / RULES).network == 1.0
    (tmp_path / RULES).write_text('{"weights": {"parallel fifths": "low"}}')
    with pytest.raises(SeqgenError, match="rules.json is damaged: its weights are not numbers"):
        read_rule_weights(tmp_path / RULES)
    (tmp_path / RULES).write_text('{"weights": {}, "network_weight": 0}')
    with pytest.raises(SeqgenError, match="damaged: its network_weight is not a number above 0"):
        read_rule_weights(tmp_path / RULES)
