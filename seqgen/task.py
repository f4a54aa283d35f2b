"""The task contract: one object per shape of the classic RNN diagram, chosen once.

A task (``--arch NAME``) is asked everything that differs between shapes: which of a run's
settings it takes, how its corpus is loaded and checked, what its model is, which fields its
checkpoint carries, what runs after training, what ``seqgen eval`` reports beyond the loss,
and how it samples or predicts. Generic code (the trainer, evaluation, checkpoints, the CLI)
asks the task of a run or a checkpoint and names no shape. Tasks are plugins: a package
registers its own through the ``register_tasks`` hook, exactly as the built-in ones are
registered (``seqgen.tasks.builtin``).

This module imports no torch; a task's methods import what they need.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqgen.plugins import Spec, collect, lookup

# The settings of a run and of a model (seqgen.config, which asks this module for the task)
TrainConfig = ModelConfig = Any


class Task:
    """One shape: what a run of it trains on, what it builds, what it reports. Subclass it and
    register the subclass (``register("name", MyTask, description=...)``)."""

    name = ""
    loss_per = "token"  # what a loss is counted per, in what seqgen prints: a target token
    # Settings (TrainConfig field names) that this task takes and not every task does (another
    # may take one too): given to a task that takes none of them, a one-line error naming the
    # tasks that do.
    own_settings: tuple[str, ...] = ()

    def check_settings(self, config: TrainConfig) -> None:
        """Settings that do not suit this task: a one-line usage error naming the flag."""

    def load_corpus(self, path: str | Path, config: TrainConfig, *, strict: bool = False,
                    progress: Any = None, fitted: Any = None) -> Any:
        """The corpus a run of ``config`` trains on (``fitted``: a checkpoint's learnt codec,
        to encode it as the run did)."""
        raise NotImplementedError

    def prepare_corpus(self, corpus: Any) -> Any:
        """The corpus as this task trains on it; one it cannot train on is a usage error that
        says what it needs."""
        return corpus

    def settle(self, config: TrainConfig, corpus: Any) -> TrainConfig:
        """The run's settings with what this task resolves from its corpus (as a clock)."""
        return config

    def model_config(self, config: TrainConfig, corpus: Any) -> ModelConfig:
        """The model a run of ``config`` on ``corpus`` trains."""
        raise NotImplementedError

    def build_model(self, config: ModelConfig, corpus: Any = None) -> Any:
        """The model ``config`` describes (``corpus``: what a run trains on, where the model
        reads facts of it, as a clock reads its tokens' seconds)."""
        raise NotImplementedError

    def checkpoint_fields(self, corpus: Any) -> tuple[dict, dict]:
        """What a checkpoint records beyond the generic fields: (top-level fields, fields of
        its ``corpus`` record)."""
        return {}, {}

    def after_training(self, trainer: Any) -> Any:
        """What runs once training has ended (a rule fit); what it returns is the run's
        result's ``rule_weights``."""
        return None

    def evaluate(self, ckpt: Any, val: Any, batches: Any, precision: str, beam: int,
                 result: Any, progress: Any = None) -> None:
        """Add to ``result`` (an ``Evaluation`` of ``ckpt`` on its validation data ``val``, as
        ``batches``, in ``precision``) what ``seqgen eval`` reports beyond the loss; a long part
        of it (decoding) tells ``progress`` how far it has got (an ``EvalProgress``)."""

    def tokens_read(self, chunk: Any, targets: Any) -> Any:
        """How many tokens a training step on ``chunk`` reads, for its tokens per second: by
        default its ``targets`` (the count of real target tokens)."""
        return targets

    def writes_from_inputs(self) -> bool:
        """A model that writes an output for each input it is given (``sample --input``),
        rather than continuing a primer."""
        return False

    def predicts_labels(self) -> bool:
        """A model that reads an item and says its label (``seqgen classify``)."""
        return False


def tasks() -> dict[str, Spec]:
    """Every registered task, by the name ``--arch`` uses."""
    return collect("register_tasks", "task", (Task,), lambda cls: {})


def get_task(name: str) -> Task:
    """The task registered as ``name``, or a usage error listing those that exist."""
    return lookup(tasks(), name, "--arch", "available", "seqgen plugins --all").cls()
