"""Steering a model of music controls while it writes: each control's value as a user set it,
at each step's time.

Training gives a model of controls, at every step, the controls measured at the token it
predicts (``seqgen.data.controls``). Writing, ``Steered`` gives it what a user asked for at the
same time: each row's time (the seconds its tokens have moved, the primer's included) says
where along each ``--control`` setting (a value, or a ramp) the row is; a control not set is
free. The time rides in the state beside the model's, so a beam search reorders it with the
rest.

With a ``guidance`` above 1 (classifier-free guidance, Ho and Salimans 2022, which training's
free controls make possible), the model also reads every step with each control free, and
each step's log-probabilities move that many times as far from the free model's as the
controls given move them: log p_free + w (log p_given - log p_free).
"""

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from seqgen.config import DEFAULT_GUIDANCE, at_least
from seqgen.data.codecs.base import Codec
from seqgen.data.controls import ControlScheme, ControlSetting
from seqgen.errors import UsageError
from seqgen.nn.cells import State


@dataclass(frozen=True)
class Steering:
    """What a user asked of a model's controls: its ``scheme`` (the bins it was trained with),
    the ``settings`` given (by control), and how far each token moves time."""

    scheme: ControlScheme
    settings: Mapping[str, ControlSetting]
    token_seconds: Tensor  # [vocabulary] seconds; zeros for a codec without time
    guidance: float = DEFAULT_GUIDANCE  # 1: the model given the controls; above: guided

    @classmethod
    def of(cls, scheme: ControlScheme, settings: Mapping[str, ControlSetting], codec: Codec,
           guidance: float = DEFAULT_GUIDANCE) -> "Steering":
        """The steering of a model's ``scheme`` by ``settings`` (``parse_controls``), followed
        with ``guidance`` (at least 1); a ramp needs a codec that keeps time."""
        at_least(1, guidance=guidance)
        seconds = codec.token_seconds()
        ramps = [name for name, setting in settings.items() if len(setting.points) > 1]
        if seconds is None and ramps:
            raise UsageError(f"--control {ramps[0]}: the {codec.name} codec keeps no time, so a "
                             "control cannot change along a piece: give it one value")
        return cls(scheme, dict(settings),
                   torch.zeros(codec.size) if seconds is None else seconds.double(), guidance)

    @property
    def guided(self) -> bool:
        """Whether the model is read free as well: a guidance above 1, and a control set."""
        return self.guidance != 1 and bool(self.settings)


class Steered:
    """A model in the interface ``sampling.generate`` and ``beam.beam_search`` use, given its
    controls at every step as ``steering`` sets them; its state is the model's (and, guided,
    the model's with every control free) and each row's time in seconds."""

    def __init__(self, model, steering: Steering) -> None:
        self.model, self.steering = model, steering
        self.seconds = steering.token_seconds.to(model.head.weight.device)

    @property
    def head(self) -> nn.Linear:
        return self.model.head

    def eval(self) -> "Steered":
        self.model.eval()
        return self

    def controls_at(self, seconds: Tensor) -> Tensor:
        return self.steering.scheme.ids_at(self.steering.settings, seconds)

    def init_state(self, batch_size: int, device=None, labels: Tensor | None = None) -> State:
        now = torch.zeros(batch_size, dtype=torch.float64, device=device)
        inner = self.model.init_state(batch_size, device, labels)
        return (inner, inner, now) if self.steering.guided else (inner, now)

    def __call__(self, tokens: Tensor, state: State,
                 labels: Tensor | None = None) -> tuple[Tensor, State]:
        """Tokens [rows, time]: each step's controls at the time of the token it predicts
        (the seconds of the tokens up to and including its input)."""
        *inner, now = state
        times = now[:, None] + self.seconds[tokens].cumsum(1)
        given, inner[0] = self.model(tokens, inner[0], labels, controls=self.controls_at(times))
        if len(inner) == 1:
            return given, (inner[0], times[:, -1])
        free, inner[1] = self.model(tokens, inner[1], labels)
        return self.guide(given, free), (*inner, times[:, -1])

    def step(self, tokens: Tensor, state: State,
             labels: Tensor | None = None) -> tuple[Tensor, State]:
        *inner, now = state
        now = now + self.seconds[tokens]
        given, inner[0] = self.model.step(tokens, inner[0], labels,
                                          controls=self.controls_at(now))
        if len(inner) == 1:
            return given, (inner[0], now)
        free, inner[1] = self.model.step(tokens, inner[1], labels)
        return self.guide(given, free), (*inner, now)

    def guide(self, given: Tensor, free: Tensor) -> Tensor:
        """The log-probabilities of the free model moved ``guidance`` times as far as the
        controls given move them."""
        free = free.float().log_softmax(-1)
        return free + self.steering.guidance * (given.float().log_softmax(-1) - free)


def steer(model, steering: Steering | None):
    """``model`` (a ``Generator``, or an encoder-decoder's ``Decoding``) steered by
    ``steering``; without, the model itself (its controls, if any, free)."""
    return model if steering is None else Steered(model, steering)
