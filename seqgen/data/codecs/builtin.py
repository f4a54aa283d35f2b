"""The built-in plugin of codecs: char, bpe, words, midi and parts, registered through the hook
any plugin implements (the codecs are imported when the hook is called)."""

from seqgen.hookspecs import hookimpl


@hookimpl
def register_codecs(register):
    from seqgen.data.codecs.chars import CharCodec
    from seqgen.data.codecs.midi import MidiCodec
    from seqgen.data.codecs.parts import PartsCodec
    from seqgen.data.codecs.subwords import BpeCodec, WordLevelCodec

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
