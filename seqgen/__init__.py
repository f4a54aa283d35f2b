"""seqgen: train and sample recurrent sequence generators.

The public API: the cell contract (``StepCell``, ``StackCell``, ``hookimpl``) and the
functions behind every CLI command.
"""

__version__ = "0.1.0"

from seqgen.cells import StackCell, StepCell  # noqa: E402
from seqgen.checkpoint import Checkpoint, load_checkpoint  # noqa: E402
from seqgen.codec import CodecFileError, FileCodec, TextCodec  # noqa: E402
from seqgen.corpus import FileCorpus, TextCorpus, TextItemCorpus, load_corpus  # noqa: E402
from seqgen.errors import SeqgenError, UsageError  # noqa: E402
from seqgen.evaluation import Evaluation, evaluate_checkpoint  # noqa: E402
from seqgen.hookspecs import hookimpl  # noqa: E402
from seqgen.sampling import (  # noqa: E402
    SamplingOptions,
    generate,
    generate_pieces,
    generate_text,
)
from seqgen.training import TrainConfig, TrainResult, resume, train  # noqa: E402

__all__ = [
    "Checkpoint", "CodecFileError", "Evaluation", "FileCodec", "FileCorpus", "SamplingOptions",
    "SeqgenError", "StackCell", "StepCell", "TextCodec", "TextCorpus", "TextItemCorpus",
    "TrainConfig", "TrainResult", "UsageError", "__version__", "evaluate_checkpoint",
    "generate", "generate_pieces", "generate_text", "hookimpl", "load_checkpoint",
    "load_corpus", "resume", "train",
]
