"""The plugin's entry point: its hook. The codec lives in ``seqgen_miditok.codec``, imported
when seqgen asks for codecs; MidiTok itself (over a second to import) only when a codec is
made, so loading the plugin (``seqgen --help`` does) stays light.
"""

import seqgen


@seqgen.hookimpl
def register_codecs(register):
    from seqgen_miditok.codec import MiditokCodec

    register("miditok", MiditokCodec,
             description="MIDI files as MidiTok tokens (REMI, TSD, MIDILike, Structured); "
                         "chosen by --format miditok only")
