"""A model from its config: the task the config names builds it (``seqgen.task``), with cells
from the plugin registry."""

from typing import Any

from torch import nn

from seqgen.config import ModelConfig
from seqgen.task import get_task


def build_model(config: ModelConfig, corpus: Any = None) -> nn.Module:
    """The model a config describes (``corpus``: what a run trains on, for a model that reads
    facts of it, as a clock reads its tokens' seconds; None: a checkpoint's weights hold
    them)."""
    return get_task(config.arch).build_model(config, corpus)
