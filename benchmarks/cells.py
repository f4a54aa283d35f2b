"""Training speed of the example minGRU cell's three paths beside the built-in GRU.

One process, the same batches (tiny-shakespeare, batch 64, seq-len 128, 2 layers, hidden 256)
for every model; rounds interleaved, median tokens/s of the rounds:

- gru: the built-in GRU (fused nn.GRU);
- mingru parallel: minGRU's log-space parallel scan over each chunk;
- mingru step loop: seqgen's Python unroll of minGRU's ``step``;
- mingru step loop, compiled: the same unroll compiled with torch.compile (``--compile``);
  its compile time is printed separately.

Run alone (other busy processes distort the numbers): python -m benchmarks.cells
Benchmark your own cell beside them: python -m benchmarks.cells --cell NAME [--cell-opt k=v]
The smoke size (``--quick``: hidden 16, 2 steps, 1 round) leaves out the compiled paths
(compiling takes tens of seconds).
"""

import argparse
import statistics
import time

import torch

from benchmarks.common import SHAKESPEARE, seqgen_step
from seqgen.config import ModelConfig, TrainConfig
from seqgen.data.corpus import load_corpus
from seqgen.nn.build import build_model
from seqgen.nn.cells import compile_unroll
from seqgen.plugins import parse_options
from seqgen.training.trainer import make_optimizer

CONFIGS = {
    "gru": ("gru", {}, False),
    "mingru parallel": ("mingru", {"parallel": True}, False),
    "mingru step loop": ("mingru", {"parallel": False}, False),
    "mingru step loop, compiled": ("mingru", {"parallel": False}, True),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cells",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8, help="training steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cell", action="append", default=[],
                        help="a registered cell to add (a plugin's), with --cell-opt options")
    parser.add_argument("--cell-opt", action="append", default=[], help="key=value")
    parser.add_argument("--compile", action="store_true", help="also time --cell compiled")
    parser.add_argument("--quick", action="store_true",
                        help="the smoke size: hidden 16, 2 steps, 1 round, nothing compiled")
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden, args.steps, args.rounds = 16, 2, 1
    configs = dict(CONFIGS)
    for cell in args.cell:
        configs[cell] = (cell, parse_options(args.cell_opt), False)
        if args.compile:
            configs[f"{cell}, compiled"] = (cell, parse_options(args.cell_opt), True)
    if args.quick:
        configs = {name: config for name, config in configs.items() if not config[2]}
    corpus = load_corpus(SHAKESPEARE)
    train_data, _ = corpus.split(0.1)
    chunks = list(train_data.batches(64, 128))[: args.steps]
    runs = {}
    for name, (cell, options, compiled) in configs.items():
        torch.manual_seed(0)
        model = build_model(ModelConfig(corpus.codec.size, cell, args.hidden, 2,
                                        cell_options=options))
        start = time.perf_counter()
        if compiled:
            compile_unroll(model.stack)
        optimizer = make_optimizer(model, TrainConfig())
        train_steps(model, optimizer, chunks[:2])  # warm-up (and compilation)
        runs[name] = (model, optimizer, time.perf_counter() - start)
    speeds: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(args.rounds):
        for name, (model, optimizer, _) in runs.items():
            start = time.perf_counter()
            tokens = train_steps(model, optimizer, chunks)
            speeds[name].append(tokens / (time.perf_counter() - start))
    reference = statistics.median(speeds["gru"])
    print(f"2 layers x {args.hidden}, batch 64, seq-len 128, {torch.get_num_threads()} threads; "
          f"median of {args.rounds} interleaved rounds of {args.steps} steps")
    for name, values in speeds.items():
        median = statistics.median(values)
        print(f"  {name:<28} {median:9,.0f} tokens/s  {median / reference:5.2f}x gru   "
              f"warm-up {runs[name][2]:5.1f} s")


def train_steps(model, optimizer, chunks) -> int:
    """Truncated-BPTT training steps as seqgen's trainer takes them; returns tokens seen."""
    state = None
    for chunk in chunks:
        state = seqgen_step(model, optimizer, chunk, state)
    return sum(chunk.targets.numel() for chunk in chunks)


if __name__ == "__main__":
    main()
