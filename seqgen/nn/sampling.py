"""Autoregressive sampling: read the primer once, then one step per token with the state carried.

The cost is linear in the length: the prefix is never re-read. Sampling options follow
Hugging Face ``generate()``: ``temperature``, ``top_k``, ``top_p``.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from seqgen import threads
from seqgen.config import MAX_SEED, at_least, check_seed
from seqgen.data.codecs.base import Codec, FileCodec, Rules, TextCodec
from seqgen.errors import UsageError
from seqgen.nn.beam import beam_search
from seqgen.nn.constraints import Constraints, RuleWeights
from seqgen.nn.model import Generator
from seqgen.nn.seq2seq import Decoding, Seq2Seq
from seqgen.nn.steering import Steering, steer

MAX_TOKENS = 10**9  # the most tokens a sample may be asked for


@dataclass
class SamplingOptions:
    temperature: float = 1.0
    top_k: int = 0  # 0: no top-k filtering
    top_p: float = 1.0  # 1.0: no nucleus filtering

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise UsageError(f"--temperature must be greater than 0, not {self.temperature}")
        if self.top_k < 0:
            raise UsageError(f"--top-k must be 0 (off) or more, not {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise UsageError(f"--top-p must be in (0, 1], not {self.top_p}")


def filter_logits(logits: Tensor, options: SamplingOptions) -> Tensor:
    """Scale by temperature, then mask all but the top-k and the top-p nucleus with -inf.
    The largest logit is subtracted first, so a tiny temperature gives the likeliest token
    (not infinities)."""
    logits = (logits - logits.amax(-1, keepdim=True)) / options.temperature
    if 0 < options.top_k < logits.size(-1):
        kth = torch.topk(logits, options.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if options.top_p < 1.0:
        logits = nucleus(logits, options.top_p)
    return logits


NUCLEUS_PROBE = 64  # the likeliest tokens looked at first for the top-p nucleus


def nucleus(logits: Tensor, top_p: float) -> Tensor:
    """``logits`` with -inf outside the top-p nucleus: a token is dropped when the tokens
    ranked above it already reach ``top_p``. Of a large vocabulary the likeliest
    ``NUCLEUS_PROBE`` tokens are ranked first (a partial sort); only when a row's nucleus is
    larger is the whole vocabulary sorted, so thousands of tokens cost little more than a
    hundred."""
    vocab = logits.size(-1)
    if vocab > 4 * NUCLEUS_PROBE:
        top, order = torch.topk(logits, NUCLEUS_PROBE, dim=-1)
        probs = (top - torch.logsumexp(logits, -1, keepdim=True)).exp()
        reached = probs.cumsum(-1) - probs >= top_p
    if vocab <= 4 * NUCLEUS_PROBE or not bool(reached[..., -1].all()):
        top, order = torch.sort(logits, dim=-1, descending=True)
        probs = top.softmax(-1)
        reached = probs.cumsum(-1) - probs >= top_p
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order, ~reached)
    return logits.masked_fill(~keep, float("-inf"))


def sample_next(logits: Tensor, options: SamplingOptions, generator: torch.Generator) -> Tensor:
    """One token per row of ``logits`` [batch, vocab]."""
    probs = filter_logits(logits.double(), options).softmax(-1)  # a temperature of 1e-300 too
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def parse_length(text: str | None) -> tuple[int | None, float | None]:
    """``"500"`` -> 500 tokens; ``"30s"`` -> 30 seconds (for codecs with time); None -> None."""
    if text is None:
        return None, None
    try:
        if text.endswith("s"):
            seconds = float(text[:-1])
            if seconds > 0:
                return None, seconds
        elif 1 <= int(text) <= MAX_TOKENS:
            return int(text), None
    except ValueError:
        pass
    raise UsageError(f"bad --length {text!r}: give a number of tokens from 1 to "
                     f"{MAX_TOKENS:,} (500) or of seconds (30s)")


@torch.inference_mode()
def generate(model: Generator, prompt: Tensor, length: int, num_samples: int = 1,
             options: SamplingOptions | None = None, seed: int | None = None, *,
             constraints: Constraints | None = None,
             token_seconds: Tensor | None = None, max_seconds: float | None = None,
             labels: Tensor | None = None,
             on_tokens: Callable[[Tensor], Tensor | None] | None = None) -> list[Tensor]:
    """Continue ``prompt`` (token ids [P]) by up to ``length`` tokens, ``num_samples`` at once.

    The prompt is read once through the sequence path; then the model steps one token at a
    time with its state carried, so the cost is linear in the length. A sample ends early at
    its ``constraints``' stop token, or once its tokens' ``token_seconds`` add up to
    ``max_seconds``; the constraints (each sample's) also say what it never draws and the
    rules it keeps.
    ``labels`` [num_samples] condition a labelled model.
    ``on_tokens`` gets each step's tokens [num_samples] as they are drawn (for streaming); it
    may return which samples end with them (bool [num_samples]; a length in characters, say).
    Returns each sample's new tokens (without the prompt and the stop token).
    """
    options = options or SamplingOptions()
    constraints = (constraints or Constraints()).repeated(1)  # its rules advance here
    stop_token = constraints.stop_token
    at_least(0, length=length)
    at_least(1, num_samples=num_samples)
    check_seed(seed)
    device = model.head.weight.device
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else torch.Generator().seed())
    model.eval()

    prompt = prompt.to(device).long()
    labels = None if labels is None else labels.to(device)
    state = model.init_state(num_samples, device, labels)
    logits, state = model(prompt.expand(num_samples, -1), state, labels)
    logits = logits[:, -1]
    ends = torch.full((num_samples,), length, device=device)
    elapsed = torch.zeros(num_samples, device=device)
    seconds = None if max_seconds is None else token_seconds.to(device)
    can_end = stop_token is not None or max_seconds is not None
    drawn = []
    for i in range(length):
        threads.adapt()
        constraints.weigh(logits)
        constraints.mask(logits, i)
        tokens = sample_next(logits, options, generator)
        drawn.append(tokens)
        constraints.advance(tokens.tolist())
        ended = on_tokens(tokens) if on_tokens is not None else None
        if can_end or ended is not None:
            if stop_token is not None:
                ends = torch.where((ends == length) & (tokens == stop_token), i, ends)
            if seconds is not None:
                elapsed += seconds[tokens]
                ends = torch.where((ends == length) & (elapsed >= max_seconds), i + 1, ends)
            if ended is not None:
                ends = torch.where((ends == length) & ended.to(device), i + 1, ends)
            if bool((ends < length).all()):
                break
        if i + 1 < length:
            logits, state = model.step(tokens, state, labels)
    generated = torch.stack(drawn, 1) if drawn else torch.zeros(num_samples, 0, dtype=torch.long)
    return [row[:end].cpu() for row, end in zip(generated, ends.tolist(), strict=True)]


class TextSteps:
    """The new text of samples drawn a token at a time: decoded as the tokens come (never half
    a character), each sample's characters counted, the first sample's text told to
    ``on_text`` (for streaming), at most ``max_chars`` of it."""

    def __init__(self, codec: TextCodec, num_samples: int, max_chars: int | None = None,
                 on_text: Callable[[str], None] | None = None) -> None:
        self.streams = [codec.token_stream() for _ in range(num_samples)]
        self.chars = [0] * num_samples
        self.max_chars, self.on_text = max_chars, on_text

    def step(self, tokens: Tensor) -> Tensor | None:
        """Decode each sample's new token; which samples have their ``max_chars`` now."""
        for i, (stream, token) in enumerate(zip(self.streams, tokens.tolist(), strict=True)):
            self.add(i, stream.step(token))
        if self.max_chars is None:
            return None
        return torch.tensor([chars >= self.max_chars for chars in self.chars])

    def finish(self) -> None:
        """What the decoders held back at the end (an unfinished character)."""
        for i, stream in enumerate(self.streams):
            self.add(i, stream.finish())

    def add(self, sample: int, text: str) -> None:
        if sample == 0 and self.on_text is not None and text:
            room = len(text) if self.max_chars is None else self.max_chars - self.chars[0]
            if room > 0:
                self.on_text(text[:room])
        self.chars[sample] += len(text)


def check_beam(beam: int, num_samples: int, options: SamplingOptions | None) -> None:
    """A beam searches for the likeliest outputs: at most ``beam`` of them, drawn from
    nothing."""
    at_least(0, beam=beam)
    if beam and num_samples > beam:
        raise UsageError(f"--num-samples {num_samples} asks for more outputs than --beam {beam} "
                         "keeps; use --num-samples up to the beam")
    if beam and options is not None and options != SamplingOptions():
        raise UsageError("--beam searches for the likeliest outputs: drop --temperature, "
                         "--top-k and --top-p, which shape random draws")


def item_constraints(codec: Codec, primed: bool, open_ended: bool = True) -> Constraints:
    """An item's limits: it ends at the end token (not before its first token unless a
    primer began it), never writes padding or a second start; a piece of a set length
    (``open_ended`` False) never ends by itself."""
    return Constraints(stop_token=codec.EOS if open_ended else None,
                       min_length=0 if primed else 1,
                       banned=[codec.PAD, codec.BOS] + ([] if open_ended else [codec.EOS]))


def search_or_sample(model: Generator, prompt: Tensor, length: int, num_samples: int,
                     options: SamplingOptions | None, seed: int | None, beam: int = 0,
                     alpha: float = 1.0, *, constraints: Constraints | None = None,
                     labels: Tensor | None = None, **sampling: object) -> list[Tensor]:
    """``generate``'s samples, or with a ``beam`` the ``num_samples`` likeliest continuations
    (every row is the same input: one primer, one label)."""
    check_beam(beam, num_samples, options)
    if not beam:
        return generate(model, prompt, length, num_samples, options, seed, labels=labels,
                        constraints=constraints, **sampling)
    found = beam_search(model, prompt, length, beam, labels=None if labels is None
                        else labels[:1], alpha=alpha, num_return=num_samples,
                        constraints=constraints)[0]
    return [h.tokens for h in found]


def generate_text(model: Generator, codec: TextCodec, primer: str = "", length: int = 500,
                  num_samples: int = 1, options: SamplingOptions | None = None,
                  seed: int | None = None, labels: Tensor | None = None,
                  on_text: Callable[[str], None] | None = None,
                  max_chars: int | None = None, beam: int = 0, alpha: float = 1.0) -> list[str]:
    """Texts, each with the primer (tokenized by the model's codec) in front: drawn, or with a
    ``beam`` the likeliest.

    A model of a stream continues the primer (the codec's default primer when empty) by
    ``length`` tokens. A model of items (lines, files) starts an item (with the primer) and
    ends it where it draws the end token, at most ``length`` tokens on. With ``max_chars`` a
    sample ends at that many new characters. ``on_text`` hears the first sample's new text as
    it is decoded.
    """
    at_least(1, chars=max_chars)
    encoded = codec.encode(primer, what="the primer")
    if primer and not encoded.numel():
        raise UsageError(f"the primer {primer[:40]!r} is empty once tokenized by the "
                         f"{codec.name} codec; give text it has tokens for")
    steps = TextSteps(codec, num_samples, max_chars, on_text) \
        if not beam and (on_text is not None or max_chars is not None) else None
    streaming = {} if steps is None else {"on_tokens": steps.step}
    if not codec.specials:
        prompt = encoded if primer else codec.encode(codec.default_primer(), what="the primer")
        samples = search_or_sample(model, prompt, length, num_samples, options, seed, beam,
                                   alpha, labels=labels, **streaming)
    else:
        prompt = torch.cat([torch.tensor([codec.BOS]), encoded])
        samples = search_or_sample(model, prompt, length, num_samples, options, seed, beam,
                                   alpha, constraints=item_constraints(codec, bool(primer)),
                                   labels=labels, **streaming)
    if steps is not None:
        steps.finish()
    return [primer + codec.decode(tokens)[:max_chars] for tokens in samples]


def drop_repeats(texts: list[str], training: set[str]) -> tuple[list[str], int, int]:
    """The texts less duplicates and verbatim copies of training items; and how many of
    each were dropped."""
    kept, seen, duplicates, copies = [], set(), 0, 0
    for text in texts:
        if text in training:
            copies += 1
        elif text in seen:
            duplicates += 1
        else:
            seen.add(text)
            kept.append(text)
    return kept, duplicates, copies


def generate_pieces(model: Generator, codec: FileCodec, primer: Tensor | None = None,
                    length: int | None = None, seconds: float | None = None,
                    num_samples: int = 1, options: SamplingOptions | None = None,
                    seed: int | None = None, labels: Tensor | None = None,
                    max_length: int = 100_000, beam: int = 0,
                    alpha: float = 1.0, steering: Steering | None = None) -> list[Tensor]:
    """Pieces of a file codec (MIDI) from the start token (and a primer's tokens): drawn, or
    with a ``beam`` the likeliest; a model of music controls ``steering``'d (its controls
    free without). Returns primer + new tokens; ``codec.write`` makes them files.

    With ``length`` (tokens) or ``seconds`` (of music) each piece is exactly that long: the end
    token is not drawn. With neither, each piece ends where the model ends it (at most
    ``max_length`` tokens).
    """
    primer = primer if primer is not None else torch.zeros(0, dtype=torch.long)
    prompt = torch.cat([torch.tensor([codec.BOS]), primer.long()])
    token_seconds = codec.token_seconds()
    if seconds is not None and (token_seconds is None or beam):
        raise UsageError(f"the {codec.name} codec has no time: give --length in tokens"
                         if not beam else "--beam searches a number of tokens: give --length "
                         "in tokens, not seconds")
    open_ended = length is None and seconds is None
    timed = {} if beam else {"token_seconds": token_seconds, "max_seconds": seconds}
    samples = search_or_sample(
        steer(model, steering), prompt, length or max_length, num_samples, options, seed, beam,
        alpha,
        constraints=item_constraints(codec, bool(primer.numel()), open_ended), labels=labels,
        **timed)
    return [torch.cat([primer.long(), tokens]) for tokens in samples]


def generate_items(model: Generator, codec: Codec, num_samples: int = 1, *,
                   options: SamplingOptions | None = None, seed: int | None = None,
                   labels: Tensor | None = None, max_length: int = 1000,
                   steering: Steering | None = None) -> list[Tensor]:
    """Whole items of a model of items: from the start token to where the model draws the
    end token (at most ``max_length`` tokens), without either (a model of music controls
    ``steering``'d)."""
    return generate(steer(model, steering), torch.tensor([codec.BOS]), max_length,
                    num_samples, options, seed,
                    constraints=item_constraints(codec, primed=False), labels=labels)


def generate_targets(model: Seq2Seq, codec: Codec, sources: list[Tensor], max_length: int,
                     num_samples: int = 1, options: SamplingOptions | None = None,
                     seed: int | None = None, beam: int = 0, alpha: float = 1.0,
                     primer: Tensor | None = None, batch_size: int = 64,
                     rules: RuleWeights | None = None,
                     progress: Callable[[int], None] | None = None,
                     steering: Steering | None = None) -> list[list[Tensor]]:
    """For each source, ``num_samples`` targets (primer + new tokens) of an encoder-decoder:
    drawn, or with a ``beam`` the likeliest; with ``rules``, the codec's rules weighed in with
    these weights (``STRICT``: never broken). Each ends where the model ends it, at most
    ``max_length`` tokens on. Sources are encoded and decoded ``batch_size`` at a time, and
    ``progress`` told how many are done after each batch. A decoder of music controls is
    ``steering``'d."""
    check_beam(beam, num_samples, options)
    check_rules(codec, rules)
    primer = primer if primer is not None else torch.zeros(0, dtype=torch.long)
    prompt = torch.cat([torch.tensor([codec.BOS]), primer.long()])
    targets = []
    for start in range(0, len(sources), batch_size):
        group = sources[start : start + batch_size]
        decoding = steer(Decoding(model, group), steering)
        limits = item_constraints(codec, bool(primer.numel()))
        if rules is not None:
            limits.rules = [rules_after(codec, s, prompt) for s in group]
            limits.weights = rules
        if beam:
            found = beam_search(decoding, prompt, max_length, beam, len(group), alpha=alpha,
                                num_return=num_samples, constraints=limits)
            drawn = [h.tokens for row in found for h in row]
        else:
            drawn = generate(decoding, prompt, max_length, len(group) * num_samples, options,
                             None if seed is None else (seed + start) % (MAX_SEED + 1),
                             constraints=limits.repeated(num_samples))
        targets += [[torch.cat([primer.long(), tokens]) for tokens in
                     drawn[i * num_samples : (i + 1) * num_samples]] for i in range(len(group))]
        if progress is not None:
            progress(len(targets))
    return targets


def sampling_limit(sources: list[Tensor]) -> int:
    """The most tokens an encoder-decoder writes for ``sources`` when sampling, unless told:
    5 times the longest, at least 200."""
    return max(200, 5 * max(s.numel() for s in sources))


def check_rules(codec: Codec, rules: RuleWeights | None) -> None:
    """Outputs held to rules need a codec that has them."""
    if rules is not None and not codec.implements("rules"):
        raise UsageError(f"the {codec.name} codec has no rules to write by: drop --rules")


def rules_after(codec: Codec, source: Tensor, prompt: Tensor) -> Rules:
    """The codec's rules for an output of ``source``, once ``prompt`` is written."""
    rules = codec.rules(source.long())
    for token in prompt.tolist():
        rules = rules.after(token)
    return rules


def condition_labels(label_names: list[str] | tuple[str, ...], condition: str | None,
                     num_samples: int, seed: int | None = None) -> tuple[Tensor | None, list[str]]:
    """Label ids for ``num_samples`` samples of ``condition``; for a labelled model given none,
    a label drawn at random for each sample (with ``seed``). Returns the ids and each sample's
    label (none for a model without labels)."""
    if not label_names:
        if condition is not None:
            raise UsageError("this model is not conditioned on labels; drop --condition")
        return None, []
    if condition is not None and condition not in label_names:
        raise UsageError(f"unknown label {condition!r}; the model knows: "
                         f"{', '.join(label_names)}")
    if condition is not None:
        ids = torch.full((num_samples,), list(label_names).index(condition))
    else:
        generator = torch.Generator().manual_seed(
            seed if seed is not None else torch.Generator().seed())
        ids = torch.randint(len(label_names), (num_samples,), generator=generator)
    return ids, [label_names[i] for i in ids.tolist()]
