"""seqgen: train and sample recurrent sequence generators.

The public API: the cell contract (``StepCell``, ``StackCell``, ``hookimpl``) and the
functions behind every CLI command. Names are imported on first use, so ``import seqgen``
(and ``seqgen --help``) does not import torch.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "StackCell": "seqgen.cells", "StepCell": "seqgen.cells",
    "Checkpoint": "seqgen.checkpoint", "load_checkpoint": "seqgen.checkpoint",
    "CodecFileError": "seqgen.codec", "FileCodec": "seqgen.codec", "TextCodec": "seqgen.codec",
    "FileCorpus": "seqgen.corpus", "TextCorpus": "seqgen.corpus",
    "TextItemCorpus": "seqgen.corpus", "load_corpus": "seqgen.corpus",
    "ModelConfig": "seqgen.config", "TrainConfig": "seqgen.config",
    "SeqgenError": "seqgen.errors", "UsageError": "seqgen.errors",
    "Evaluation": "seqgen.evaluation", "evaluate_checkpoint": "seqgen.evaluation",
    "hookimpl": "seqgen.hookspecs",
    "SamplingOptions": "seqgen.sampling", "generate": "seqgen.sampling",
    "generate_pieces": "seqgen.sampling", "generate_text": "seqgen.sampling",
    "TrainResult": "seqgen.training", "resume": "seqgen.training", "train": "seqgen.training",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'seqgen' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
