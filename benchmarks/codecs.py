"""What a codec's vocabulary costs (``python -m benchmarks codecs``): char, BPE 512, 1024 and
4096, and words, on tiny-shakespeare, each beside the character codec in the same run.

- Training tokens and characters per second of a 2x256 LSTM (batch 64, seq 128), the same
  chunks of each codec's training split: a token of a larger vocabulary carries more text
  and costs a larger output layer.
- Sampling tokens and characters per second at batch 1 (the default sampling options)
  against the character model: the output layer over thousands of tokens must not make text
  come out much slower than from the character model. (The models are untrained, so their
  distributions are flat: a top-p nucleus would span most of the vocabulary, as it does not
  for a trained model, where ``sampling.nucleus`` ranks only the likeliest tokens.)

Which codec makes the better model for the same CPU time is the quality suite's question
(``benchmarks/quality.py``). The smoke size (``--quick``): char, BPE 512 and words on the
first 50,000 characters, a 2x32 LSTM, 2 chunks of 8 rows, 50 tokens sampled.
"""

from pathlib import Path

import torch

from benchmarks.common import (
    Row,
    median_interleaved,
    seqgen_step,
    shakespeare,
    timed,
    train_rate,
)
from seqgen.config import ModelConfig, TrainConfig
from seqgen.data.corpus import load_corpus
from seqgen.nn.build import build_model
from seqgen.nn.sampling import SamplingOptions, generate
from seqgen.training.trainer import make_optimizer

CODECS = (("char", "char", {}), ("bpe 512", "bpe", {"vocab_size": 512}),
          ("bpe 1024", "bpe", {"vocab_size": 1024}), ("bpe 4096", "bpe", {"vocab_size": 4096}),
          ("words", "words", {"min_count": 2}))


def codec_setup(path: Path, format: str, options: dict, hidden: int, chunks: int, batch: int):
    """A fresh 2-layer LSTM for the codec, its optimizer, the first training chunks (``batch``
    rows by 128) and the characters per token of the training split."""
    corpus = load_corpus(path, format, options)
    train, _ = corpus.split(0.1)
    batches = list(train.batches(batch, 128))[:chunks]
    chars_per_token = train.target_chars(batch) / train.ids.numel()
    torch.manual_seed(0)
    model = build_model(ModelConfig(corpus.codec.size, "lstm", hidden, 2, dropout=0.0))
    return corpus, model, make_optimizer(model, TrainConfig()), batches, chars_per_token


def sampling_rate(model, prompt: torch.Tensor, length: int) -> float:
    options = SamplingOptions()  # the default: the whole distribution
    return length / timed(lambda: generate(model.eval(), prompt, length, 1, options, seed=1))


def codec_rows(quick: bool) -> list[Row]:
    hidden, chunks, batch, length = (32, 2, 8, 50) if quick else (256, 8, 64, 1000)
    codecs = CODECS[:2] + CODECS[-1:] if quick else CODECS
    with shakespeare(quick) as path:
        setups = {name: codec_setup(path, format, options, hidden, chunks, batch)
                  for name, format, options in codecs}
    train_rates = dict(zip(setups, median_interleaved(
        [train_rate(lambda chunk, state, s=s: seqgen_step(s[1], s[2], chunk, state), s[3])
         for s in setups.values()], 1 if quick else 3), strict=True))
    sample_rates = dict(zip(setups, median_interleaved(
        [lambda s=s: sampling_rate(s[1], s[0].codec.encode("\n"), length)
         for s in setups.values()], 1 if quick else 3), strict=True))
    rows = []
    char_chars = train_rates["char"] * setups["char"][4]
    for name, (corpus, *_, chars_per_token) in setups.items():
        size = f"{name} ({corpus.codec.size:,} tokens, {chars_per_token:.2f} chars/token)"
        tokens, chars = train_rates[name], train_rates[name] * chars_per_token
        rows.append(Row(f"train lstm 2x{hidden}, {size}: tokens/s vs char", tokens,
                        train_rates["char"], "tokens/s", "report", tokens / train_rates["char"],
                        True))
        rows.append(Row("  the same in characters of text per second vs char", chars,
                        char_chars, "chars/s", "report", chars / char_chars, True))
        sampled = sample_rates[name]
        rows.append(Row(f"sample lstm 2x{hidden}, batch 1, {name}: tokens/s vs char",
                        sampled, sample_rates["char"], "tokens/s", "report",
                        sampled / sample_rates["char"], True))
        ratio = sampled * chars_per_token / sample_rates["char"]
        rows.append(Row("  the same in characters of text per second vs char",
                        sampled * chars_per_token, sample_rates["char"], "chars/s", ">= 0.9",
                        ratio, ratio >= 0.9))
    return rows
