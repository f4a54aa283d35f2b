"""Rule weights fitted by maximum likelihood (seqgen.training.rule_fit), and their file."""

import pytest
import torch

import seqgen
from seqgen.config import ModelConfig
from seqgen.data.codec import Codec
from seqgen.data.splits import PairData
from seqgen.errors import SeqgenError
from seqgen.nn.build import build_model
from seqgen.training.checkpoint import RULES, read_rule_weights, write_rule_fit
from seqgen.training.rule_fit import (
    FLOOR,
    ROUNDS,
    expected_rates,
    fit_rule_weights,
    loss_sum,
    minimise,
    rate_gap,
    rule_steps,
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
    assert fit.pairs == 40 and fit.steps == 40 * 13  # every step has a rule to break
    assert len(fit.own_rates) == ROUNDS and fit.weights != fit.likeliest
    steps = rule_steps(net, codec, train)
    weights = torch.tensor([fit.likeliest[rule] for rule in steps.rules])
    repeat = steps.rules.index("repeat")
    breaks = steps.rule_matrix()[:, repeat]  # [patterns]
    shift = steps.rule_matrix() @ weights
    expected = ((steps.masses + shift).softmax(1) * breaks).sum()
    observed = breaks[steps.came].sum()
    assert observed > 0
    # the likelihood's gradient in a weight: observed breaks less expected ones, zero at the fit
    torch.testing.assert_close(expected, observed, rtol=1e-3, atol=0)
    assert loss_sum(steps, weights) < loss_sum(steps, torch.zeros(len(steps.rules)))
    assert fit.corpus_rates["repeat"] == pytest.approx(float(observed) / steps.tokens)
    before, after = fit.val_loss
    assert after < before  # the weights that are kept help on held-out pairs too


def test_matched_weights_meet_the_rates_asked_for():
    net, codec = model(), NamedCodec()
    steps = rule_steps(net, codec, pairs(20, seed=3))
    rates = torch.tensor([0.02, 0.001])  # "repeat", "eight": both rarer than untrained
    assert steps.rules == ["repeat", "eight"]
    assert (expected_rates(steps, torch.zeros(2)) > 5 * rates).all()
    weights = minimise(lambda w: rate_gap(steps, w, rates) / steps.tokens,
                       torch.tensor([False, False]))
    assert (weights < 0).all()
    torch.testing.assert_close(expected_rates(steps, weights), rates, rtol=1e-3, atol=0)


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
    write_rule_fit(tmp_path, {"weights": {"parallel fifths": -1.5}, "pairs": 3})
    weights = read_rule_weights(tmp_path / RULES)
    assert weights.of("parallel fifths") == -1.5 and weights.of("unnamed") == 0.0
    assert [p.name for p in tmp_path.iterdir()] == [RULES]  # no temporary file left
    assert read_rule_weights(tmp_path / "missing.json") is None
    (tmp_path / RULES).write_text('{"weights": {"parallel fifths": "low"}}')
    with pytest.raises(SeqgenError, match="rules.json is damaged: its weights are not numbers"):
        read_rule_weights(tmp_path / RULES)
