"""The encoder-decoder model: padding never reaches the encoder's outputs, teacher forcing and
step-by-step decoding agree, every attention and cell works, and beam search finds what a
greedy search finds and better; a clock counts each token's seconds, across chunks too; a
codec's rules hold every output."""

import math
from itertools import pairwise

import pytest
import torch

import seqgen
from seqgen.config import ModelConfig
from seqgen.data.codecs.base import Codec
from seqgen.errors import UsageError
from seqgen.nn.beam import beam_search
from seqgen.nn.build import build_model
from seqgen.nn.clock import Clock
from seqgen.nn.constraints import STRICT, Constraints, RuleWeights
from seqgen.nn.encoder import reverse_within
from seqgen.nn.sampling import SamplingOptions, generate, generate_targets
from seqgen.nn.seq2seq import Decoding, build_seq2seq

VOCAB, SOURCE_VOCAB = 9, 7
# a clock's seconds per token: source tokens 5 and 6, target tokens 7 and 8 take time
SOURCE_SECONDS = torch.tensor([0, 0, 0, 0, 0, 0.5, 0.25])
TARGET_SECONDS = torch.tensor([0, 0, 0, 0, 0, 0, 0, 0.5, 0.1])


def seq2seq(cell: str = "lstm", target_seconds: torch.Tensor = TARGET_SECONDS,
            **options) -> torch.nn.Module:
    torch.manual_seed(0)
    config = ModelConfig(VOCAB, cell, hidden_size=8, num_layers=2, arch="encoder-decoder",
                         source_vocab_size=SOURCE_VOCAB, **options)
    seconds = (SOURCE_SECONDS, target_seconds) if config.clock_size else None
    return build_seq2seq(config, seconds).double().eval()


SOURCES = [torch.tensor([3, 4, 5, 6, 3]), torch.tensor([4, 4]), torch.tensor([6, 5, 3])]


def padded(sources: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([s.numel() for s in sources])
    batch = torch.zeros(len(sources), int(lengths.max()), dtype=torch.long)
    for row, source in enumerate(sources):
        batch[row, : source.numel()] = source
    return batch, lengths


def test_reverse_within_keeps_padding_in_place():
    x = torch.arange(8).view(2, 4)
    assert reverse_within(x, torch.tensor([3, 4])).tolist() == [[2, 1, 0, 3], [7, 6, 5, 4]]


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("cell", ["lstm", "gru", "vanilla", "tiny"])
def test_a_padded_batch_encodes_each_item_as_alone(cell, bidirectional, tiny_cell):
    model = seq2seq(cell, bidirectional=bidirectional, encoder_layers=2)
    batch, lengths = padded(SOURCES)
    outputs, mask, final = model.encoder(batch, lengths)
    assert outputs.size(-1) == 8
    for row, source in enumerate(SOURCES):
        alone, _, alone_final = model.encoder(source[None], torch.tensor([source.numel()]))
        n = source.numel()
        torch.testing.assert_close(outputs[row, :n], alone[0])
        assert (outputs[row, n:] == 0).all() and mask[row].sum() == n
        torch.testing.assert_close(final[row], alone_final[0])


@pytest.mark.parametrize("options", [
    {}, {"attention": "dot"}, {"attention": "additive"}, {"attention": "none"},
    {"input_feeding": True}, {"attention": "additive", "input_feeding": True},
    {"encoder_hidden": 5, "encoder_layers": 1, "bidirectional": False},
    {"clock_size": 4}, {"clock_size": 4, "attention": "none"},
    {"clock_size": 4, "attention": "dot"},
    {"clock_size": 4, "attention": "additive", "input_feeding": True},
])
def test_teacher_forcing_and_stepping_agree(options):
    model = seq2seq(**options)
    batch, lengths = padded(SOURCES)
    targets = torch.tensor([[1, 3, 4, 5], [1, 6, 6, 7], [1, 8, 3, 3]])
    logits, _ = model(targets, None, None, batch, lengths)
    assert logits.shape == (3, 4, VOCAB)
    decoding = Decoding(model, SOURCES)
    state = decoding.init_state(3)
    for t in range(4):
        step_logits, state = decoding.step(targets[:, t], state)
        torch.testing.assert_close(step_logits, logits[:, t])


def test_a_clock_adds_up_seconds_and_gives_their_sines_and_cosines():
    clock = Clock(torch.tensor([0.0, 0.5, 2.0]), 4)
    times = clock.times(torch.tensor([[1, 0, 2], [2, 2, 1]]), torch.tensor([1.0, 0.0]))
    assert times.tolist() == [[1.5, 1.5, 3.5], [2.0, 4.0, 4.5]]
    features = clock(torch.tensor([0.0, 0.025]))
    torch.testing.assert_close(features[0], torch.tensor([0.0, 0.0, 1.0, 1.0]))
    assert features[1, 0] == pytest.approx(1.0)  # a quarter of the shortest period, 0.1 s
    with pytest.raises(ValueError, match="a clock's size must be an even number"):
        Clock(torch.zeros(3), 5)


@pytest.mark.parametrize("input_feeding", [False, True])
def test_a_target_in_two_chunks_keeps_its_clock_running(input_feeding):
    model = seq2seq(clock_size=4, input_feeding=input_feeding)
    batch, lengths = padded(SOURCES)
    targets = torch.tensor([[1, 7, 7, 8, 3], [1, 8, 3, 7, 7], [1, 3, 3, 3, 8]])
    whole, state = model(targets, None, None, batch, lengths)
    first, carried = model(targets[:, :2], None, None, batch, lengths)
    second, _ = model(targets[:, 2:], carried, None, batch, lengths)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    torch.testing.assert_close(state[-1], torch.tensor([1.1, 1.1, 0.1], dtype=torch.double))


def test_each_decoder_time_reads_the_source_where_it_is_then():
    model = seq2seq(clock_size=4)
    batch, lengths = padded(SOURCES)
    memory = model.encode(batch, lengths)  # source times [0, 0, .5, .75, .75], [0, 0], ...
    times = torch.tensor([[0.0, 0.6, 0.75, 5.0], [0.0, 0.0, 3.0, 3.0], [0.1, 0.5, 0.6, 0.8]],
                         dtype=torch.double)
    found = model.source_at(times, memory)
    expected = [[1, 2, 4, 4], [1, 1, 1, 1], [0, 0, 0, 2]]  # [6, 5, 3]: [.25, .75, .75]
    for row, positions in enumerate(expected):
        torch.testing.assert_close(found[row], memory.outputs[row, positions])


def test_the_decoder_hears_its_clock():
    """The same tokens taking other times give other logits, from the step after the first
    token that takes time (and the same ones before it)."""
    batch, lengths = padded(SOURCES)
    targets = torch.tensor([[1, 3, 7, 3]])
    logits = [seq2seq(clock_size=4, target_seconds=seconds)(
        targets, None, None, batch[:1], lengths[:1])[0]
        for seconds in (TARGET_SECONDS, TARGET_SECONDS * 3)]
    torch.testing.assert_close(logits[0][:, :2], logits[1][:, :2])
    assert not torch.allclose(logits[0][:, 2:], logits[1][:, 2:])


def test_dot_attention_needs_matching_sizes():
    with pytest.raises(UsageError, match="--attention dot needs the encoder's outputs"):
        seq2seq(attention="dot", encoder_hidden=8, bidirectional=True)


def test_attention_weights_cover_each_source_only():
    model = seq2seq()
    weights = model.attention_weights(SOURCES[1], torch.tensor([1, 3, 4]))
    assert weights.shape == (3, 2)
    torch.testing.assert_close(weights.sum(1), torch.ones(3, dtype=weights.dtype))


def log_probability(model, sources, tokens: list[int], ended: bool = True) -> float:
    """log p(tokens, then EOS where ``ended`` | the first source) under the model."""
    decoding = Decoding(model, sources[:1])
    inputs = torch.tensor([[1] + tokens])
    logits, _ = decoding(inputs, decoding.init_state(1))
    log_probs = logits[0].log_softmax(-1)
    return sum(log_probs[i, t].item() for i, t in enumerate(tokens + [2] * ended))


@pytest.mark.parametrize("options", [{}, {"clock_size": 4}])
def test_beam_one_is_greedy_and_a_wider_beam_is_no_worse(options):
    model = seq2seq(**options)
    decoding = Decoding(model, SOURCES)
    prompt = torch.tensor([1])
    limits = Constraints(stop_token=2, min_length=1, banned=[0, 1])
    greedy = generate(decoding, prompt, 12, 3, SamplingOptions(temperature=1e-6), seed=0,
                      constraints=limits)
    beam_one = beam_search(decoding, prompt, 12, 1, 3, constraints=limits,
                           alpha=0.0)  # scores as the wide beam's: unnormalised
    assert [row[0].tokens.tolist() for row in beam_one] == [g.tolist() for g in greedy]
    wide = beam_search(decoding, prompt, 12, 4, 3, constraints=limits, alpha=0.0,
                       num_return=3)
    for row, found in enumerate(wide):
        assert len(found) == 3 and found[0].score >= found[1].score >= found[2].score
        best = found[0].tokens.tolist()
        score = log_probability(model, SOURCES[row:], best, ended=len(best) < 12)
        assert math.isclose(found[0].score, score, rel_tol=1e-6)
        assert found[0].score >= beam_one[row][0].score - 1e-9


def test_beam_search_of_a_generator_keeps_labels_and_ends():
    torch.manual_seed(0)
    model = build_model(ModelConfig(VOCAB, "gru", hidden_size=8, num_layers=1,
                                    arch="one-to-many", num_labels=2)).eval()
    found = beam_search(model, torch.tensor([1]), 10, 3, labels=torch.tensor([1]),
                        constraints=Constraints(stop_token=2, banned=[0, 1]), num_return=3)
    assert len(found) == 1 and len(found[0]) == 3
    assert all(2 not in h.tokens.tolist() for h in found[0])
    stream = beam_search(model, torch.tensor([4]), 7, 2, labels=torch.tensor([0]))
    assert stream[0][0].tokens.numel() == 7


class NoRepeats(seqgen.Rules):  # as a plugin writes them
    """A plugin's rules: never a token twice in a row, nor one token it avoids."""

    def __init__(self, avoid: int, last: int | None = None) -> None:
        self.avoid, self.last = avoid, last

    def forbidden(self) -> list[int]:
        return [self.avoid] + ([] if self.last is None else [self.last])

    def after(self, token: int) -> "NoRepeats":
        return NoRepeats(self.avoid, token)


class RuledCodec(Codec):
    name, size = "ruled", VOCAB

    def rules(self, source: torch.Tensor) -> NoRepeats:
        return NoRepeats(AVOIDED)


AVOIDED = 7  # what the untrained model writes first


def broken(output: torch.Tensor) -> bool:
    tokens = output.tolist()
    return AVOIDED in tokens or any(a == b for a, b in pairwise(tokens))


@pytest.mark.parametrize("beam", [0, 3])
def test_outputs_keep_their_codecs_rules(beam):
    model = seq2seq()
    ruled = generate_targets(model, RuledCodec(), SOURCES, 30, 2 if not beam else 1, seed=0,
                             beam=beam, options=None if beam else SamplingOptions(2.0),
                             rules=STRICT)
    free = generate_targets(model, RuledCodec(), SOURCES, 30, 2 if not beam else 1, seed=0,
                            beam=beam, options=None if beam else SamplingOptions(2.0))
    assert not any(broken(output) for row in ruled for output in row)
    assert any(broken(output) for row in free for output in row)


def test_rule_weights_range_from_leaving_rules_out_to_never_breaking_them():
    def outputs(rules):
        return [o.tolist() for row in generate_targets(
            seq2seq(), RuledCodec(), SOURCES, 30, 8, SamplingOptions(2.0), seed=0,
            rules=rules) for o in row]

    def breaks(rows):
        return sum(broken(torch.tensor(row)) for row in rows)

    free, weightless = outputs(None), outputs(RuleWeights({"rules": 0.0}))
    assert weightless == free  # a weight of 0 changes nothing
    assert outputs(RuleWeights({"rules": -1e9})) == outputs(STRICT)
    weighed = outputs(RuleWeights({"rules": -2.0}))
    assert 0 < breaks(weighed) < breaks(free)


def test_the_network_weight_samples_as_a_temperature_does():
    def outputs(temperature, network):
        return [o.tolist() for row in generate_targets(
            seq2seq(), RuledCodec(), SOURCES, 30, 8, SamplingOptions(temperature), seed=0,
            rules=RuleWeights({"rules": 0.0}, network=network)) for o in row]

    assert outputs(2.0, 2.0) == outputs(1.0, 1.0)
    assert outputs(2.0, 2.0) != outputs(2.0, 1.0)


def test_rules_need_a_codec_that_has_them():
    with pytest.raises(UsageError, match="the ruleless codec has no rules to write by: "
                                         "drop --rules"):
        generate_targets(seq2seq(), type("Ruleless", (Codec,), {"name": "ruleless"})(),
                         SOURCES, 5, rules=STRICT)


def test_rules_define_forbidden_or_broken():
    assert sorted(NoRepeats(AVOIDED, 3).broken()["rules"]) == [3, AVOIDED]
    with pytest.raises(NotImplementedError, match=r"defines forbidden\(\) or broken\(\)"):
        seqgen.Rules().broken()
