"""How close generated music is to its corpus, against a floor of shuffled tokens.

Samples N pieces from a MIDI checkpoint (each until the model ends it), makes N floor pieces
by shuffling the event tokens of N corpus pieces (same tokens, no order), and compares both
sets with the corpus as ``seqgen stats --against`` does (Yang and Lerch 2018 features,
overlap area and KL of intra- against inter-set distances).

    python -m benchmarks.music_quality                 # 20 + 20 pieces, checkpoints/bach
    python -m benchmarks.music_quality --quick         # the smoke size (the tests)

The smoke size: 4 + 4 pieces of at most 400 tokens, against the corpus's first 24 files.
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from benchmarks.common import CHORALES, ROOT, first_files
from seqgen.cli.media import comparison_table
from seqgen.data.codecs.base import FileCodec
from seqgen.data.corpus import load_corpus
from seqgen.media.music_stats import compare_music, music_stats
from seqgen.nn.sampling import SamplingOptions, generate_pieces
from seqgen.training.checkpoint import load_checkpoint


def shuffled_pieces(codec: FileCodec, pieces: list[torch.Tensor], count: int,
                    seed: int) -> list[torch.Tensor]:
    """``count`` corpus pieces with their event tokens in random order (start and end kept)."""
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(pieces), generator=generator)[:count].tolist()
    shuffled = []
    for index in chosen:
        tokens = pieces[index].long()
        middle = tokens[1:-1][torch.randperm(tokens.numel() - 2, generator=generator)]
        shuffled.append(torch.cat([tokens[:1], middle, tokens[-1:]]))
    return shuffled


def write_pieces(codec: FileCodec, pieces: list[torch.Tensor], folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i, tokens in enumerate(pieces, 1):
        codec.write(tokens, folder / f"piece-{i}.mid")
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.music_quality",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "checkpoints" / "bach")
    parser.add_argument("--corpus", type=Path, default=CHORALES)
    parser.add_argument("--num", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="the smoke size: 4 + 4 pieces of 400 tokens, 24 corpus files")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        if args.quick:
            compare(args.checkpoint, first_files(args.corpus, 24, Path(folder)), 4, args.seed,
                    400)
        else:
            compare(args.checkpoint, args.corpus, args.num, args.seed, 5000)


def compare(checkpoint: Path, corpus_path: Path, num: int, seed: int, max_length: int) -> None:
    """Sample ``num`` pieces, shuffle as many corpus pieces, compare both with the corpus."""
    console = Console()
    ckpt = load_checkpoint(checkpoint, torch.device("cpu"))
    corpus = load_corpus(corpus_path)
    start = time.perf_counter()
    sampled = generate_pieces(ckpt.model, ckpt.codec, num_samples=num, seed=seed,
                              options=SamplingOptions(), max_length=max_length)
    console.print(f"sampled {num} pieces in {time.perf_counter() - start:.1f} s "
                  f"(temperature 1, until the model's end token, at most {max_length} tokens)")
    reference = music_stats(corpus_path)
    with tempfile.TemporaryDirectory() as tmp:
        sets = {"samples": write_pieces(ckpt.codec, sampled, Path(tmp) / "samples"),
                "shuffled tokens": write_pieces(ckpt.codec, shuffled_pieces(
                    ckpt.codec, corpus.pieces, num, seed), Path(tmp) / "shuffled")}
        for name, folder in sets.items():
            stats = music_stats(folder)
            table = comparison_table(compare_music(stats, reference), Path(name), corpus_path,
                                     stats, reference)
            console.print(table)


if __name__ == "__main__":
    main()
