"""Draw the pictures of the user guide from the bundled checkpoints.

    python docs/make_figures.py [--out DIR] [--quick]

writes into ``docs/images/`` (or ``DIR``):

- ``sample-pianoroll.png``: the piano roll of a 25 s sample of ``checkpoints/bach`` (what
  ``seqgen sample checkpoints/bach --length 25s --seed 1`` writes, drawn as ``seqgen show
  --png`` draws it);
- ``harmonization.png``: ``checkpoints/harmonizer``'s alto, tenor and bass for the soprano of
  ``riemenschneider369.mid``, a chorale of its validation split (``seqgen sample
  checkpoints/harmonizer --input @corpora/bach-chorales/riemenschneider369.mid --seed 1``),
  the melody and each generated voice in a colour of its own (the colours ``seqgen show`` gives
  the tracks in the terminal);
- ``numbers-attention.png``: where each output step of ``checkpoints/numbers`` looked,
  writing "fr 1987" in words with a beam of 5 (``seqgen sample checkpoints/numbers --input
  "fr 1987" --beam 5 --attention-png``);
- ``loss-curves.png``: the training and validation losses of ``checkpoints/shakespeare-lstm``
  (``seqgen plot checkpoints/shakespeare-lstm``);
- ``controls.png``: ``checkpoints/bach-controls`` continuing the first seconds of
  ``riemenschneider369.mid`` twice with the same seed, asked for its sparsest and its densest
  bin of density (``seqgen sample checkpoints/bach-controls --primer @...mid --control
  density=very-low --length 20s --seed 1``, and ``density=very-high``).

Every sample is drawn with a fixed seed on one CPU thread, so a run draws the same pixels as
the last. Re-run it, and commit the pictures, whenever a bundled checkpoint changes (or the
drawing in ``seqgen/media``). ``--quick`` draws the same figures small, from short samples
(what ``tests/test_figures.py`` runs). The figures are drawn through the library, as the
commands named above draw them; matplotlib is needed (``pip install 'seqgen[plots]'``).
"""

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from seqgen.data.codecs.midi import MidiOptions, read_track_notes
from seqgen.data.codecs.parts import STEP
from seqgen.data.controls import parse_controls
from seqgen.media.plots import attention_png, curves_png, piano_roll_png, piano_rolls_png
from seqgen.nn.sampling import SamplingOptions, generate_pieces, generate_targets, sampling_limit
from seqgen.nn.steering import Steering
from seqgen.training.checkpoint import Checkpoint, load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = ROOT / "checkpoints"
MELODY = ROOT / "corpora" / "bach-chorales" / "riemenschneider369.mid"  # validation split
NUMBER = "fr 1987"
SEED = 1
BEAM = 5
VOICE_NAMES = ("alto", "tenor", "bass")  # the harmoniser's generated parts, top down


@dataclass(frozen=True)
class Size:
    """How big each figure is drawn."""

    sample_s: float  # the Bach sample's length
    primer_s: float  # the primer's, of the continuations steered
    melody_s: float | None  # the part of the melody harmonised (None: all of it)
    width_px: int
    height_px: int


FULL = Size(sample_s=25.0, primer_s=6.0, melody_s=None, width_px=1200, height_px=500)
QUICK = Size(sample_s=6.0, primer_s=2.0, melody_s=8.0, width_px=640, height_px=320)


def checkpoint(name: str) -> Checkpoint:
    return load_checkpoint(CHECKPOINTS / name, "cpu")


# ---- the figures -----------------------------------------------------------------------------


def sample_pianoroll(out: Path, size: Size) -> Path:
    """A sample of the Bach model, ``size.sample_s`` seconds long, as a piano roll."""
    ckpt = checkpoint("bach")
    (tokens,) = generate_pieces(ckpt.model, ckpt.codec, seconds=size.sample_s,
                                options=SamplingOptions(), seed=SEED)
    return piano_roll_png(ckpt.codec.decode_notes(tokens), out / "sample-pianoroll.png",
                          size.width_px, size.height_px,
                          title=f"checkpoints/bach: a {size.sample_s:g} s sample (seed {SEED})")


def harmonization(out: Path, size: Size) -> Path:
    """The harmoniser's voices for a held-out chorale's soprano, each part in its colour."""
    ckpt = checkpoint("harmonizer")
    track = ckpt.config["corpus"]["source_track"]
    ((_, source),) = ckpt.source_codec.read_inputs(f"@{MELODY}", "--input", track)
    if size.melody_s is not None:
        source = first_steps(source, round(size.melody_s / ckpt.codec.step_s))
    ((target,),) = generate_targets(ckpt.model, ckpt.codec, [source],
                                    sampling_limit([source]), options=SamplingOptions(),
                                    seed=SEED, rules=ckpt.rule_weights)
    with tempfile.TemporaryDirectory() as folder:  # the file `seqgen sample` writes
        written = Path(folder) / "harmonized.mid"
        ckpt.codec.write_pair(source, target, written)
        tracks = read_track_notes(written, MidiOptions())
    names = {"input": f"melody ({track.lower()}, Bach's)"} | {
        f"generated {i}": f"{voice} (generated)" for i, voice in enumerate(VOICE_NAMES, 1)}
    return piano_roll_png([(names.get(t.name, t.name), t.notes) for t in tracks],
                          out / "harmonization.png", size.width_px, size.height_px,
                          title=f"checkpoints/harmonizer on {MELODY.stem}'s soprano (seed {SEED})")


def numbers_attention(out: Path, size: Size) -> Path:
    """Where each output step of the numbers model looked, writing ``NUMBER`` in words (the
    picture is sized by its tokens, whatever ``size``)."""
    ckpt = checkpoint("numbers")
    ((_, source),) = ckpt.source_codec.read_inputs(NUMBER, "--input")
    ((target,),) = generate_targets(ckpt.model, ckpt.codec, [source],
                                    sampling_limit([source]), beam=BEAM)
    codec = ckpt.codec
    steps = torch.cat([torch.tensor([codec.BOS]), target.long()])
    weights = ckpt.model.attention_weights(source.long(), steps)
    return attention_png(weights.numpy(),
                         [ckpt.source_codec.token_label(t) for t in source.tolist()],
                         [codec.token_label(t) for t in target.tolist()] + ["EOS"],
                         out / "numbers-attention.png")


def controls(out: Path, size: Size) -> Path:
    """The model of controls continuing one primer, asked for its lowest and its highest bin
    of density: the primer and each continuation in colours of their own."""
    ckpt = checkpoint("bach-controls")
    scheme = ckpt.controls
    density = scheme.by_name()["density"]
    primer = first_seconds(ckpt.codec.read(MELODY)[0].long(), ckpt.codec.token_seconds(),
                           size.primer_s)
    rolls = []
    for value in (density.names[0], density.names[-1]):
        steering = Steering.of(scheme, parse_controls([f"density={value}"], scheme.by_name()),
                               ckpt.codec)
        (tokens,) = generate_pieces(ckpt.model, ckpt.codec, primer, seconds=size.sample_s,
                                    options=SamplingOptions(), seed=SEED, steering=steering)
        notes = ckpt.codec.decode_notes(tokens)
        begun = float(ckpt.codec.token_seconds()[primer].sum())
        rolls.append((f"density={value}", [
            (f"primer ({MELODY.stem}, Bach's)", [n for n in notes if n.start < begun]),
            ("continuation (generated)", [n for n in notes if n.start >= begun])]))
    return piano_rolls_png(rolls, out / "controls.png", size.width_px, size.height_px * 3 // 2)


def loss_curves(out: Path, size: Size) -> Path:
    """The Shakespeare model's training and validation losses against steps and tokens."""
    return curves_png([CHECKPOINTS / "shakespeare-lstm"], out / "loss-curves.png",
                      size.width_px, size.height_px)


FIGURES: tuple[Callable[[Path, Size], Path], ...] = (
    sample_pianoroll, harmonization, numbers_attention, loss_curves, controls)


# ---- helpers ---------------------------------------------------------------------------------


def first_seconds(tokens: torch.Tensor, token_seconds: torch.Tensor,
                  seconds: float) -> torch.Tensor:
    """The tokens of a timed codec before ``seconds`` of music have passed."""
    elapsed = token_seconds[tokens].cumsum(0)
    return tokens[: int((elapsed < seconds).sum())]


def first_steps(tokens: torch.Tensor, steps: int) -> torch.Tensor:
    """The first ``steps`` steps of a parts codec's tokens (all of them if fewer)."""
    ends = (tokens == STEP).nonzero().flatten()
    return tokens if len(ends) <= steps else tokens[: int(ends[steps - 1]) + 1]


# ---- the script ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> list[Path]:
    """Draw every figure into ``--out``; returns the files written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images",
                        help="the folder to write into (default: docs/images)")
    parser.add_argument("--quick", action="store_true",
                        help="draw the same figures small, from short samples (for the tests)")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    args.out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same sums in the same order on any machine: the same samples
    written = []
    try:
        for figure in FIGURES:
            start = time.perf_counter()
            written.append(figure(args.out, size))
            print(f"wrote {written[-1]} ({time.perf_counter() - start:.1f} s)")
    finally:
        torch.set_num_threads(threads)
    return written


if __name__ == "__main__":
    main(sys.argv[1:])
