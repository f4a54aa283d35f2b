"""How close a harmoniser's four-part chorales are to Bach's, for melodies it never saw.

Takes N melodies of the validation split of an encoder-decoder trained on
``corpora/chorale-harmony`` (the soprano of each held-out chorale), harmonises each (a beam,
or samples), writes melody and voices as one file, and compares the set with the held-out
chorales themselves as ``seqgen stats --against`` does (Yang and Lerch 2018 features, and the
harmony features where ``seqgen.media.music_stats`` has them: overlap area near 1 means the
harmonisations vary around the chorales as the chorales vary among themselves).

    python -m benchmarks.harmony_quality               # 20 melodies, checkpoints/harmonizer
    python -m benchmarks.harmony_quality --seeds 5     # five samplings, summed up
    python -m benchmarks.harmony_quality --quick       # the smoke size (the tests)
    python -m benchmarks.harmony_quality --rules strict  # never breaking the voice leading
    python -m benchmarks.harmony_quality --rules off     # the network alone
    python -m benchmarks.harmony_quality --top-p 0.95    # any sampling option of seqgen sample

The smoke size: 3 melodies, the corpus's declaration over its first 40 chorales only, and
Bach's own reference from 2 sets of training chorales (not every set).
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from benchmarks.common import CHORALES, ROOT, first_files
from seqgen.cli.media import comparison_table
from seqgen.cli.sample import RuleMode, chosen_rules
from seqgen.media.harmony import HARMONY_FEATURES
from seqgen.media.music_stats import compare_music, music_stats
from seqgen.nn.constraints import STRICT
from seqgen.nn.sampling import SamplingOptions, generate_targets, sampling_limit
from seqgen.training.checkpoint import load_checkpoint

# the features whose overlap area the harmoniser should bring to 0.8 (issue 15)
TARGETED = ("pitch_class_histogram", "polyphony", *HARMONY_FEATURES)
HARMONY = ROOT / "corpora" / "chorale-harmony"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.harmony_quality",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "checkpoints" / "harmonizer")
    parser.add_argument("--num", type=int, default=20)
    parser.add_argument("--beam", type=int, default=0, help="0: sample (at --temperature)")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=0, help="0: off")
    parser.add_argument("--top-p", type=float, default=1.0, help="1: off")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=1,
                        help="sample this many times (seeds --seed, --seed + 1...) and sum up")
    parser.add_argument("--rules", choices=[mode.value for mode in RuleMode],
                        help="as seqgen sample --rules (default: learned where the checkpoint "
                             "has weights)")
    parser.add_argument("--quick", action="store_true",
                        help="the smoke size: 3 melodies, 2 reference sets")
    args = parser.parse_args(argv)
    num = 3 if args.quick else args.num
    console = Console()
    ckpt = load_checkpoint(args.checkpoint, torch.device("cpu"))
    rules = chosen_rules(ckpt, None if args.rules is None else RuleMode(args.rules))
    with tempfile.TemporaryDirectory() as folder:
        corpus = ckpt.load_corpus(smoke_corpus(Path(folder)) if args.quick else None)
    train, val = corpus.split(ckpt.config["training"]["val_fraction"], codec=ckpt.codec)
    sources, targets = val.sources[:num], val.targets[:num]
    bach = list(zip(sources, targets, strict=True))
    how = f"beam {args.beam}" if args.beam else f"sampled at temperature {args.temperature:g}"
    how += f", top-k {args.top_k}" if args.top_k and not args.beam else ""
    how += f", top-p {args.top_p:g}" if args.top_p < 1 and not args.beam else ""
    how += ", rules off" if rules is None else ", rules strict" if rules is STRICT else \
        ", rules weighed as learnt"
    runs = []
    for seed in range(args.seed, args.seed + (1 if args.beam else args.seeds)):
        start = time.perf_counter()
        options = SamplingOptions(args.temperature, args.top_k, args.top_p)
        outputs = generate_targets(ckpt.model, ckpt.codec, [s.long() for s in sources],
                                   sampling_limit(sources),
                                   options=None if args.beam else options, seed=seed,
                                   beam=args.beam, rules=rules)
        console.print(f"harmonised {num} held-out melodies in "
                      f"{time.perf_counter() - start:.1f} s ({how}"
                      f"{'' if args.beam else f', seed {seed}'})")
        harmonised = list(zip(sources, [row[0] for row in outputs], strict=True))
        runs.append(compare_sets(ckpt.codec, harmonised, bach, console, show=not runs))
    for comparisons in runs:
        console.print(" ".join(f"{row.feature} {row.overlap_a:.3f}" for row in comparisons
                               if row.feature in TARGETED), highlight=False)
    # the reference: Bach's own chorales, sets of as many from the training split, against
    # the same held-out ones (the overlap area two sets of chorales reach by themselves)
    sets = [list(zip(train.sources[i:i + num], train.targets[i:i + num], strict=True))
            for i in range(0, len(train.targets) - num + 1, num)][: 2 if args.quick else None]
    references = [compare_sets(ckpt.codec, chorales, bach, console, show=False)
                  for chorales in sets]
    console.print(f"the reference: {len(sets)} sets of {num} training chorales (Bach) against "
                  f"the same {num}")
    summarise(runs, references, console)


def smoke_corpus(folder: Path) -> Path:
    """``corpora/chorale-harmony``'s declaration over the first 40 chorales, in ``folder``."""
    corpus = folder / HARMONY.name
    corpus.mkdir()
    declared = json.loads((HARMONY / "seqgen.json").read_text(encoding="utf-8"))
    declared["files"] = str(first_files(CHORALES, 40, folder))
    (corpus / "seqgen.json").write_text(json.dumps(declared), encoding="utf-8")
    return corpus


def compare_sets(codec, pieces: list, bach: list, console: Console, show: bool) -> list:
    """The comparisons of a set of (melody, voices) pairs with Bach's, the table printed
    where ``show``."""
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for name, pairs in (("harmonised", pieces), ("Bach", bach)):
            folder = folders[name] = Path(tmp) / name
            folder.mkdir()
            for i, (melody, parts) in enumerate(pairs, 1):
                codec.write_pair(melody.long(), parts.long(), folder / f"{i}.mid")
        reference = music_stats(folders["Bach"])
        stats = music_stats(folders["harmonised"])
        comparisons = compare_music(stats, reference)
        if show:
            console.print(comparison_table(comparisons, Path("harmonised"),
                                           Path(f"the same {len(bach)} chorales (Bach)"),
                                           stats, reference))
    return comparisons


def summarise(runs: list, references: list, console: Console) -> None:
    """Each targeted feature's overlap area (mean and least over the runs, and over the
    reference sets) and, for the harmony features, in how many runs the mean is within Bach's
    spread."""
    for feature in TARGETED:
        rows = [row for comparisons in runs for row in comparisons if row.feature == feature]
        if not rows:
            continue
        areas = [row.overlap_a for row in rows]
        bachs = [row.overlap_a for comparisons in references for row in comparisons
                 if row.feature == feature]
        line = (f"{feature}: OA {sum(areas) / len(areas):.3f}"
                + (f" (least {min(areas):.3f} in {len(rows)} runs)" if len(rows) > 1 else "")
                + " (target 0.8)"
                + (f"; Bach's own {sum(bachs) / len(bachs):.3f} (least {min(bachs):.3f})"
                   if bachs else ""))
        if feature in HARMONY_FEATURES:
            within = sum(abs(row.mean_a - row.mean_b) <= float(row.std_b) for row in rows)
            means = sum(float(row.mean_a) for row in rows) / len(rows)
            line += (f", mean {means:.3f} against Bach's {float(rows[0].mean_b):.3f} ± "
                     f"{float(rows[0].std_b):.3f}: within its spread in {within} of "
                     f"{len(rows)}")
        console.print(line, highlight=False)


if __name__ == "__main__":
    main()
