"""The plugin's entry point: its hooks. The cell lives in ``seqgen_mgu.mgu`` and is
imported when seqgen asks for cells, so loading the plugin (``seqgen --help`` does) stays
light: no torch.
"""

import seqgen


@seqgen.hookimpl
def register_cells(register):
    from seqgen_mgu.mgu import MGU

    register("mgu", MGU,
             description="Minimal gated unit (Zhou et al. 2016), a StepCell plugin")
