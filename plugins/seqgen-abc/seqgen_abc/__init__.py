"""The plugin's entry point: its hooks. The codec lives in ``seqgen_abc.codec`` and is imported
when seqgen asks for codecs, so loading the plugin (``seqgen --help`` does) stays light: no
torch, no symusic.
"""

import seqgen


@seqgen.hookimpl
def register_codecs(register):
    from seqgen_abc.codec import AbcCodec

    register("abc", AbcCodec,
             description="ABC notation tunes as NOTE and DUR tokens on a beat grid (symusic)")
