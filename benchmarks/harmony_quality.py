"""How close a harmoniser's four-part chorales are to Bach's, for melodies it never saw.

Takes N melodies of the validation split of an encoder-decoder trained on
``corpora/chorale-harmony`` (the soprano of each held-out chorale), harmonises each (a beam,
or samples), writes melody and voices as one file, and compares the set with the held-out
chorales themselves as ``seqgen stats --against`` does (Yang and Lerch 2018 features, and the
harmony features where ``seqgen.media.music_stats`` has them: overlap area near 1 means the
harmonisations vary around the chorales as the chorales vary among themselves).

    python -m benchmarks.harmony_quality               # 20 melodies, checkpoints/harmonizer
    python -m benchmarks.harmony_quality --quick       # 3 melodies (CI)
    python -m benchmarks.harmony_quality --rules       # held to the codec's voice leading
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from seqgen.cli.media import comparison_table
from seqgen.data.pairs import load_recorded_run_corpus
from seqgen.media.harmony import HARMONY_FEATURES
from seqgen.media.music_stats import compare_music, music_stats
from seqgen.nn.sampling import SamplingOptions, generate_targets
from seqgen.training.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
# the features whose overlap area the harmoniser should bring to 0.8 (issue 15)
TARGETED = ("pitch_class_histogram", "polyphony", *HARMONY_FEATURES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "checkpoints" / "harmonizer")
    parser.add_argument("--num", type=int, default=20)
    parser.add_argument("--beam", type=int, default=0, help="0: sample (at --temperature)")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rules", action="store_true",
                        help="hold the outputs to the codec's voice-leading rules")
    parser.add_argument("--quick", action="store_true", help="3 melodies")
    args = parser.parse_args()
    num = 3 if args.quick else args.num
    console = Console()
    ckpt = load_checkpoint(args.checkpoint, torch.device("cpu"))
    corpus = load_recorded_run_corpus(ckpt.config)
    _, val = corpus.split(ckpt.config["training"]["val_fraction"], codec=ckpt.codec)
    sources, targets = val.sources[:num], val.targets[:num]
    start = time.perf_counter()
    options = SamplingOptions(temperature=args.temperature)
    outputs = generate_targets(ckpt.model, ckpt.codec, [s.long() for s in sources],
                               max(5 * max(s.numel() for s in sources), 200),
                               options=None if args.beam else options, seed=args.seed,
                               beam=args.beam, rules=args.rules)
    how = f"beam {args.beam}" if args.beam else f"sampled at temperature {args.temperature:g}"
    how += ", with the codec's rules" if args.rules else ""
    console.print(f"harmonised {num} held-out melodies in {time.perf_counter() - start:.1f} s "
                  f"({how})")
    with tempfile.TemporaryDirectory() as tmp:
        sets = {"harmonised": [row[0] for row in outputs], "Bach": targets}
        folders = {}
        for name, voices in sets.items():
            folder = folders[name] = Path(tmp) / name
            folder.mkdir()
            for i, (melody, parts) in enumerate(zip(sources, voices, strict=True), 1):
                ckpt.codec.write_pair(melody.long(), parts.long(), folder / f"{i}.mid")
        reference = music_stats(folders["Bach"])
        stats = music_stats(folders["harmonised"])
        comparisons = compare_music(stats, reference)
        console.print(comparison_table(comparisons, Path("harmonised"),
                                       Path(f"the same {num} chorales (Bach)"), stats,
                                       reference))
    for row in comparisons:
        if row.feature in TARGETED:
            spread = abs(row.mean_a - row.mean_b) <= float(row.std_b) \
                if row.feature in HARMONY_FEATURES else None
            console.print(f"{row.feature}: OA {row.overlap_a:.3f} (target 0.8)"
                          + ("" if spread is None else
                             f", mean {row.mean_a:.3f} against Bach's {row.mean_b:.3f} ± "
                             f"{row.std_b:.3f}: {'within' if spread else 'outside'} its spread"),
                          highlight=False)


if __name__ == "__main__":
    main()
