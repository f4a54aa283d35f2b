"""The cell contract (StepCell, StackCell) and the machinery that stacks and unrolls cells.

A recurrent *state* is a Tensor or a (nested) tuple of Tensors, each with the batch as
dimension 0. Every helper here works on any such state.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgen.plugins import Spec, collect, keyword_options, lookup

State = Tensor | tuple["State", ...]


class ContractError(Exception):
    """A cell's outputs or states do not have the shapes the cell contract asks for."""


class StepCell(nn.Module):
    """One recurrent layer, written as one time step. seqgen stacks and unrolls it.

    Subclass it and implement :meth:`init_state` and :meth:`step`. The constructor takes
    ``(input_size, hidden_size, **options)``; keyword parameters are the cell's options.
    Override :meth:`forward` for a faster whole-sequence path (for example, computing the
    input projection of every step in one matrix multiply before the time loop).
    """

    def __init__(self, input_size: int, hidden_size: int, **options: object) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size

    def init_state(self, batch_size: int, device=None, dtype=None) -> State:
        """The state before the first step: a Tensor or tuple of Tensors, batch first."""
        raise NotImplementedError

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """One time step: ``x`` is [batch, input_size]; returns ([batch, hidden_size], state)."""
        raise NotImplementedError

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """Unroll over time: ``x`` is [batch, time, input_size]."""
        outputs = []
        for x_t in x.unbind(1):
            y, state = self.step(x_t, state)
            outputs.append(y)
        return torch.stack(outputs, 1), state


class StackCell(nn.Module):
    """Every layer of a recurrent stack in one module, run over a whole sequence at once.

    Subclass this instead of :class:`StepCell` to use fused kernels (the built-in cells wrap
    ``torch.nn.RNN``/``GRU``/``LSTM``). The constructor takes
    ``(input_size, hidden_size, num_layers, dropout, **options)`` and the class implements
    :meth:`init_state`, :meth:`forward` (whole sequences, for training) and :meth:`step`
    (one token, for sampling), with states batch first.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, **options: object) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout

    def init_state(self, batch_size: int, device=None, dtype=None) -> State:
        raise NotImplementedError

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """``x`` is [batch, time, input_size]; returns ([batch, time, hidden_size], state)."""
        raise NotImplementedError

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """``x`` is [batch, input_size]; returns ([batch, hidden_size], state)."""
        raise NotImplementedError


class LayerStack(StackCell):
    """Stacks ``num_layers`` StepCells with dropout between them."""

    def __init__(self, cell_class: type[StepCell], input_size: int, hidden_size: int,
                 num_layers: int = 1, dropout: float = 0.0, **options: object) -> None:
        super().__init__(input_size, hidden_size, num_layers, dropout)
        self.layers = nn.ModuleList(
            cell_class(input_size if i == 0 else hidden_size, hidden_size, **options)
            for i in range(num_layers)
        )

    def init_state(self, batch_size: int, device=None, dtype=None) -> State:
        return tuple(layer.init_state(batch_size, device, dtype) for layer in self.layers)

    def _run(self, method: str, x: Tensor, state: State) -> tuple[Tensor, State]:
        new_state = []
        for i, (layer, layer_state) in enumerate(zip(self.layers, state, strict=True)):
            if i > 0:
                x = F.dropout(x, self.dropout, self.training)
            # forward through the module call: it runs what compile_unroll compiled
            run = layer if method == "forward" else layer.step
            x, s = run(x, layer_state)
            new_state.append(s)
        return x, tuple(new_state)

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self._run("forward", x, state)

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self._run("step", x, state)


def map_state(fn: Callable[[Tensor], Tensor], state: State) -> State:
    """Apply ``fn`` to every tensor of a state, keeping its structure."""
    if isinstance(state, Tensor):
        return fn(state)
    return tuple(map_state(fn, s) for s in state)


def detach_state(state: State) -> State:
    """Cut the graph between truncated-BPTT chunks, keeping the values."""
    return map_state(Tensor.detach, state)


def flatten_state(state: State) -> tuple[list[Tensor], object]:
    """The tensors of a state in order, and a JSON-able description of its structure."""
    if isinstance(state, Tensor):
        return [state], "t"
    tensors, spec = [], []
    for s in state:
        t, sp = flatten_state(s)
        tensors += t
        spec.append(sp)
    return tensors, spec


def unflatten_state(tensors: list[Tensor], spec: object) -> State:
    """Inverse of :func:`flatten_state`."""
    it = iter(tensors)

    def build(sp: object) -> State:
        return next(it) if sp == "t" else tuple(build(s) for s in sp)

    return build(spec)


def build_stack(cell_class: type, input_size: int, hidden_size: int, num_layers: int,
                dropout: float, options: dict[str, object]) -> StackCell:
    """Make the recurrent stack of a model from a registered cell class."""
    if issubclass(cell_class, StackCell):
        return cell_class(input_size, hidden_size, num_layers, dropout, **options)
    return LayerStack(cell_class, input_size, hidden_size, num_layers, dropout, **options)


def check_stack(stack: StackCell) -> None:
    """Run a stack on a tiny batch and say exactly what is wrong if its shapes are
    (``ContractError``).

    Catches a cell that returns the wrong output shape or a state that is not batch first at
    model construction, not deep inside training.
    """
    batch, time = 3, 2
    with torch.no_grad():
        state = stack.init_state(batch)
        _check_batch_first(state, batch, "init_state")
        x = torch.zeros(batch, time, stack.input_size)
        y, state = stack(x, state)
        if tuple(y.shape) != (batch, time, stack.hidden_size):
            raise ContractError(
                f"forward returned outputs of shape {tuple(y.shape)}, "
                f"expected [batch, time, hidden_size] = {[batch, time, stack.hidden_size]}"
            )
        _check_batch_first(state, batch, "forward")
        y, state = stack.step(x[:, 0], state)
        if tuple(y.shape) != (batch, stack.hidden_size):
            raise ContractError(
                f"step returned output of shape {tuple(y.shape)}, "
                f"expected [batch, hidden_size] = {[batch, stack.hidden_size]}"
            )
        _check_batch_first(state, batch, "step")


def _check_batch_first(state: State, batch: int, where: str) -> None:
    tensors, _ = flatten_state(state)
    for t in tensors:
        if t.dim() == 0 or t.shape[0] != batch:
            raise ContractError(
                f"{where} returned a state tensor of shape {tuple(t.shape)}, "
                f"which is not batch first (dimension 0 should be the batch, {batch})"
            )


def reset_rows(state: State, rows: Tensor, fresh: State) -> State:
    """The state with the batch rows marked in ``rows`` [batch] (bool) replaced by ``fresh``."""
    if isinstance(state, Tensor):
        return torch.where(rows.view(-1, *([1] * (state.dim() - 1))), fresh, state)
    return tuple(reset_rows(s, rows, f) for s, f in zip(state, fresh, strict=True))


def compile_unroll(stack: StackCell) -> int:
    """Compile the time loop of each StepCell layer with ``torch.compile``, in place (the
    weights' names do not change). Fused stacks are kernels already and are left alone.
    Returns how many layers were compiled."""
    if not isinstance(stack, LayerStack):
        return 0
    for layer in stack.layers:
        layer.compile(dynamic=False)
    return len(stack.layers)


# ---- the registry ----------------------------------------------------------------------------


def cell_options(cls: type) -> dict[str, object]:
    """A cell's options: its constructor's keyword parameters after the sizes."""
    return keyword_options(cls.__init__, skip=5 if issubclass(cls, StackCell) else 3)


def cells() -> dict[str, Spec]:
    """Every registered cell, by name."""
    return collect("register_cells", "cell", (StepCell, StackCell), cell_options)


def get_cell(name: str) -> Spec:
    """The cell registered as ``name``, or a usage error listing those that exist."""
    return lookup(cells(), name, "cell", "available cells", "seqgen cells")
