"""The built-in plugin: seqgen's own cells and codecs, through the hooks any plugin implements.

Each hook imports its classes when called, so loading the plugin (as ``seqgen --help`` does,
to collect commands) imports no torch: the pattern docs/plugins.md recommends to plugins.
"""

from seqgen.hookspecs import hookimpl


@hookimpl
def register_cells(register):
    from seqgen.nn.fused import GRU, LSTM, Vanilla

    register("vanilla", Vanilla,
             description="Elman RNN with tanh, relu or sigmoid activation (fused nn.RNN)")
    register("gru", GRU, description="Gated recurrent unit (fused nn.GRU)")
    register("lstm", LSTM, description="Long short-term memory (fused nn.LSTM)")


@hookimpl
def register_codecs(register):
    from seqgen.data.chars import CharCodec
    from seqgen.data.midi import MidiCodec
    from seqgen.data.parts import PartsCodec
    from seqgen.data.subwords import BpeCodec, WordLevelCodec

    register("char", CharCodec, aliases=("text",),
             description="Characters of UTF-8 text (.txt): one stream, or lines or files as items")
    register("bpe", BpeCodec,
             description="Byte-level BPE subwords of UTF-8 text (Hugging Face tokenizers), "
                         "learned from the training text; no unknown token")
    register("words", WordLevelCodec,
             description="Words and punctuation of UTF-8 text (Hugging Face tokenizers), case "
                         "kept; words rarer than min_count are <unk>")
    register("midi", MidiCodec,
             description="Performance events of MIDI files (.mid, .midi): Performance RNN's "
                         "note-on/off, 10 ms time shifts, velocity bins")
    register("parts", PartsCodec,
             description="Parts of MIDI files on a grid (.mid, .midi): a note, hold or rest "
                         "token per track at each step; voices kept apart")
