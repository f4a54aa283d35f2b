"""The built-in codecs, registered through the same plugin hook a third-party package uses."""

from seqgen.codec import CharCodec
from seqgen.hookspecs import hookimpl
from seqgen.midi import MidiCodec


@hookimpl
def register_codecs(register):
    register("text", CharCodec,
             description="Characters of UTF-8 text (.txt): one stream, or lines or files as items")
    register("midi", MidiCodec,
             description="Performance events of MIDI files (.mid, .midi): Performance RNN's "
                         "note-on/off, 10 ms time shifts, velocity bins")
