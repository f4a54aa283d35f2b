"""The encoder-decoder: many-to-many across lengths.

An encoder (``seqgen.nn.encoder``) reads the whole source; a learned map of its final states
(the bridge, ``StartState``) starts the decoder, which is a ``Generator`` like any other:
embedding, cell stack, head. At every decoder step, attention (``seqgen.nn.attention``) over
the encoder's outputs gives a context vector, joined with the decoder's output into the
attentional vector tanh(W [context; output]) that the head reads (Luong et al. 2015). With
input feeding, that vector is also joined to the next step's input (the Generator's context
input), which makes training a loop over steps. With a clock (``seqgen.nn.clock``: pairs of
a codec that keeps time, as MIDI), the time of every source and target token is joined to the
encoder's inputs and outputs and to the decoder's inputs and attention queries, and the
attentional vector also reads the encoder's output where the source is at each step's time
(the last source position at or before it): the melody note a chord sounds under, found by
the clock rather than learnt by attention. (Joined to the decoder's inputs instead, that
output kept training near the loss of token frequencies for hundreds of steps, in three runs.)

The decoder's state is its stack's, then the last attentional vector (input feeding), then
the seconds its clock has reached [rows] (a clock): tensors all, so carrying it between
chunks, saving it and reordering beams need nothing special.

``Decoding`` binds a model to encoded sources, in the interface sampling and beam search use
(``init_state``, a call over tokens, ``step``), so every sampling option works unchanged.
"""

import math
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from seqgen.config import ATTENTIONS, ModelConfig, one_of
from seqgen.data.batching import Chunk
from seqgen.errors import SeqgenError, UsageError
from seqgen.nn.attention import Attention
from seqgen.nn.bridge import StartState
from seqgen.nn.cells import State, map_state
from seqgen.nn.clock import Clock
from seqgen.nn.encoder import Encoder
from seqgen.nn.model import Generator, build_generator


@dataclass
class Memory:
    """What the decoder reads of a batch of sources."""

    outputs: Tensor  # [batch, source time, encoder output size], zeros at padding
    keys: Tensor | None  # [batch, source time, hidden]: the attention's view of the outputs
    mask: Tensor  # [batch, source time] bool: real positions
    final: Tensor  # [batch, encoder output size]: each source's final states
    times: Tensor | None = None  # [batch, source time]: a clock's seconds, inf at padding


SAME_TIME = 1e-4  # seconds: times this close are one (sums of float seconds differ a little)


def memory_size(config: ModelConfig, encoder: Encoder) -> int:
    """How wide the decoder's memory of a source is: the encoder's outputs, and their times'
    clock features."""
    return encoder.output_size + config.clock_size


def context_size(config: ModelConfig, encoder: Encoder) -> int:
    """What the decoder's input joins to each token's embedding: the attentional vector fed
    back (input feeding), and the step's time (a clock)."""
    return (config.hidden_size if config.input_feeding else 0) + config.clock_size


class Seq2Seq(nn.Module):
    """Encoder, bridge, attention and a decoder ``Generator``."""

    def __init__(self, config: ModelConfig, encoder: Encoder, decoder: Generator,
                 token_seconds: tuple[Tensor, Tensor] | None = None) -> None:
        """``token_seconds``: the seconds of each source and target token, for a model with a
        clock (zeros when None: a checkpoint's weights hold them)."""
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.decoder = decoder
        self.bridge = StartState(decoder.stack.init_state(1), encoder.output_size)
        clock = config.clock_size
        if clock:
            seconds = token_seconds or (torch.zeros(config.source_vocab_size),
                                        torch.zeros(config.vocab_size))
            self.source_clock, self.target_clock = (Clock(t, clock) for t in seconds)
        else:
            self.source_clock = self.target_clock = None
        hidden = config.hidden_size
        self.attention = None if config.attention == "none" else \
            Attention(config.attention, hidden + clock, memory_size(config, encoder))
        read = (self.attention is not None) + bool(clock)  # context, memory at the time
        self.combine = nn.Linear(read * memory_size(config, encoder) + hidden, hidden) \
            if read else None

    @property
    def head(self) -> nn.Linear:
        return self.decoder.head

    @property
    def stack(self) -> nn.Module:
        """The decoder's stack (what ``--compile`` compiles)."""
        return self.decoder.stack

    def encode(self, source: Tensor, lengths: Tensor) -> Memory:
        """Encode sources [batch, time], padded after their ``lengths`` [batch] (CPU)."""
        times = clock = None
        if self.source_clock is not None:
            times = self.source_clock.times(source, source.new_zeros(source.size(0),
                                                                     dtype=torch.float))
            clock = self.source_clock(times)
        outputs, mask, final = self.encoder(source, lengths, clock)
        if clock is not None:  # attention sees each source position's time
            outputs = torch.cat([outputs, clock.to(outputs.dtype) * mask[..., None]], -1)
            times = times.masked_fill(~mask, math.inf)
        keys = None if self.attention is None else self.attention.keys(outputs)
        return Memory(outputs, keys, mask, final, times)

    def start_state(self, memory: Memory, rows: int) -> State:
        """The decoder's first state for ``rows`` rows: the bridge of each source's final
        states, each source's repeated over its ``rows // sources`` consecutive rows (samples
        or beams of one source)."""
        sources = memory.final.size(0)
        state = self.bridge(sources, memory.final)
        if rows != sources:
            state = map_state(lambda t: t.repeat_interleave(rows // sources, 0), state)
        fed = memory.final.new_zeros(rows, self.config.hidden_size) \
            if self.config.input_feeding else None
        now = None if self.target_clock is None else torch.zeros(rows, device=memory.final.device)
        return self.join_state(state, fed, now)

    def join_state(self, stack_state: State, fed: Tensor | None, now: Tensor | None) -> State:
        """The decoder's state: its stack's, with the attentional vector fed back and the
        clock's seconds where the model has them."""
        extras = tuple(t for t in (fed, now) if t is not None)
        return (stack_state, *extras) if extras else stack_state

    def split_state(self, state: State) -> tuple[State, Tensor | None, Tensor | None]:
        """The inverse of ``join_state``."""
        if not self.config.input_feeding and self.target_clock is None:
            return state, None, None
        stack_state, *extras = state
        fed = extras.pop(0) if self.config.input_feeding else None
        now = extras.pop(0) if self.target_clock is not None else None
        return stack_state, fed, now

    def chunk_state(self, chunk: Chunk, carried: State | None) -> State | None:
        """None where a chunk starts its targets (the state is then made from the sources in
        ``forward``); the carried state where a long target goes on."""
        return None if carried is None or chunk.fresh else carried

    def forward(self, tokens: Tensor, state: State | None, labels: Tensor | None = None,
                source: Tensor | None = None, lengths: Tensor | None = None,
                controls: Tensor | None = None) -> tuple[Tensor, State]:
        """Teacher forcing: target inputs [batch, time] -> logits [batch, time, vocab], from
        the sources' bridge (``state`` None) or a carried decoder state."""
        memory = self.encode(source, lengths)
        if state is None:
            state = self.start_state(memory, tokens.size(0))
        logits, state, _ = self.decode(tokens, state, memory, controls)
        return logits, state

    def decode(self, tokens: Tensor, state: State, memory: Memory,
               controls: Tensor | None = None) -> tuple[Tensor, State, Tensor | None]:
        """Logits [rows, time, vocab], the state after, and the attention weights [rows,
        time, source time] (None without attention) of decoder inputs [rows, time] (and
        their music ``controls`` [rows, time, controls], in a model of controls)."""
        stack_state, fed, now = self.split_state(state)
        clock = aligned = None
        if self.target_clock is not None:
            times = self.target_clock.times(tokens, now)
            now, clock = times[:, -1], self.target_clock(times)
            aligned = self.source_at(times, memory)
        if self.config.input_feeding:
            logits, stack_state, fed, weights = self.decode_fed(tokens, stack_state, fed,
                                                                memory, clock, aligned,
                                                                controls)
        else:
            outputs, stack_state = self.decoder.stack(
                self.decoder.inputs(tokens, None, clock, controls), stack_state)
            attentional, weights = self.attend(outputs, memory, clock, aligned)
            logits = self.decoder.head(self.decoder.dropout(attentional))
        return logits, self.join_state(stack_state, fed, now), weights

    def decode_fed(self, tokens: Tensor, stack_state: State, fed: Tensor, memory: Memory,
                   clock: Tensor | None, aligned: Tensor | None,
                   controls: Tensor | None = None) -> tuple[Tensor, State, Tensor, Tensor]:
        """``decode`` with input feeding: one step at a time, each attentional vector joined
        to the next step's input (with a clock, beside the step's time). Logits, the stack's
        state, the last attentional vector and the weights."""
        attentionals, weights = [], []
        steps = tokens.size(1)
        clocks = [None] * steps if clock is None else clock.unbind(1)
        aligneds = [None] * steps if aligned is None else aligned.unbind(1)
        steerings = [None] * steps if controls is None else controls.unbind(1)
        for step_tokens, step_clock, step_aligned, step_controls in zip(
                tokens.unbind(1), clocks, aligneds, steerings, strict=True):
            context = fed if step_clock is None else torch.cat([fed, step_clock], -1)
            output, stack_state = self.decoder.stack.step(
                self.decoder.inputs(step_tokens, None, context, step_controls), stack_state)
            attentional, step_weights = self.attend(
                output[:, None], memory, None if step_clock is None else step_clock[:, None],
                None if step_aligned is None else step_aligned[:, None])
            fed = attentional[:, 0]
            attentionals.append(fed)
            weights.append(step_weights)
        logits = self.decoder.head(self.decoder.dropout(torch.stack(attentionals, 1)))
        return logits, stack_state, fed, torch.cat(weights, 1)

    def source_at(self, times: Tensor, memory: Memory) -> Tensor:
        """The memory [rows, time, memory size] at the last source position at or before each
        of ``times`` [rows, time] (the first position before the source's first time); each
        source's rows are consecutive."""
        rows, time = times.shape
        sources = memory.outputs.size(0)
        wanted = times.reshape(sources, -1).to(memory.times.dtype) + SAME_TIME
        at = (torch.searchsorted(memory.times, wanted, right=True) - 1).clamp(min=0)
        found = memory.outputs.gather(1, at[..., None].expand(-1, -1, memory.outputs.size(-1)))
        return found.view(rows, time, -1)

    def attend(self, outputs: Tensor, memory: Memory, clock: Tensor | None = None,
               aligned: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Attentional vectors [rows, time, hidden] of decoder outputs [rows, time, hidden]:
        tanh(W [context; aligned; output]), the context attended by each source's rows
        (consecutive) over that source's memory, the outputs' times (``clock`` features [rows,
        time, clock size]) joined to the queries, and the memory ``aligned`` with the outputs
        by a clock; and the attention weights (None without attention)."""
        parts, weights = [outputs], None
        if aligned is not None:
            parts.insert(0, aligned.to(outputs.dtype))
        if self.attention is not None:
            rows, time, _ = outputs.shape
            sources = memory.outputs.size(0)
            query = outputs if clock is None else \
                torch.cat([outputs, clock.to(outputs.dtype)], -1)
            query = query.reshape(sources, rows // sources * time, query.size(-1))
            context, weights = self.attention(query, memory.keys, memory.outputs, memory.mask)
            parts.insert(0, context.view(rows, time, -1))
            weights = weights.view(rows, time, -1)
        if len(parts) == 1:
            return outputs, None
        return torch.tanh(self.combine(torch.cat(parts, -1))), weights

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

    def __call__(self, tokens: Tensor, state: State, labels: Tensor | None = None,
                 controls: Tensor | None = None) -> tuple[Tensor, State]:
        logits, state, _ = self.model.decode(tokens, state, self.memory, controls)
        return logits, state

    def step(self, tokens: Tensor, state: State, labels: Tensor | None = None,
             controls: Tensor | None = None) -> tuple[Tensor, State]:
        logits, state, _ = self.model.decode(tokens[:, None], state, self.memory,
                                             None if controls is None else controls[:, None])
        return logits[:, 0], state


def build_seq2seq(config: ModelConfig,
                  token_seconds: tuple[Tensor, Tensor] | None = None) -> Seq2Seq:
    """The encoder-decoder a config describes; with a clock it counts time with
    ``token_seconds`` (of each source and target token; see ``Seq2Seq``)."""
    one_of(ATTENTIONS, attention=config.attention)
    if config.source_vocab_size < 1:
        raise SeqgenError("an encoder-decoder needs a source vocabulary (source_vocab_size)")
    encoder = Encoder(config)
    if config.attention == "dot" and encoder.output_size != config.hidden_size:
        raise UsageError(f"--attention dot needs the encoder's outputs ({encoder.output_size} "
                         f"wide: --encoder-hidden, twice when bidirectional) as wide as the "
                         f"decoder's (--hidden {config.hidden_size}); use --attention general "
                         "or leave --encoder-hidden out")
    decoder = build_generator(replace(config, num_labels=0,
                                      context_size=context_size(config, encoder)))
    return Seq2Seq(config, encoder, decoder, token_seconds)
