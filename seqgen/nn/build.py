"""A model from its config: a ``Generator`` (many-to-many, one-to-many) or a ``Seq2Seq``
(encoder-decoder), with cells from the plugin registry."""

from dataclasses import replace

from torch import Tensor

from seqgen.config import ATTENTIONS, ModelConfig, one_of
from seqgen.errors import SeqgenError, UsageError
from seqgen.nn.encoder import Encoder
from seqgen.nn.model import Generator, build_generator
from seqgen.nn.seq2seq import Seq2Seq, context_size

Model = Generator | Seq2Seq


def build_model(config: ModelConfig,
                token_seconds: tuple[Tensor, Tensor] | None = None) -> Model:
    """Build the model a config describes; an encoder-decoder with a clock counts time with
    ``token_seconds`` (of each source and target token; see ``Seq2Seq``)."""
    if config.arch != "encoder-decoder":
        return build_generator(config)
    one_of(ATTENTIONS, attention=config.attention)
    if config.source_vocab_size < 1:
        raise SeqgenError("an encoder-decoder needs a source vocabulary (source_vocab_size)")
    encoder = Encoder(config)
    if config.attention == "dot" and encoder.output_size != config.hidden_size:
        raise UsageError(f"--attention dot needs the encoder's outputs ({encoder.output_size} "
                         f"wide: --encoder-hidden, twice when bidirectional) as wide as the "
                         f"decoder's (--hidden {config.hidden_size}); use --attention general "
                         "or leave --encoder-hidden out")
    decoder = build_generator(replace(config, arch="many-to-many", num_labels=0,
                                      context_size=context_size(config, encoder)))
    return Seq2Seq(config, encoder, decoder, token_seconds)
