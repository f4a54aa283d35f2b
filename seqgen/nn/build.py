"""A model from its config: a ``Generator`` (many-to-many, one-to-many) or a ``Seq2Seq``
(encoder-decoder), with cells from the plugin registry."""

from dataclasses import replace

from seqgen.config import ATTENTIONS, ModelConfig, one_of
from seqgen.errors import SeqgenError
from seqgen.nn.encoder import Encoder
from seqgen.nn.model import Generator, build_generator
from seqgen.nn.seq2seq import Seq2Seq

Model = Generator | Seq2Seq


def build_model(config: ModelConfig) -> Model:
    """Build the model a config describes."""
    if config.arch != "encoder-decoder":
        return build_generator(config)
    one_of(ATTENTIONS, attention=config.attention)
    if config.source_vocab_size < 1:
        raise SeqgenError("an encoder-decoder needs a source vocabulary (source_vocab_size)")
    decoder = build_generator(replace(
        config, arch="many-to-many", num_labels=0,
        context_size=config.hidden_size if config.input_feeding else 0))
    return Seq2Seq(config, Encoder(config), decoder)
