"""The built-in cells; the plugin ``seqgen.nn.builtin`` registers them.

Each wraps a ``torch.nn`` recurrent module so that training runs the fused CPU and cuDNN
kernels over whole sequences, while sampling steps one token at a time through the cell
kernels (``torch.lstm_cell`` and friends) with the same weights: stepping the fused module
with sequences of length 1 is many times slower on CPU.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgen.nn.cells import StackCell, State


class FusedStack(StackCell):
    """A StackCell over a ``torch.nn.RNNBase`` module.

    The state is a tuple with one entry per layer ([batch, hidden]; an (h, c) pair for the
    LSTM), so a sampling step touches each layer's state directly; a whole-sequence forward
    stacks them into the [layers, batch, hidden] the fused kernel takes, once per chunk.
    """

    rnn_class: type[nn.RNNBase]

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, **rnn_options: object) -> None:
        super().__init__(input_size, hidden_size, num_layers, dropout)
        self.rnn = self.rnn_class(
            input_size, hidden_size, num_layers, batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0, **rnn_options,
        )

    def layer_state(self, batch_size: int, device=None, dtype=None) -> State:
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def init_state(self, batch_size: int, device=None, dtype=None) -> State:
        return tuple(self.layer_state(batch_size, device, dtype) for _ in range(self.num_layers))

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, final = self.rnn(x, self.layers_first(state))
        return y, self.per_layer(final)

    def layers_first(self, state: State) -> Tensor:
        """Per-layer states -> the [layers, batch, hidden] tensor the fused module takes."""
        return torch.stack(state, 0)

    def per_layer(self, final: Tensor) -> State:
        return tuple(final.unbind(0))

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        new_state = []
        for layer, layer_state in enumerate(state):
            if layer > 0 and self.training and self.dropout:
                x = F.dropout(x, self.dropout)
            x, layer_state = self.cell_step(x, layer_state, *self.layer_weights(layer))
            new_state.append(layer_state)
        return x, tuple(new_state)

    def layer_weights(self, layer: int) -> list[Tensor]:
        """(weight_ih, weight_hh, bias_ih, bias_hh) of a layer: the module's own flat list,
        which it keeps current when weights move or are loaded."""
        return self.rnn._flat_weights[4 * layer : 4 * layer + 4]

    def cell_step(self, x: Tensor, state: State, *weights: Tensor) -> tuple[Tensor, State]:
        """One layer, one step, with this layer's weights."""
        raise NotImplementedError


class LSTM(FusedStack):
    rnn_class = nn.LSTM

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0) -> None:  # no options: --cell-opt names none
        super().__init__(input_size, hidden_size, num_layers, dropout)

    def layer_state(self, batch_size: int, device=None, dtype=None) -> State:
        zeros = super().layer_state(batch_size, device, dtype)
        return zeros, zeros.clone()

    def layers_first(self, state: State) -> tuple[Tensor, Tensor]:
        return torch.stack([h for h, _ in state], 0), torch.stack([c for _, c in state], 0)

    def per_layer(self, final: tuple[Tensor, Tensor]) -> State:
        return tuple(zip(final[0].unbind(0), final[1].unbind(0), strict=True))

    def cell_step(self, x, state, *weights):
        h, c = torch.lstm_cell(x, state, *weights)
        return h, (h, c)


class GRU(FusedStack):
    rnn_class = nn.GRU

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0) -> None:  # no options: --cell-opt names none
        super().__init__(input_size, hidden_size, num_layers, dropout)

    def cell_step(self, x, state, *weights):
        h = torch.gru_cell(x, state, *weights)
        return h, h


class Vanilla(FusedStack):
    """Elman RNN: h' = act(W_ih x + b_ih + W_hh h + b_hh).

    tanh and relu run the fused ``nn.RNN`` kernels; sigmoid (which ``nn.RNN`` lacks) runs a
    loop over time with the input projection of the whole chunk computed first.
    """

    rnn_class = nn.RNN
    activations = ("tanh", "relu", "sigmoid")
    inits = ("default", "identity")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, activation: str = "tanh", init: str = "default") -> None:
        if activation not in self.activations:
            raise ValueError(f"activation must be one of {', '.join(self.activations)}, "
                             f"not {activation!r}")
        if init not in self.inits:
            raise ValueError(f"init must be one of {', '.join(self.inits)}, not {init!r}")
        fused = activation if activation != "sigmoid" else "tanh"
        super().__init__(input_size, hidden_size, num_layers, dropout, nonlinearity=fused)
        self.activation = activation
        if init == "identity":
            self.identity_init()

    def identity_init(self) -> None:
        """Le et al. (2015): recurrent matrix = identity, biases = 0 (for ReLU RNNs)."""
        with torch.no_grad():
            for layer in range(self.num_layers):
                _, w_hh, b_ih, b_hh = self.layer_weights(layer)
                w_hh.copy_(torch.eye(self.hidden_size))
                b_ih.zero_()
                b_hh.zero_()

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        if self.activation != "sigmoid":
            return super().forward(x, state)
        last = []
        for layer in range(self.num_layers):
            if layer > 0:
                x = F.dropout(x, self.dropout, self.training)
            w_ih, w_hh, b_ih, b_hh = self.layer_weights(layer)
            h, outputs = state[layer], []
            for pre in F.linear(x, w_ih, b_ih).unbind(1):
                h = torch.sigmoid(pre + F.linear(h, w_hh, b_hh))
                outputs.append(h)
            x = torch.stack(outputs, 1)
            last.append(h)
        return x, tuple(last)

    def cell_step(self, x, state, w_ih, w_hh, b_ih, b_hh):
        if self.activation == "tanh":
            h = torch.rnn_tanh_cell(x, state, w_ih, w_hh, b_ih, b_hh)
        elif self.activation == "relu":
            h = torch.rnn_relu_cell(x, state, w_ih, w_hh, b_ih, b_hh)
        else:
            h = torch.sigmoid(F.linear(x, w_ih, b_ih) + F.linear(state, w_hh, b_hh))
        return h, h
