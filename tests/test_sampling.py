"""Sampling: logits filters, reproducibility, linear cost, and bad options."""

import pytest
import torch

from seqgen.errors import UsageError
from seqgen.nn.sampling import (
    SamplingOptions,
    filter_logits,
    generate_text,
    nucleus,
    parse_length,
)
from seqgen.training.checkpoint import load_checkpoint


def test_top_k_keeps_the_k_largest():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    kept = filter_logits(logits, SamplingOptions(top_k=2)).isfinite()
    assert kept.tolist() == [[False, True, True, False]]


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    keep = lambda p: filter_logits(logits, SamplingOptions(top_p=p)).isfinite().tolist()  # noqa: E731
    assert keep(0.5) == [[True, False, False, False]]
    assert keep(0.6) == [[True, True, False, False]]
    assert keep(0.9) == [[True, True, True, False]]
    assert keep(1.0) == [[True, True, True, True]]


def test_temperature_divides_the_logits_less_their_largest():
    logits = torch.tensor([[2.0, 4.0]])
    assert filter_logits(logits, SamplingOptions(temperature=2.0)).tolist() == [[-1.0, 0.0]]
    tiny = filter_logits(logits, SamplingOptions(temperature=1e-45)).softmax(-1)
    assert tiny.tolist() == [[0.0, 1.0]]  # the likeliest token, not NaN


@pytest.mark.parametrize(("options", "message"), [
    (dict(temperature=0), "--temperature must be greater than 0"),
    (dict(temperature=-1), "--temperature must be greater than 0"),
    (dict(temperature=float("nan")), "--temperature must be greater than 0"),
    (dict(top_p=0), r"--top-p must be in \(0, 1\]"),
    (dict(top_p=1.5), r"--top-p must be in \(0, 1\]"),
    (dict(top_k=-1), "--top-k must be 0"),
])
def test_bad_sampling_options_are_refused_when_made(options, message):
    with pytest.raises(UsageError, match=message):
        SamplingOptions(**options)


def test_same_seed_same_samples_and_primer_in_front(trained_run):
    ckpt = load_checkpoint(trained_run)
    a = generate_text(ckpt.model, ckpt.codec, "Speak", 40, num_samples=3, seed=7)
    b = generate_text(ckpt.model, ckpt.codec, "Speak", 40, num_samples=3, seed=7)
    c = generate_text(ckpt.model, ckpt.codec, "Speak", 40, num_samples=3, seed=8)
    assert a == b and a != c
    assert len(a) == 3 and all(t.startswith("Speak") and len(t) == 45 for t in a)


def test_sampling_reads_the_primer_once_then_steps_once_per_token(trained_run, monkeypatch):
    ckpt = load_checkpoint(trained_run)
    calls = {"forward": 0, "step": 0}
    forward, step = ckpt.model.forward, ckpt.model.step

    def counting(name, fn):
        def wrapped(*args):
            calls[name] += 1
            return fn(*args)
        return wrapped

    monkeypatch.setattr(ckpt.model, "forward", counting("forward", forward))
    monkeypatch.setattr(ckpt.model, "step", counting("step", step))
    generate_text(ckpt.model, ckpt.codec, "First", 25, seed=1)
    assert calls == {"forward": 1, "step": 24}


def test_greedy_limit_is_deterministic(trained_run):
    ckpt = load_checkpoint(trained_run)
    options = SamplingOptions(top_k=1)
    assert (generate_text(ckpt.model, ckpt.codec, "All", 30, options=options, seed=1)
            == generate_text(ckpt.model, ckpt.codec, "All", 30, options=options, seed=2))


def test_unknown_primer_character_is_named(trained_run):
    ckpt = load_checkpoint(trained_run)
    with pytest.raises(UsageError, match="primer has characters .*'Z'"):
        generate_text(ckpt.model, ckpt.codec, "Zed", 5)


def test_length_is_tokens_or_seconds():
    assert parse_length("500") == (500, None)
    assert parse_length("30s") == (None, 30.0)
    assert parse_length("1.5s") == (None, 1.5)
    for bad in ("-3", "abc", "0s", "s"):
        with pytest.raises(UsageError, match="bad --length"):
            parse_length(bad)


def test_sampling_without_a_seed_leaves_the_global_random_state_alone(trained_run):
    ckpt = load_checkpoint(trained_run)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    generate_text(ckpt.model, ckpt.codec, "All", 5)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("scale", [0.1, 1.0, 5.0, 20.0])
@pytest.mark.parametrize("vocab", [10, 300, 8000])
def test_the_nucleus_of_a_large_vocabulary_is_the_one_a_full_sort_gives(vocab, scale):
    logits = torch.randn(3, vocab, dtype=torch.float64,
                         generator=torch.Generator().manual_seed(vocab)) * scale
    for top_p in (0.5, 0.9, 0.95, 0.999):
        ranked, order = torch.sort(logits, dim=-1, descending=True)
        probs = ranked.softmax(-1)
        dropped = probs.cumsum(-1) - probs >= top_p
        expected = logits.masked_fill(dropped.scatter(-1, order, dropped), float("-inf"))
        assert torch.equal(nucleus(logits, top_p), expected), (vocab, scale, top_p)
