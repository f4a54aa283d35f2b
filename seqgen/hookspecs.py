"""The hooks a seqgen plugin can implement. This contract is public: it only ever grows.

A plugin is a module (or object) with functions marked ``@seqgen.hookimpl`` and named as
below, exposed through the ``seqgen`` entry-point group of its distribution. It implements any
of the hooks, each called once per plugin.
"""

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
    The name is what ``--cell NAME`` selects; two plugins registering one name is an error.
    """


@hookspec
def register_codecs(register: Callable[..., None]) -> None:
    """Register codecs: corpus formats and tokenizers.

    Call ``register(name, codec_class, description="...")`` once per codec; ``--format NAME``
    selects it, and checkpoints record it (``aliases=(...)`` keeps earlier names working).
    ``codec_class`` is a subclass of :class:`seqgen.TextCodec` (seqgen reads UTF-8 text files,
    the codec maps text to tokens: a character or word vocabulary) or of
    :class:`seqgen.FileCodec` (the codec reads and writes its own files: MIDI, ABC notation).
    Its keyword constructor parameters are its options (``--codec-opt key=value``); a codec
    that can vary a training item implements ``augment``.
    """


@hookspec
def register_tasks(register: Callable[..., None]) -> None:
    """Register tasks: shapes of model, what ``--arch NAME`` selects.

    Call ``register(name, task_class, description="...")`` once per task. ``task_class`` is a
    subclass of :class:`seqgen.task.Task`: it loads its corpus, builds its model, and says what
    its checkpoints record and what ``seqgen eval`` reports. Checkpoints record the name.
    """


@hookspec
def register_commands(app) -> None:
    """Add commands to the ``seqgen`` command line.

    ``app`` is the root ``typer.Typer``: decorate functions with ``@app.command()`` (or add a
    sub-app with ``app.add_typer``). A plugin whose hook raises is reported and skipped.
    """
