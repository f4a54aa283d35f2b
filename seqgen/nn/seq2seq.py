"""The encoder-decoder: many-to-many across lengths.

An encoder (``seqgen.nn.encoder``) reads the whole source; a learned map of its final states
(the bridge, ``StartState``) starts the decoder, which is a ``Generator`` like any other:
embedding, cell stack, head. At every decoder step, attention (``seqgen.nn.attention``) over
the encoder's outputs gives a context vector, joined with the decoder's output into the
attentional vector tanh(W [context; output]) that the head reads (Luong et al. 2015). With
input feeding, that vector is also joined to the next step's input (the Generator's context
input), which makes training a loop over steps.

``Decoding`` binds a model to encoded sources, in the interface sampling and beam search use
(``init_state``, a call over tokens, ``step``), so every sampling option works unchanged.
"""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from seqgen.config import ModelConfig
from seqgen.data.batching import Chunk
from seqgen.nn.attention import Attention
from seqgen.nn.bridge import StartState
from seqgen.nn.cells import State, map_state
from seqgen.nn.encoder import Encoder
from seqgen.nn.model import Generator


@dataclass
class Memory:
    """What the decoder reads of a batch of sources."""

    outputs: Tensor  # [batch, source time, encoder output size], zeros at padding
    keys: Tensor | None  # [batch, source time, hidden]: the attention's view of the outputs
    mask: Tensor  # [batch, source time] bool: real positions
    final: Tensor  # [batch, encoder output size]: each source's final states


class Seq2Seq(nn.Module):
    """Encoder, bridge, attention and a decoder ``Generator``."""

    def __init__(self, config: ModelConfig, encoder: Encoder, decoder: Generator) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.decoder = decoder
        self.bridge = StartState(decoder.stack.init_state(1), encoder.output_size)
        hidden = config.hidden_size
        self.attention = None if config.attention == "none" else \
            Attention(config.attention, hidden, encoder.output_size)
        self.combine = None if self.attention is None else \
            nn.Linear(encoder.output_size + hidden, hidden)

    @property
    def head(self) -> nn.Linear:
        return self.decoder.head

    @property
    def stack(self) -> nn.Module:
        """The decoder's stack (what ``--compile`` compiles)."""
        return self.decoder.stack

    def encode(self, source: Tensor, lengths: Tensor) -> Memory:
        """Encode sources [batch, time], padded after their ``lengths`` [batch] (CPU)."""
        outputs, mask, final = self.encoder(source, lengths)
        keys = None if self.attention is None else self.attention.keys(outputs)
        return Memory(outputs, keys, mask, final)

    def start_state(self, memory: Memory, rows: int) -> State:
        """The decoder's first state for ``rows`` rows: the bridge of each source's final
        states, each source's repeated over its ``rows // sources`` consecutive rows (samples
        or beams of one source)."""
        sources = memory.final.size(0)
        state = self.bridge(sources, memory.final)
        if rows != sources:
            state = map_state(lambda t: t.repeat_interleave(rows // sources, 0), state)
        if self.config.input_feeding:
            state = (state, memory.final.new_zeros(rows, self.config.hidden_size))
        return state

    def chunk_state(self, chunk: Chunk, carried: State | None) -> State | None:
        """None where a chunk starts its targets (the state is then made from the sources in
        ``forward``); the carried state where a long target goes on."""
        return None if carried is None or chunk.fresh else carried

    def forward(self, tokens: Tensor, state: State | None, labels: Tensor | None = None,
                source: Tensor | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, State]:
        """Teacher forcing: target inputs [batch, time] -> logits [batch, time, vocab], from
        the sources' bridge (``state`` None) or a carried decoder state."""
        memory = self.encode(source, lengths)
        if state is None:
            state = self.start_state(memory, tokens.size(0))
        logits, state, _ = self.decode(tokens, state, memory)
        return logits, state

    def decode(self, tokens: Tensor, state: State,
               memory: Memory) -> tuple[Tensor, State, Tensor | None]:
        """Logits [rows, time, vocab], the state after, and the attention weights [rows,
        time, source time] (None without attention) of decoder inputs [rows, time]."""
        if self.config.input_feeding:
            return self.decode_fed(tokens, state, memory)
        outputs, state = self.decoder.stack(self.decoder.inputs(tokens, None), state)
        attentional, weights = self.attend(outputs, memory)
        return self.decoder.head(self.decoder.dropout(attentional)), state, weights

    def decode_fed(self, tokens: Tensor, state: State,
                   memory: Memory) -> tuple[Tensor, State, Tensor]:
        """``decode`` with input feeding: one step at a time, each attentional vector joined
        to the next step's input."""
        stack_state, fed = state
        attentionals, weights = [], []
        for step_tokens in tokens.unbind(1):
            output, stack_state = self.decoder.stack.step(
                self.decoder.inputs(step_tokens, None, fed), stack_state)
            attentional, step_weights = self.attend(output[:, None], memory)
            fed = attentional[:, 0]
            attentionals.append(fed)
            weights.append(step_weights)
        logits = self.decoder.head(self.decoder.dropout(torch.stack(attentionals, 1)))
        return logits, (stack_state, fed), torch.cat(weights, 1)

    def attend(self, outputs: Tensor, memory: Memory) -> tuple[Tensor, Tensor | None]:
        """Attentional vectors [rows, time, hidden] of decoder outputs [rows, time, hidden],
        each source's rows (consecutive) over that source's memory; and the weights."""
        if self.attention is None:
            return outputs, None
        rows, time, hidden = outputs.shape
        sources = memory.outputs.size(0)
        query = outputs.reshape(sources, rows // sources * time, hidden)
        context, weights = self.attention(query, memory.keys, memory.outputs, memory.mask)
        context = context.view(rows, time, -1)
        attentional = torch.tanh(self.combine(torch.cat([context, outputs], -1)))
        return attentional, weights.view(rows, time, -1)

    @torch.inference_mode()
    def attention_weights(self, source: Tensor, target: Tensor) -> Tensor | None:
        """Where each step of decoding ``target`` [time] (start token first) from ``source``
        [source time] looked: weights [time, source time], or None without attention."""
        self.eval()
        memory = self.encode(source[None].to(self.head.weight.device),
                             torch.tensor([source.numel()]))
        _, _, weights = self.decode(target[None].to(memory.outputs.device),
                                    self.start_state(memory, 1), memory)
        return None if weights is None else weights[0].float().cpu()


class Decoding:
    """A model bound to a batch of sources, encoded once: it decodes in the interface that
    ``sampling.generate`` and ``beam.beam_search`` use (labels are ignored). Rows are
    source-major: a batch of ``k * sources`` rows decodes each source ``k`` times."""

    def __init__(self, model: Seq2Seq, sources: list[Tensor]) -> None:
        self.model = model.eval()
        device = model.head.weight.device
        lengths = torch.tensor([s.numel() for s in sources])
        padded = torch.zeros(len(sources), int(lengths.max()), dtype=torch.long)
        for row, source in enumerate(sources):
            padded[row, : source.numel()] = source
        with torch.no_grad():
            self.memory = model.encode(padded.to(device), lengths)

    @property
    def head(self) -> nn.Linear:
        return self.model.head

    def eval(self) -> "Decoding":
        return self

    def init_state(self, batch_size: int, device=None, labels: Tensor | None = None) -> State:
        return self.model.start_state(self.memory, batch_size)

    def __call__(self, tokens: Tensor, state: State,
                 labels: Tensor | None = None) -> tuple[Tensor, State]:
        logits, state, _ = self.model.decode(tokens, state, self.memory)
        return logits, state

    def step(self, tokens: Tensor, state: State,
             labels: Tensor | None = None) -> tuple[Tensor, State]:
        logits, state, _ = self.model.decode(tokens[:, None], state, self.memory)
        return logits[:, 0], state
