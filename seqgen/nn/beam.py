"""Beam search: the likeliest outputs, not random ones, for every architecture.

Each of ``rows`` inputs (sources of an encoder-decoder, or one primer or label) keeps ``beam``
hypotheses; all of them step together as one batch of ``rows * beam`` rows, and the state is
reordered after each step to follow the hypotheses kept. A hypothesis ends at the stop token;
finished ones are ranked by their log probability divided by the length penalty of Wu et al.
(2016), ((5 + length) / 6) ** alpha, as OpenNMT-py and JoeyNMT do, so that short outputs do not
win merely by being short (``alpha`` 0: plain log probability). Beam 1 is greedy decoding.
"""

from dataclasses import dataclass

import torch
from torch import Tensor

from seqgen import threads
from seqgen.nn.cells import State, map_state
from seqgen.nn.constraints import Constraints


@dataclass
class Hypothesis:
    tokens: Tensor  # the new tokens, without the stop token
    score: float  # log probability over the length penalty


def length_penalty(length: int, alpha: float) -> float:
    return ((5 + length) / 6) ** alpha


@torch.inference_mode()
def beam_search(model, prompt: Tensor, length: int, beam: int, rows: int = 1, *,
                constraints: Constraints | None = None, labels: Tensor | None = None,
                alpha: float = 1.0, num_return: int = 1) -> list[list[Hypothesis]]:
    """For each of ``rows`` inputs, the ``num_return`` (at most ``beam``) likeliest
    continuations of ``prompt`` [P] of up to ``length`` tokens, best first.

    ``model`` has the interface of ``sampling.generate``'s (``init_state``, a call over
    tokens, ``step``; a ``Decoding`` for an encoder-decoder, whose rows are its sources).
    ``labels`` [rows] condition a labelled model. ``constraints`` (each input's) say where a
    hypothesis may stop, what it never writes, and the rules it keeps.
    """
    constraints = (constraints or Constraints()).repeated(beam)
    stop_token = constraints.stop_token
    device = model.head.weight.device
    model.eval()
    labels = None if labels is None else labels.to(device)
    state = model.init_state(rows, device, labels)
    logits, state = model(prompt.to(device).long().expand(rows, -1), state, labels)
    state = map_state(lambda t: t.repeat_interleave(beam, 0), state)
    labels = None if labels is None else labels.repeat_interleave(beam)
    logits = logits[:, -1].repeat_interleave(beam, 0)
    scores = torch.full((rows, beam), float("-inf"), device=device)
    scores[:, 0] = 0  # the first step expands one hypothesis per input
    history = torch.zeros(rows * beam, 0, dtype=torch.long, device=device)
    finished: list[list[Hypothesis]] = [[] for _ in range(rows)]
    offsets = torch.arange(rows, device=device)[:, None] * beam
    for i in range(length):
        threads.adapt()
        logits = logits.float()
        constraints.weigh(logits)
        log_probs = logits.log_softmax(-1)
        constraints.mask(log_probs, i)
        vocab = log_probs.size(-1)
        candidates = (scores.view(-1, 1) + log_probs).view(rows, beam * vocab)
        width = beam if stop_token is None else 2 * beam  # room for hypotheses that stop
        top, index = candidates.topk(min(width, beam * vocab), dim=1)
        source, tokens = index // vocab, index % vocab
        if stop_token is not None:
            stops = (tokens == stop_token) & (top > float("-inf"))
            for row, rank in stops[:, :beam].nonzero().tolist():
                keep(finished[row], Hypothesis(history[offsets[row, 0] + source[row, rank]],
                                               float(top[row, rank]) /
                                               length_penalty(i + 1, alpha)), beam)
            top = top.masked_fill(stops, float("-inf"))
            top, kept = top.topk(beam, dim=1)
            source, tokens = source.gather(1, kept), tokens.gather(1, kept)
        scores = top
        order = (offsets + source).view(-1)
        history = torch.cat([history[order], tokens.view(-1, 1)], 1)
        constraints.advance(tokens.view(-1).tolist(), order.tolist())
        if stop_token is not None and all_done(finished, scores, beam, length_penalty(i + 1,
                                                                                       alpha)):
            break
        if i + 1 < length:
            state = select_rows(state, order)
            logits, state = model.step(tokens.view(-1), state, labels)
    return [best(found, history[row * beam : (row + 1) * beam], scores[row], alpha, num_return)
            for row, found in enumerate(finished)]


def select_rows(state: State, rows: Tensor) -> State:
    """The state's ``rows`` (indices), in that order."""
    return map_state(lambda t: t.index_select(0, rows), state)


def keep(found: list[Hypothesis], hypothesis: Hypothesis, beam: int) -> None:
    """Add a finished hypothesis, keeping the ``beam`` best."""
    found.append(hypothesis)
    found.sort(key=lambda h: -h.score)
    del found[beam:]


def all_done(finished: list[list[Hypothesis]], scores: Tensor, beam: int,
             penalty: float) -> bool:
    """Whether every input has ``beam`` finished hypotheses that its best open one, at its
    length now, does not beat (the criterion of Hugging Face's beam search)."""
    for found, row_scores in zip(finished, scores.tolist(), strict=True):
        if len(found) < beam or found[-1].score < max(row_scores) / penalty:
            return False
    return True


def best(found: list[Hypothesis], open_tokens: Tensor, open_scores: Tensor, alpha: float,
         count: int) -> list[Hypothesis]:
    """The ``count`` best of an input's finished hypotheses and those still open at the end."""
    penalty = length_penalty(open_tokens.size(1), alpha)
    hypotheses = found + [Hypothesis(tokens, float(score) / penalty)
                          for tokens, score in zip(open_tokens, open_scores, strict=True)
                          if score > float("-inf")]
    return [Hypothesis(h.tokens.cpu(), h.score)
            for h in sorted(hypotheses, key=lambda h: -h.score)[:count]]
