"""Weights for the network and a codec's rules, learnt from the corpus.

With its codec's rules (``Codec.rules``), an encoder-decoder draws each token from
softmax(a * logits + the sum, over the rules the token would break, of each rule's weight):
the network and the rules as one log-linear model (``RuleWeights``), the network frozen and
weighed by a. ``fit_rule_weights`` finds a and the rules' weights in two stages.

1. Likeliest: maximum likelihood on the training pairs read with teacher forcing (as
   temperature scaling calibrates a network after training, Guo et al. 2017). There the model
   breaks each rule as often as the corpus does; a rule the corpus never breaks gets the floor.
2. Matched: a model writing on its own meets contexts the training pairs never show it
   (exposure bias): it breaks rules there more often, and it may be more or less sure of
   what it writes than of what the corpus holds. So, in a few rounds, it writes outputs for
   training sources with the current weights, and the weights are moved until, at the steps
   of those outputs, it is expected to break each rule as often per token as the training
   pairs do (moment matching, as distributional control does for a language model, Khalifa
   et al. 2021), and the network is expected to give the tokens written the log-probability
   it gives the training targets of the same sources (entropy-rate calibration, Braverman et
   al. 2020: the same sources, since some melodies are harder to harmonise than others).
   These are the weights kept; the rates and the log-probabilities come from the training
   split.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from seqgen.config import MAX_SEED
from seqgen.data.codecs.base import Codec
from seqgen.data.splits import PairData
from seqgen.nn.constraints import RuleWeights
from seqgen.nn.sampling import generate_targets, rules_after, sampling_limit
from seqgen.nn.seq2seq import Seq2Seq
from seqgen.training.devices import autocast

FLOOR = -30.0  # the weight of a rule the corpus never breaks (exp(-30) is 1e-13); -FLOOR caps
NETWORK_RANGE = (0.25, 4.0)  # the network's weight stays within (temperatures 4 to 1/4)
MOST_VALUES = 16_000_000  # log-probabilities held for a fit (120,000 steps of 134 tokens)
ROUNDS, PER_ROUND = 3, 32  # of matching the rates: rounds, and training sources drawn in each
MOST_RULES = 31  # rule memberships are bits of an int32
CHUNK = 8_192  # steps scored at once: a fit holds one chunk's working tensors, not every step's


@dataclass
class Steps:
    """Every target step of some pairs, read with teacher forcing: the network's
    log-probabilities there and the rules each token would break. The weights of the
    log-linear model are a vector: the network's, then each rule's in the order of ``rules``."""

    log_probs: Tensor  # [steps, vocab]
    patterns: Tensor  # [steps, vocab] int32: the index of the rules a token would break there
    bits: list[int]  # pattern p's rules, as bits (bit k: rule k); pattern 0 breaks none
    came: Tensor  # [steps]: the token that came
    rules: list[str]  # rule k's name (bit k)
    pairs: int  # pairs read

    def __len__(self) -> int:
        return len(self.came)

    def chunks(self) -> Iterator["Steps"]:
        """These steps ``CHUNK`` at a time (views of the same tensors)."""
        for start in range(0, len(self), CHUNK):
            part = slice(start, start + CHUNK)
            yield replace(self, log_probs=self.log_probs[part], patterns=self.patterns[part],
                          came=self.came[part])

    def rule_matrix(self) -> Tensor:
        """[patterns, rules] float: whether each pattern breaks each rule."""
        bits = torch.tensor(self.bits, dtype=torch.long, device=self.log_probs.device)
        return ((bits[:, None] >> torch.arange(len(self.rules), device=bits.device)) & 1).float()

    def scores(self, weights: Tensor) -> Tensor:
        """[steps, vocab]: each token's logit in the log-linear model with these weights."""
        shift = self.rule_matrix() @ weights[1:]  # [patterns]: what each gains
        return weights[0] * self.log_probs + shift[self.patterns]

    def breaks(self) -> Tensor:
        """[rules]: how many times the tokens that came break each rule."""
        return self.rule_matrix()[self.patterns.gather(1, self.came[:, None])[:, 0]].sum(0)


@dataclass
class RuleFit:
    """Fitted weights, how they were found, and what they do to the loss per target token of
    held-out pairs."""

    network_weight: float  # the network's weight to sample with
    weights: dict[str, float]  # the rules' weights to sample with
    likeliest: dict[str, float]  # the weights that make the training pairs likeliest
    likeliest_network_weight: float
    corpus_rates: dict[str, float]  # how often per target token the training pairs break each
    own_rates: list[dict[str, float]]  # the same, expected of the model's own outputs, by round
    # by round, the network's log-probability per token of the training targets of the round's
    # sources, and that expected of the model's own outputs for them
    corpus_log_likelihood: list[float]
    own_log_likelihood: list[float]
    pairs: int  # training pairs read
    tokens: int  # their target tokens
    val_loss: tuple[float, float]  # without and with the weights

    def to_json(self) -> dict:
        return {"network_weight": self.network_weight, "weights": self.weights,
                "likeliest": self.likeliest,
                "likeliest_network_weight": self.likeliest_network_weight,
                "corpus_rates": self.corpus_rates,
                "own_rates": self.own_rates,
                "corpus_log_likelihood": self.corpus_log_likelihood,
                "own_log_likelihood": self.own_log_likelihood,
                "pairs": self.pairs, "tokens": self.tokens, "val_loss": list(self.val_loss)}


@torch.no_grad()
def read_steps(model: Seq2Seq, codec: Codec, pairs: PairData, precision: str,
               rules: list[str] | None = None, most_tokens: int | None = None) -> Steps:
    """Read ``pairs`` with the network computing in ``precision``, all or until
    ``most_tokens`` target tokens are read; ``rules`` names the rules in bit order (grown as
    new ones are met)."""
    rules = [] if rules is None else list(rules)
    index: dict[int, int] = {0: 0}  # rule bits -> pattern
    log_probs, patterns, came = [], [], []
    tokens = 0
    for source, target in zip(pairs.sources, pairs.targets, strict=True):
        if most_tokens is not None and tokens >= most_tokens:
            break
        steps, pair_log_probs = teacher_forced(model, codec, source, target, precision)
        log_probs.append(pair_log_probs)
        device = pair_log_probs.device
        bits = rule_bits(codec, source, steps, rules)
        local, inverse = np.unique(bits, return_inverse=True)
        ids = torch.tensor([index.setdefault(int(b), len(index)) for b in local],
                           dtype=torch.int32)
        patterns.append(ids[torch.from_numpy(inverse.reshape(bits.shape))].to(device))
        came.append(steps[1:].to(device))
        tokens += steps.numel() - 1
    return Steps(torch.cat(log_probs), torch.cat(patterns), list(index), torch.cat(came), rules,
                 len(came))


@torch.no_grad()
def teacher_forced(model: Seq2Seq, codec: Codec, source: Tensor, target: Tensor,
                   precision: str) -> tuple[Tensor, Tensor]:
    """The target's steps (BOS, its tokens, EOS) and the network's log-probabilities
    [steps - 1, vocab] for each step after the first, read with teacher forcing, the network
    computing in ``precision``."""
    model.eval()
    device = model.head.weight.device
    source = source.long().to(device)
    steps = torch.cat([torch.tensor([codec.BOS]), target.long(), torch.tensor([codec.EOS])])
    with autocast(device, precision):
        z, _ = model(steps[None, :-1].to(device), None, None, source[None],
                     torch.tensor([source.numel()], device=device))
    return steps, z[0].float().log_softmax(-1)


@torch.no_grad()
def log_likelihood(model: Seq2Seq, codec: Codec, pairs: PairData, precision: str) -> float:
    """The network's log-probability of the target tokens of ``pairs``, per token (no rules
    read)."""
    total, tokens = 0.0, 0
    for source, target in zip(pairs.sources, pairs.targets, strict=True):
        steps, log_probs = teacher_forced(model, codec, source, target, precision)
        total += float(log_probs.gather(1, steps[1:, None].to(log_probs.device)).sum())
        tokens += len(log_probs)
    return total / max(tokens, 1)


def rule_bits(codec: Codec, source: Tensor, steps: Tensor, rules: list[str]) -> np.ndarray:
    """[len(steps) - 1, vocab] int32: at each step after the first, the rules each token would
    break there, as bits in the order of ``rules`` (new names appended)."""
    rows: list[int] = []
    columns: list[int] = []
    values: list[int] = []
    held = rules_after(codec, source.cpu(), steps[:1])
    for i, token in enumerate(steps[1:].tolist()):
        for rule, tokens in held.broken().items():
            if tokens:
                if rule not in rules:
                    if len(rules) == MOST_RULES:
                        raise ValueError(f"a codec's rules have at most {MOST_RULES} names")
                    rules.append(rule)
                rows += [i] * len(tokens)
                columns += tokens
                values += [1 << rules.index(rule)] * len(tokens)
        held = held.after(token)
    bits = np.zeros((steps.numel() - 1, codec.size), dtype=np.int32)
    np.bitwise_or.at(bits, (rows, columns), np.array(values, dtype=np.int32))
    return bits


def loss_sum(steps: Steps, weights: Tensor) -> Tensor:
    """The loss of the tokens that came, summed, in the log-linear model with ``weights``."""
    scores = steps.scores(weights)
    return (scores.logsumexp(1) - scores.gather(1, steps.came[:, None])[:, 0]).sum()


def moment_gap(steps: Steps, weights: Tensor, targets: Tensor) -> Tensor:
    """A convex function of the weights whose gradient is what the model is expected, summed
    over these steps, to have of each feature (the network's log-probability, each rule's
    breaks) less ``targets`` per step: zero where the expectations meet them."""
    return steps.scores(weights).logsumexp(1).sum() - len(steps) * (targets @ weights)


@torch.no_grad()
def mean_of(term: Callable[[Steps, Tensor], Tensor], steps: Steps, weights: Tensor) -> float:
    """A term summed over the steps (``loss_sum``), per step, a chunk at a time."""
    return sum(float(term(part, weights)) for part in steps.chunks()) / max(len(steps), 1)


@torch.no_grad()
def expected(steps: Steps, weights: Tensor) -> Tensor:
    """Per token at these steps, the network's log-probability and each rule's breaks that
    the model with these weights is expected to write."""
    total = torch.zeros(1 + len(steps.rules), device=steps.log_probs.device)
    for part in steps.chunks():
        chances = part.scores(weights).softmax(1)
        by_pattern = torch.zeros(len(part), len(part.bits), device=chances.device)
        by_pattern.scatter_add_(1, part.patterns.long(), chances)
        total += torch.cat([(chances * part.log_probs).sum()[None],
                            (by_pattern @ part.rule_matrix()).sum(0)])
    return total / max(len(steps), 1)


def minimise(term: Callable[[Steps, Tensor], Tensor], steps: Steps, never: Tensor) -> Tensor:
    """The weights (the network's, then the rules') minimising a convex ``term`` summed over
    ``steps``; the rules ``never`` [rules] broken at the floor. The term is summed a chunk of
    steps at a time, each chunk's gradient kept and its tensors freed."""
    raw = torch.zeros(len(never) + 1, device=never.device)
    raw[0] = 1.0
    raw.requires_grad_(True)
    optimizer = torch.optim.LBFGS([raw], max_iter=100, line_search_fn="strong_wolfe")

    def weighed() -> Tensor:
        return torch.cat([raw[:1].clamp(*NETWORK_RANGE),
                          raw[1:].clamp(FLOOR, -FLOOR).masked_fill(never, FLOOR)])

    def closure() -> float:
        optimizer.zero_grad()
        total = 0.0
        for part in steps.chunks():
            loss = term(part, weighed()) / max(len(steps), 1)
            loss.backward()
            total += loss.item()
        return total

    optimizer.step(closure)
    return weighed().detach()


def as_rule_weights(rules: list[str], weights: Tensor) -> RuleWeights:
    return RuleWeights(dict(zip(rules, weights[1:].tolist(), strict=True)), default=0.0,
                       network=float(weights[0]))


def drawn_pairs(train: PairData, count: int, generator: torch.Generator) -> PairData:
    """``count`` training pairs chosen at random."""
    chosen = torch.randperm(len(train.sources), generator=generator)[:count].tolist()
    return PairData([train.sources[i].long() for i in chosen],
                    [train.targets[i] for i in chosen], train.codec, train.source_codec)


def own_outputs(model: Seq2Seq, codec: Codec, pairs: PairData, rules: RuleWeights,
                generator: torch.Generator, precision: str) -> PairData:
    """The sources of ``pairs`` with the model's outputs for them, drawn with these weights
    (the network computing in ``precision``)."""
    seed = int(torch.randint(MAX_SEED, (), generator=generator))
    with autocast(model.head.weight.device, precision):
        outputs = generate_targets(model, codec, pairs.sources, sampling_limit(pairs.sources),
                                   seed=seed, rules=rules)
    return PairData(pairs.sources, [row[0] for row in outputs], pairs.codec,
                    pairs.source_codec)


def fit_rule_weights(model: Seq2Seq, codec: Codec, train: PairData, val: PairData,
                     precision: str = "fp32", rounds: int = ROUNDS, per_round: int = PER_ROUND,
                     seed: int = 0) -> RuleFit | None:
    """The weights of the network and of the codec's rules: likeliest on the ``train`` pairs,
    then matched over ``rounds`` to the corpus on the model's own outputs for ``per_round``
    training sources at a time; with the loss per target token of the ``val`` pairs without
    and with them. The network computes in ``precision`` (the run's), the fit in fp32. None
    where no rule applies."""
    steps = read_steps(model, codec, train, precision, most_tokens=MOST_VALUES // codec.size)
    if not steps.rules:
        return None
    breaks = steps.breaks()
    never = breaks == 0  # the likeliest weight is -inf, and the rate to match is 0
    rates = breaks / len(steps)
    weights = likeliest = minimise(loss_sum, steps, never)
    generator = torch.Generator().manual_seed(seed)
    own, corpus_log_likelihood = [], []
    for _ in range(rounds):
        bach = drawn_pairs(train, per_round, generator)
        outputs = own_outputs(model, codec, bach, as_rule_weights(steps.rules, weights),
                              generator, precision)
        corpus_log_likelihood.append(log_likelihood(model, codec, bach, precision))
        sampled = read_steps(model, codec, outputs, precision, steps.rules)
        own.append(expected(sampled, weights))
        targets = torch.cat([rates.new_tensor([corpus_log_likelihood[-1]]), rates])
        weights = minimise(lambda at, w, t=targets: moment_gap(at, w, t), sampled, never)

    def named(values: Tensor) -> dict[str, float]:
        return dict(zip(steps.rules, values.tolist(), strict=True))

    kept = as_rule_weights(steps.rules, weights)
    return RuleFit(kept.network, kept.weights, named(likeliest[1:]), float(likeliest[0]),
                   named(rates), [named(found[1:]) for found in own], corpus_log_likelihood,
                   [float(found[0]) for found in own], steps.pairs, len(steps),
                   held_out_losses(model, codec, val, kept, precision))


@torch.no_grad()
def held_out_losses(model: Seq2Seq, codec: Codec, pairs: PairData, weights: RuleWeights,
                    precision: str = "fp32", per_read: int = 32) -> tuple[float, float]:
    """The loss per target token of ``pairs``: the network's alone, and in the log-linear
    model with ``weights``, the network computing in ``precision``; read ``per_read`` pairs at
    a time."""
    sums, tokens = [0.0, 0.0], 0
    for start in range(0, len(pairs.sources), per_read):
        steps = read_steps(model, codec, PairData(
            pairs.sources[start : start + per_read], pairs.targets[start : start + per_read],
            pairs.codec, pairs.source_codec), precision)
        kept = torch.tensor([weights.network, *map(weights.of, steps.rules)],
                            device=steps.log_probs.device)
        alone = torch.zeros_like(kept)
        alone[0] = 1.0
        for i, vector in enumerate((alone, kept)):
            sums[i] += mean_of(loss_sum, steps, vector) * len(steps)
        tokens += len(steps)
    return sums[0] / max(tokens, 1), sums[1] / max(tokens, 1)
