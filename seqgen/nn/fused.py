"""The built-in cells; the plugin ``seqgen.builtins`` registers them.

Each wraps a ``torch.nn`` recurrent module so that training runs the fused CPU and cuDNN
kernels over whole sequences, while sampling steps one token at a time through the cell
kernels (``torch.lstm_cell`` and friends) with the same weights: stepping the fused module
with sequences of length 1 is many times slower on CPU.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

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
        self.rnn_options = rnn_options
        self.rnn = self.make_rnn()

    def make_rnn(self, bidirectional: bool = False) -> nn.RNNBase:
        return self.rnn_class(self.input_size, self.hidden_size, self.num_layers,
                              batch_first=True, bidirectional=bidirectional,
                              dropout=self.dropout if self.num_layers > 1 else 0.0,
                              **self.rnn_options)

    def run_both_ways(self) -> bool:
        """Make this stack an encoder's bidirectional one: the fused module is rebuilt to run
        both directions, and ``forward_packed`` reads each item to its own length. False where
        there is no such kernel (the stack is left as it was)."""
        self.rnn = self.make_rnn(bidirectional=True)
        return True

    def forward_packed(self, x: Tensor, lengths: Tensor) -> Tensor:
        """Outputs [batch, time, 2 * hidden] of both directions of a stack made bidirectional
        (``run_both_ways``), each item read to its length (``lengths`` on the CPU): padding
        enters neither direction, and its outputs are zeros."""
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y, _ = self.rnn(packed)
        return pad_packed_sequence(y, batch_first=True, total_length=x.size(1))[0]

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
        self.activation, self.init = activation, init
        if init == "identity":
            self.identity_init()

    def run_both_ways(self) -> bool:
        """Fused both ways for tanh and relu; sigmoid has no fused kernel."""
        if self.activation == "sigmoid":
            return False
        super().run_both_ways()
        if self.init == "identity":
            self.identity_init()
        return True

    def identity_init(self) -> None:
        """Le et al. (2015): recurrent matrix = identity, biases = 0 (for ReLU RNNs), in
        every layer and direction."""
        with torch.no_grad():
            for group in range(len(self.rnn._flat_weights) // 4):
                _, w_hh, b_ih, b_hh = self.layer_weights(group)
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
