"""The ``sample`` command: text to the terminal or files, pieces to files (MIDI shown and
rendered)."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.rule import Rule

from seqgen.cli.app import app, console, err_console, report_written, reports_errors
from seqgen.config import at_least, at_most
from seqgen.errors import UsageError

if TYPE_CHECKING:  # the library imports torch: commands import it when they run, not --help
    from torch import Tensor

    from seqgen.data.codec import Codec
    from seqgen.nn.sampling import SamplingOptions
    from seqgen.training.checkpoint import Checkpoint


@app.command("sample")
@reports_errors
def sample_command(
    checkpoint: Annotated[Path, typer.Argument(help="A run folder (its best snapshot) or a snapshot folder.")],
    primer: Annotated[str, typer.Option(help="Text to continue, or @FILE: a text file, or a .mid file for a MIDI model.")] = "",
    length: Annotated[str | None, typer.Option(help="Tokens to generate, or for MIDI a duration (30s). \\[default: text 500; MIDI: until the model ends the piece]")] = None,
    num_samples: Annotated[int, typer.Option(help="Samples, generated together as one batch.")] = 1,
    temperature: Annotated[float, typer.Option(help="Divide the logits by this (> 0); lower is more conservative.")] = 1.0,
    top_k: Annotated[int, typer.Option(help="Keep only the k likeliest tokens; 0 keeps all.")] = 0,
    top_p: Annotated[float, typer.Option(help="Keep the smallest set of tokens whose probability reaches p (0 < p <= 1).")] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Random seed, for reproducible samples.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    out: Annotated[str | None, typer.Option(help="A file, or a folder (a path ending in / or with no suffix) for one file each. Text: default the terminal; MIDI: default samples/.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite existing output files instead of picking new names.")] = False,
    condition: Annotated[str | None, typer.Option(help="The label to generate for (a model trained with labels); none: one at random.")] = None,
    max_length: Annotated[int | None, typer.Option(help="Models of items: the most tokens a sample may have before its end token. \\[default: text 200, MIDI 100000]")] = None,
    unique: Annotated[bool, typer.Option(help="Text items: drop duplicate samples and samples that copy a training item.")] = False,
    corpus: Annotated[Path | None, typer.Option(help="With --unique: the training corpus, if not where the checkpoint recorded it.")] = None,
    quiet: Annotated[bool, typer.Option(help="MIDI: do not draw each file's piano roll.")] = False,
    render: Annotated[bool, typer.Option(help="MIDI: also render each file to a .wav beside it (FluidSynth).")] = False,
    soundfont: Annotated[Path | None, typer.Option(help="With --render: a General MIDI SoundFont \\[default: $SOUNDFONT, else the system's]")] = None,
) -> None:
    """Generate text or MIDI from a trained checkpoint (text streams to the terminal)."""
    from seqgen.config import check_seed
    from seqgen.data.codec import FileCodec
    from seqgen.nn.sampling import MAX_TOKENS, SamplingOptions, condition_labels, parse_length
    from seqgen.training.checkpoint import load_checkpoint
    from seqgen.training.devices import resolve_device

    options = SamplingOptions(temperature, top_k, top_p)
    tokens, seconds = parse_length(length)
    at_least(1, num_samples=num_samples, max_length=max_length)
    at_most(MAX_TOKENS, max_length=max_length)
    check_seed(seed)
    ckpt = load_checkpoint(checkpoint, resolve_device(device))
    primer_read = read_primer(primer, ckpt.codec)
    labels, chosen = condition_labels(ckpt.config.get("labels", []), condition, num_samples,
                                      seed)
    if isinstance(ckpt.codec, FileCodec):
        if unique:
            raise UsageError("--unique works for text models of items (lines or files)")
        paths = output_paths(out or "samples/", num_samples, ckpt.codec.output_suffix, force,
                             one_file_each=True)
    elif render:
        raise UsageError("--render is for MIDI models; this model writes text")
    elif seconds is not None:
        raise UsageError("a text model's --length is a number of characters, not a duration")
    elif not ckpt.codec.specials and (unique or max_length is not None):
        raise UsageError(f"{'--unique' if unique else '--max-length'} is for models of items "
                         "(lines or files); this model reads one stream (its length is "
                         "--length)")
    else:
        paths = output_paths(out, num_samples, ".txt", force) if out is not None else None
    if chosen is not None and condition is None and len(ckpt.config["labels"]) > 1:
        err_console.print(f"condition: {chosen} (chosen at random; --condition picks one)",
                          highlight=False)
    if isinstance(ckpt.codec, FileCodec):
        sample_pieces(ckpt, primer_read, tokens, seconds, paths, options, seed, labels,
                      max_length or 100_000)
        show_and_render(paths, not quiet, render, soundfont)
    else:
        limit = tokens if tokens is not None else max_length or (200 if ckpt.codec.specials
                                                                 else 500)
        sample_text(ckpt, primer_read, limit, num_samples, options, seed, paths, labels, unique,
                    corpus)


def read_primer(primer: str, codec: Codec) -> str | Tensor | None:
    """``--primer`` as the model takes it: text, or a text file's (``@FILE``), for a text
    model; the tokens of a file the codec reads (``@FILE``) for a file codec's model."""
    from seqgen.data.codec import CodecFileError, FileCodec

    path = Path(primer[1:]) if primer.startswith("@") else None
    if not isinstance(codec, FileCodec):
        try:
            return primer if path is None else path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the primer file {path}: {exc}") from None
    if not primer:
        return None
    if path is None:
        raise UsageError(f"a {codec.name} model's primer is a file: --primer "
                         f"@FILE{codec.output_suffix}")
    try:
        return codec.read(path)[0]
    except CodecFileError as exc:
        raise UsageError(f"cannot use the primer file {path}: {exc}") from None


def sample_text(ckpt: Checkpoint, primer: str, length: int, num_samples: int,
                options: SamplingOptions, seed: int | None, paths: list[Path] | None,
                labels: Tensor | None = None, unique: bool = False,
                corpus: Path | None = None) -> None:
    """Stream one sample to the terminal, print several, or write them to ``paths`` (one
    file each, or all in one)."""
    from seqgen.data.pairs import load_recorded_run_corpus
    from seqgen.files import write_text
    from seqgen.nn.sampling import drop_repeats, generate_text

    stream = paths is None and num_samples == 1 and not unique
    training = None
    if unique:  # before generating: a missing corpus should not cost a generation first
        corpus_items = load_recorded_run_corpus(ckpt.config, corpus)
        training = {corpus_items.codec.decode(piece) for piece in corpus_items.pieces}
    pending_primer = [primer]

    def write_tokens(tokens):
        sys.stdout.write(pending_primer.pop() if pending_primer else "")
        sys.stdout.write(ckpt.codec.decode(tokens[:1]))
        sys.stdout.flush()

    texts = generate_text(ckpt.model, ckpt.codec, primer, length, num_samples, options, seed,
                          labels, on_tokens=write_tokens if stream else None)
    if training is not None:
        texts, duplicates, copies = drop_repeats(texts, training)
        err_console.print(f"--unique dropped {duplicates} duplicate(s) and {copies} cop"
                          f"{'y' if copies == 1 else 'ies'} of training items; "
                          f"{len(texts)} left", highlight=False)
    if stream:
        sys.stdout.write("".join(pending_primer) + "\n")
    elif paths is None and ckpt.codec.specials:
        sys.stdout.write("".join(text + "\n" for text in texts))
    elif paths is None:
        for i, text in enumerate(texts, 1):
            console.print(Rule(f"sample {i}"))
            sys.stdout.write(text + "\n")
    else:
        contents = ["\n\n".join(texts) + "\n"] if len(paths) == 1 else [t + "\n" for t in texts]
        for path, text in zip(paths, contents, strict=False):
            write_text(path, text)
        report_written(paths[:len(contents)])


def sample_pieces(ckpt: Checkpoint, primer: Tensor | None, length: int | None,
                  seconds: float | None, paths: list[Path], options: SamplingOptions,
                  seed: int | None, labels: Tensor | None = None,
                  max_length: int = 100_000) -> None:
    """Generate pieces of a file codec (MIDI) and write one file each to ``paths``."""
    from seqgen.files import atomic_write
    from seqgen.nn.sampling import generate_pieces

    codec = ckpt.codec
    pieces = generate_pieces(ckpt.model, codec, primer, length, seconds, len(paths), options,
                             seed, labels, max_length)
    for path, tokens in zip(paths, pieces, strict=True):
        with atomic_write(path) as tmp:
            codec.write(tokens, tmp)
    seconds_table = codec.token_seconds()
    report_written(paths, None if seconds_table is None else
                   [f"{float(seconds_table[t.long()].sum()):.1f} s" for t in pieces])


def show_and_render(paths: list[Path], show: bool, render: bool,
                    soundfont: Path | None) -> None:
    """The piano roll of each generated MIDI file, and its audio beside it if asked."""
    from seqgen.cli.media import render_file, show_midi  # its commands are listed after ours

    for path in paths:
        if show and path.suffix.lower() in (".mid", ".midi"):
            show_midi(path)
        if render:
            render_file(path, path.with_suffix(".wav"), soundfont)


def output_paths(out: str, count: int, suffix: str, force: bool,
                 one_file_each: bool = False) -> list[Path]:
    """Files to write, checked before any work: ``out`` itself, or ``sample-N`` files in the
    folder ``out`` names (made if missing).

    In a folder, numbering skips names that exist unless ``force``; an existing single file
    is an error unless ``force``.
    """
    from seqgen.files import make_folder, prepare_output_file

    path = Path(out)
    if out.endswith(("/", "\\")) or path.is_dir() or not path.suffix:
        make_folder(path, "--out")
        names = (path / f"sample-{n}{suffix}" for n in itertools.count(1))
        return list(itertools.islice((p for p in names if force or not p.exists()), count))
    if one_file_each and count > 1:
        raise UsageError(f"--num-samples {count} writes {count} files: give --out a folder")
    return [prepare_output_file(path, "--out", force)]


