"""What an output may be, for sampling and beam search alike: where it may stop, the tokens it
never has, and the rules of its codec it keeps, with the weights that say how much breaking
each one costs (the rule weights' arithmetic on the logits)."""

import math
from dataclasses import dataclass, field, replace

from torch import Tensor

from seqgen.data.codecs.base import Rules


@dataclass(frozen=True)
class RuleWeights:
    """The network and a codec's rules as one log-linear model: a token's logit is ``network``
    times the network's logit (1: as trained; above 1 sharper, as a temperature of 1 /
    ``network``) plus the weight of each rule the token would break, by the rule's name:
    learned weights (``seqgen.training.rule_fit``), or -inf to forbid. ``default`` weighs the
    rules not named."""

    weights: dict[str, float] = field(default_factory=dict)
    default: float = -math.inf
    network: float = 1.0

    def of(self, rule: str) -> float:
        return self.weights.get(rule, self.default)


STRICT = RuleWeights()  # every rule holds: what breaks one is never written


def apply_rules(logits: Tensor, rules: list[Rules], weights: RuleWeights) -> None:
    """Weigh ``logits`` [rows, vocab] (in place) by the network's weight, and add to each row
    the weight of every rule of that row's ``rules`` that a token would break."""
    if weights.network != 1.0:
        logits.mul_(weights.network)
    for row, row_rules in enumerate(rules):
        for rule, tokens in row_rules.broken().items():
            weight = weights.of(rule)
            if tokens and weight:
                logits[row, tokens] += weight


@dataclass
class Constraints:
    """The limits of every row's output: ``stop_token`` ends it (never within its first
    ``min_length`` tokens), ``banned`` tokens are never written, and what would break one of
    each row's ``rules`` has that rule's ``weights`` added to its logit (never written, at
    -inf: ``STRICT``). ``rules`` are each row's as its output so far leaves them."""

    stop_token: int | None = None
    min_length: int = 0
    banned: list[int] = field(default_factory=list)
    rules: list[Rules] | None = None
    weights: RuleWeights = STRICT

    def weigh(self, logits: Tensor) -> None:
        """The rules' weights (and the network's) on ``logits`` [rows, vocab], in place."""
        if self.rules:
            apply_rules(logits, self.rules, self.weights)

    def mask(self, scores: Tensor, step: int) -> None:
        """-inf, in place, for what step ``step`` may not write: a banned token, or the stop
        token too early."""
        if self.banned:
            scores[:, self.banned] = float("-inf")
        if self.stop_token is not None and step < self.min_length:
            scores[:, self.stop_token] = float("-inf")

    def repeated(self, times: int) -> "Constraints":
        """These constraints for each row repeated ``times`` times in a row (beams)."""
        return replace(self, rules=self.rules and [r for r in self.rules for _ in range(times)])

    def advance(self, tokens: list[int], rows: list[int] | None = None) -> None:
        """Each row's rules after it writes its token of ``tokens``; ``rows``: the row each
        new row continues (a beam's reordering), where not the same one."""
        if self.rules:
            rows = rows if rows is not None else range(len(tokens))
            self.rules = [self.rules[row].after(token)
                          for row, token in zip(rows, tokens, strict=True)]
