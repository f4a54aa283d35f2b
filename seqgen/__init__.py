"""seqgen: train and sample recurrent sequence generators.

The public API: the plugin contracts (``StepCell``, ``StackCell``, ``TextCodec``,
``FileCodec``, ``Task``, ``hookimpl``; ``Note``, what a codec's ``control_notes`` gives) and
the functions behind every CLI command. Names are
imported on first use, so ``import seqgen`` (and ``seqgen --help``) does not import torch.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "StackCell": "seqgen.nn.cells", "StepCell": "seqgen.nn.cells",
    "Checkpoint": "seqgen.training.checkpoint", "load_checkpoint": "seqgen.training.checkpoint",
    "CodecFileError": "seqgen.data.codecs.base", "FileCodec": "seqgen.data.codecs.base",
    "Rules": "seqgen.data.codecs.base", "TextCodec": "seqgen.data.codecs.base",
    "FileCorpus": "seqgen.data.items", "TextCorpus": "seqgen.data.streams",
    "TextItemCorpus": "seqgen.data.items", "load_corpus": "seqgen.data.corpus",
    "ModelConfig": "seqgen.config", "TrainConfig": "seqgen.config",
    "SeqgenError": "seqgen.errors", "UsageError": "seqgen.errors",
    "Evaluation": "seqgen.training.evaluation", "evaluate_checkpoint": "seqgen.training.evaluation",
    "hookimpl": "seqgen.hookspecs",
    "SamplingOptions": "seqgen.nn.sampling", "generate": "seqgen.nn.sampling",
    "generate_pieces": "seqgen.nn.sampling", "generate_targets": "seqgen.nn.sampling",
    "generate_text": "seqgen.nn.sampling",
    "TrainResult": "seqgen.training.trainer", "resume": "seqgen.training.runs",
    "train": "seqgen.training.runs",
    "Task": "seqgen.task", "judge": "seqgen.tasks.judge",
    "label_probabilities": "seqgen.tasks.many_to_one",
    "Note": "seqgen.data.notes",
    "Bins": "seqgen.data.controls", "Control": "seqgen.data.controls",
    "ControlSetting": "seqgen.data.controls", "fit_bins": "seqgen.data.controls",
    "measure_controls": "seqgen.data.controls", "parse_control": "seqgen.data.controls",
    "piece_controls": "seqgen.data.controls", "parse_controls": "seqgen.data.controls",
    "ControlScheme": "seqgen.data.controls", "Steering": "seqgen.nn.steering",
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
