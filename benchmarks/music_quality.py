"""How close generated music is to its corpus, against a floor of shuffled tokens.

Samples N pieces from a MIDI checkpoint (each until the model ends it), makes N floor pieces
by shuffling the event tokens of N corpus pieces (same tokens, no order), and compares both
sets with the corpus as ``seqgen stats --against`` does (Yang and Lerch 2018 features,
overlap area and KL of intra- against inter-set distances).

    python -m benchmarks.music_quality                 # 20 + 20 pieces, checkpoints/bach
    python -m benchmarks.music_quality --quick         # 4 + 4 short ones (CI)
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from seqgen.cli.media import comparison_table
from seqgen.data.codec import FileCodec
from seqgen.data.corpus import load_corpus
from seqgen.media.music_stats import compare_music, music_stats
from seqgen.nn.sampling import SamplingOptions, generate_pieces
from seqgen.training.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "checkpoints" / "bach")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpora" / "bach-chorales")
    parser.add_argument("--num", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="4 + 4 pieces of 400 tokens")
    args = parser.parse_args()
    num, max_length = (4, 400) if args.quick else (args.num, 5000)
    console = Console()
    ckpt = load_checkpoint(args.checkpoint, torch.device("cpu"))
    corpus = load_corpus(args.corpus)
    start = time.perf_counter()
    sampled = generate_pieces(ckpt.model, ckpt.codec, num_samples=num, seed=args.seed,
                              options=SamplingOptions(), max_length=max_length)
    console.print(f"sampled {num} pieces in {time.perf_counter() - start:.1f} s "
                  f"(temperature 1, until the model's end token, at most {max_length} tokens)")
    reference = music_stats(args.corpus)
    with tempfile.TemporaryDirectory() as tmp:
        sets = {"samples": write_pieces(ckpt.codec, sampled, Path(tmp) / "samples"),
                "shuffled tokens": write_pieces(ckpt.codec, shuffled_pieces(
                    ckpt.codec, corpus.pieces, num, args.seed), Path(tmp) / "shuffled")}
        for name, folder in sets.items():
            stats = music_stats(folder)
            table = comparison_table(compare_music(stats, reference), Path(name), args.corpus,
                                     stats, reference)
            console.print(table)


if __name__ == "__main__":
    main()
