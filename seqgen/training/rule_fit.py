"""Weights for a codec's rules, learnt from the corpus: how much breaking each one weighs.

With its codec's rules (``Codec.rules``), an encoder-decoder draws each token from
softmax(logits + the sum, over the rules the token would break, of each rule's weight): the
network and the rules as one log-linear model, the network frozen. ``fit_rule_weights`` finds
the weights in two stages.

1. Likeliest: maximum likelihood on the training pairs read with teacher forcing (as
   temperature scaling calibrates a network after training, Guo et al. 2017). There the model
   breaks each rule as often as the corpus does; a rule the corpus never breaks gets the floor.
2. Matched: a model writing on its own meets contexts the training pairs never show it
   (exposure bias) and breaks rules there more often. So, in a few rounds, it writes outputs
   for training sources with the current weights, and the weights are moved until, at the
   steps of those outputs, it is expected to break each rule as often per token as the
   training pairs do (moment matching, as distributional control does for a language model,
   Khalifa et al. 2021). These are the weights kept; the rates come from the training split.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from seqgen.config import MAX_SEED
from seqgen.data.codec import Codec, RuleWeights
from seqgen.data.splits import PairData
from seqgen.nn.sampling import generate_targets, rules_after, target_limit
from seqgen.nn.seq2seq import Seq2Seq

FLOOR = -30.0  # the weight of a rule the corpus never breaks (exp(-30) is 1e-13); -FLOOR caps
MOST_TOKENS = 200_000  # training target tokens read for a fit
ROUNDS, PER_ROUND = 3, 32  # of matching the rates: rounds, and training sources drawn in each
MOST_RULES = 31  # rule memberships are bits of an int32


@dataclass
class RuleSteps:
    """The target steps of some pairs at which a rule applies, read with teacher forcing. The
    tokens of a step that would break the same rules share a pattern (the rules' bits), and
    the network's logits there are kept per pattern (log-sum-exp): all the fit needs."""

    masses: Tensor  # [steps, patterns]: each pattern's log-sum-exp of logits (-inf: none)
    came: Tensor  # [steps]: the pattern of the token that came
    came_logit: Tensor  # [steps]: its logit
    patterns: list[int]  # pattern p's rule bits
    rules: list[str]  # rule k's name (bit k)
    tokens: int  # every target token of the pairs read, rules or not
    loss_sum: float  # the network's loss summed over them, in nats
    pairs: int  # pairs read

    def rule_matrix(self) -> Tensor:
        """[patterns, rules] float: whether each pattern breaks each rule."""
        bits = torch.tensor(self.patterns, dtype=torch.long, device=self.masses.device)
        return ((bits[:, None] >> torch.arange(len(self.rules), device=bits.device)) & 1).float()


@dataclass
class RuleFit:
    """Fitted weights by rule, how they were found, and what they do to the loss per target
    token of held-out pairs."""

    weights: dict[str, float]  # the weights to sample with
    likeliest: dict[str, float]  # the weights that make the training pairs likeliest
    corpus_rates: dict[str, float]  # how often per target token the training pairs break each
    own_rates: list[dict[str, float]]  # the same, expected of the model's own outputs, by round
    pairs: int  # training pairs read
    steps: int  # of their target steps at which some rule applies
    val_loss: tuple[float, float]  # without and with the weights

    def to_json(self) -> dict:
        return {"weights": self.weights, "likeliest": self.likeliest,
                "corpus_rates": self.corpus_rates, "own_rates": self.own_rates,
                "pairs": self.pairs, "steps": self.steps, "val_loss": list(self.val_loss)}


@torch.no_grad()
def rule_steps(model: Seq2Seq, codec: Codec, pairs: PairData, rules: list[str] | None = None,
               most_tokens: int | None = None) -> RuleSteps:
    """Read ``pairs``, all or until ``most_tokens`` target tokens are read; ``rules`` names
    the rules in bit order (grown as new ones are met)."""
    model.eval()
    device = model.head.weight.device
    rules = [] if rules is None else list(rules)
    patterns: dict[int, int] = {}  # rule bits -> index
    masses, came, came_logit = [], [], []
    tokens, loss_sum, read = 0, 0.0, 0
    for source, target in zip(pairs.sources, pairs.targets, strict=True):
        if most_tokens is not None and tokens >= most_tokens:
            break
        source = source.long().to(device)
        steps = torch.cat([torch.tensor([codec.BOS]), target.long(), torch.tensor([codec.EOS])])
        bits = rule_bits(codec, source, steps, rules)
        z, _ = model(steps[None, :-1].to(device), None, None, source[None],
                     torch.tensor([source.numel()], device=device))
        z, nexts = z[0].float(), steps[1:].to(device)
        loss_sum += float(torch.nn.functional.cross_entropy(z, nexts, reduction="sum"))
        tokens += nexts.numel()
        read += 1
        ruled = bits.any(1)
        if not ruled.any():
            continue
        local, inverse = np.unique(bits[ruled], return_inverse=True)
        index = torch.tensor([patterns.setdefault(int(p), len(patterns)) for p in local])
        ids = index[torch.from_numpy(inverse.reshape(-1, codec.size))].to(device)
        z, nexts = z[torch.from_numpy(ruled).to(device)], nexts[torch.from_numpy(ruled)]
        top = z.max(1, keepdim=True).values
        summed = torch.zeros(len(z), len(patterns), device=device).scatter_add_(
            1, ids, (z - top).exp())
        masses.append(summed.log() + top)
        came.append(ids.gather(1, nexts[:, None])[:, 0])
        came_logit.append(z.gather(1, nexts[:, None])[:, 0])
    width = len(patterns)
    return RuleSteps(
        torch.cat([torch.nn.functional.pad(m, (0, width - m.size(1)), value=-math.inf)
                   for m in masses]) if masses else torch.zeros(0, width, device=device),
        torch.cat(came) if came else torch.zeros(0, dtype=torch.long, device=device),
        torch.cat(came_logit) if came_logit else torch.zeros(0, device=device),
        list(patterns), rules, tokens, loss_sum, read)


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


def loss_sum(steps: RuleSteps, weights: Tensor) -> Tensor:
    """The loss summed over the steps at which a rule applies, with these weights (one per
    rule of ``steps``; rules beyond them weigh nothing)."""
    shift = steps.rule_matrix()[:, :len(weights)] @ weights  # [patterns]: what each gains
    return ((steps.masses + shift).logsumexp(1) - steps.came_logit - shift[steps.came]).sum()


def rate_gap(steps: RuleSteps, weights: Tensor, rates: Tensor) -> Tensor:
    """A convex function of the weights whose gradient is the breaks of each rule that the
    model is expected to make at these steps less ``rates`` [rules] times their tokens: zero
    where it is expected to break each rule as often per token as ``rates`` say."""
    shift = steps.rule_matrix()[:, :len(weights)] @ weights
    return (steps.masses + shift).logsumexp(1).sum() - steps.tokens * (rates @ weights)


def expected_rates(steps: RuleSteps, weights: Tensor) -> Tensor:
    """How often per token the model is expected to break each rule at these steps."""
    matrix = steps.rule_matrix()[:, :len(weights)]
    chances = (steps.masses + matrix @ weights).softmax(1)  # [steps, patterns]
    return (chances @ matrix).sum(0) / max(steps.tokens, 1)


def minimise(objective: Callable[[Tensor], Tensor], never: Tensor) -> Tensor:
    """The weights minimising a convex ``objective``, those of the rules ``never`` [rules]
    broken at the floor."""
    raw = torch.zeros(len(never), device=never.device, requires_grad=True)
    optimizer = torch.optim.LBFGS([raw], max_iter=100, line_search_fn="strong_wolfe")

    def weighed() -> Tensor:
        return raw.clamp(FLOOR, -FLOOR).masked_fill(never, FLOOR)

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = objective(weighed())
        loss.backward()
        return loss

    optimizer.step(closure)
    return weighed().detach()


def own_outputs(model: Seq2Seq, codec: Codec, train: PairData, rules: list[str],
                weights: Tensor, count: int, generator: torch.Generator) -> PairData:
    """The model's outputs, drawn with these rule weights, for ``count`` training sources
    chosen at random."""
    chosen = torch.randperm(len(train.sources), generator=generator)[:count].tolist()
    sources = [train.sources[i].long() for i in chosen]
    outputs = generate_targets(
        model, codec, sources, target_limit(sources),
        seed=int(torch.randint(MAX_SEED, (), generator=generator)),
        rules=RuleWeights(dict(zip(rules, weights.tolist(), strict=True)), default=0.0))
    return PairData(sources, [row[0] for row in outputs], train.codec, train.source_codec)


def fit_rule_weights(model: Seq2Seq, codec: Codec, train: PairData, val: PairData,
                     rounds: int = ROUNDS, per_round: int = PER_ROUND,
                     seed: int = 0) -> RuleFit | None:
    """The weights of the codec's rules: likeliest on the ``train`` pairs, then matched over
    ``rounds`` to the corpus's rates on the model's own outputs for ``per_round`` training
    sources at a time; with the loss per target token of the ``val`` pairs without and with
    them. None where no rule applies."""
    steps = rule_steps(model, codec, train, most_tokens=MOST_TOKENS)
    if not steps.rules:
        return None
    breaks = steps.rule_matrix()[steps.came].sum(0)
    never = breaks == 0  # the likeliest weight is -inf, and the rate to match is 0
    rates = breaks / steps.tokens
    weights = likeliest = minimise(lambda w: loss_sum(steps, w) / len(steps.came), never)
    generator = torch.Generator().manual_seed(seed)
    own = []
    for _ in range(rounds):
        outputs = own_outputs(model, codec, train, steps.rules, weights, per_round, generator)
        sampled = rule_steps(model, codec, outputs, steps.rules)
        own.append(expected_rates(sampled, weights))
        weights = minimise(lambda w, at=sampled: rate_gap(at, w, rates) / max(at.tokens, 1),
                           never)
    held_out = rule_steps(model, codec, val, steps.rules)
    with torch.no_grad():
        change = float(loss_sum(held_out, weights) - loss_sum(held_out, weights[:0]))
    per_token = max(held_out.tokens, 1)

    def named(values: Tensor) -> dict[str, float]:
        return dict(zip(steps.rules, values.tolist(), strict=True))

    return RuleFit(named(weights), named(likeliest), named(rates),
                   [named(found) for found in own], steps.pairs, len(steps.came),
                   (held_out.loss_sum / per_token, (held_out.loss_sum + change) / per_token))
