"""The plugin's entry point: its hooks. The cell lives in ``seqgen_mingru.mingru`` and is
imported when seqgen asks for cells, so loading the plugin (``seqgen --help`` does) stays
light: no torch.
"""

import seqgen


@seqgen.hookimpl
def register_cells(register):
    from seqgen_mingru.mingru import MinGRU

    register("mingru", MinGRU,
             description="minGRU (Feng et al. 2024), a StepCell trained with a parallel scan")
