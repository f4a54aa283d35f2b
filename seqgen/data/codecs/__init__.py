"""Codecs: a corpus's files to token ids and back.

- ``base``: the contract every codec implements (``Codec``, its kinds ``TextCodec`` and
  ``FileCodec``, ``Codec.implements`` for optional capabilities, ``Rules`` (whose weights on
  the logits are ``seqgen.nn.constraints``'),
  ``Augmentation``, ``CodecFileError``) and the codec registry (``codecs``, ``get_codec``,
  ``load_codec``). The rest of seqgen knows codecs through this module alone.
- the built-in codecs, registered by ``seqgen.data.codecs.builtin`` like any plugin's: ``chars``
  (characters), ``subwords`` (byte-level BPE and words), ``midi`` (Performance RNN events) and
  ``parts`` (a MIDI file's tracks as parts on a grid).

Import the module you need: this package imports nothing, so a codec's own library is
imported with that codec alone.
"""
