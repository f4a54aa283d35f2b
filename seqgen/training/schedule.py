"""The learning rate over a run: warmup, a stable rate, then a decay in the last part of the run
(warmup-stable-decay, Hägele et al. 2024; Hu et al. 2024, MiniCPM).

A run's progress is the share of its steps done, or, for a run with a time budget, the share
of its seconds. The rate stays at its peak until the decay begins, so a short run is not held
back by an early decay, a long one still ends on a low rate, and a run resumed with more
steps or more time continues the stable part without bending the curve already run.
"""

from dataclasses import dataclass

from seqgen.config import TrainConfig

WARMUP_SHARE = 0.1  # the most of a run (of its steps or its time) that warmup takes


@dataclass(frozen=True)
class Schedule:
    """Linear warmup over ``warmup`` steps (or the first tenth of the run, if that ends first),
    the peak ``lr`` until ``1 - decay_fraction`` of the run, then a linear decay to
    ``min_lr_ratio * lr`` at its end."""

    lr: float
    warmup: int
    decay_fraction: float
    min_lr_ratio: float

    @classmethod
    def of(cls, config: TrainConfig) -> "Schedule":
        return cls(config.lr, config.warmup_steps, config.decay_fraction, config.min_lr_ratio)

    def rate(self, step: int, progress: float) -> float:
        """The rate of a step, ``progress`` (0 to 1) into the run."""
        warm = max((step + 1) / max(self.warmup, 1), progress / WARMUP_SHARE)
        if warm < 1:
            return self.lr * warm
        left = 1 - min(progress, 1.0)
        if left >= self.decay_fraction or self.decay_fraction == 0:
            return self.lr
        return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * left /
                          self.decay_fraction)
