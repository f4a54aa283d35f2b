"""The hooks a seqgen plugin can implement. This contract is public: it only ever grows."""

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("seqgen")
hookimpl = pluggy.HookimplMarker("seqgen")


@hookspec
def register_cells(register: Callable[..., None]) -> None:
    """Register recurrent cells.

    Call ``register(name, cell_class, description="...")`` once per cell. ``cell_class`` is a
    subclass of :class:`seqgen.StepCell` (one layer, one time step; seqgen stacks and unrolls it)
    or of :class:`seqgen.StackCell` (runs every layer over a whole sequence itself, for fused
    kernels). Its keyword constructor parameters are the cell's options (``--cell-opt key=value``).
    """
