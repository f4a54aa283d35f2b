"""The ``seqgen`` command line: parse arguments, call the library, print the results."""

from __future__ import annotations

import functools
import itertools
import os
import sys
import warnings
from collections import Counter
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.rule import Rule
from rich.table import Table

from seqgen import __version__
from seqgen.config import TrainConfig
from seqgen.display import FileProgressView, TrainingView
from seqgen.errors import SeqgenError, UsageError
from seqgen.options import parse_options
from seqgen.plugins import add_commands, plugin_infos
from seqgen.plugins import cells as registered_cells

if TYPE_CHECKING:  # the library imports torch: commands import it when they run, not --help
    from torch import Tensor

    from seqgen.checkpoint import Checkpoint
    from seqgen.codec import FileCodec
    from seqgen.corpus import Corpus
    from seqgen.sampling import SamplingOptions

app = typer.Typer(help="Train and sample recurrent sequence generators.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
corpus_app = typer.Typer(help="Look at corpora.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")

console = Console()
err_console = Console(stderr=True)


def reports_errors(command):
    """Print a seqgen error on one line and exit with its code, never with a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SeqgenError as exc:
            if os.environ.get("RANK", "0") == "0":  # under torchrun, one process says it
                err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False,
                                  soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False,
                      soft_wrap=True)


def version_callback(value: bool) -> None:
    if value:
        console.print(f"seqgen {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=version_callback,
                                          is_eager=True, help="Show the version and exit.")]
    = False,
) -> None:
    """Train and sample recurrent sequence generators on text and MIDI corpora."""


def default_help(text: str, name: str) -> str:
    return f"{text} \\[default: {getattr(TrainConfig, name)}]"


@app.command("train")
@reports_errors
def train_command(
    corpus: Annotated[Path | None, typer.Argument(
        help="A .txt file or a folder of them (optional with --resume).")] = None,
    cell: Annotated[str | None, typer.Option(help=default_help("Cell type (see `seqgen cells`).", "cell"))] = None,
    layers: Annotated[int | None, typer.Option(help=default_help("Recurrent layers.", "layers"))] = None,
    hidden: Annotated[int | None, typer.Option(help=default_help("Hidden units per layer.", "hidden"))] = None,
    embedding: Annotated[int | None, typer.Option(help="Embedding size \\[default: the hidden size]")] = None,
    dropout: Annotated[float | None, typer.Option(help=default_help("Dropout between layers and before the head.", "dropout"))] = None,
    tie_weights: Annotated[bool | None, typer.Option("--tie-weights/--no-tie-weights", help="Share the embedding and output weights (needs embedding = hidden). \\[default: no]")] = None,
    cell_opt: Annotated[list[str] | None, typer.Option(help="A cell option key=value, repeatable (e.g. activation=relu).")] = None,
    arch: Annotated[str | None, typer.Option(help="many-to-many (continue a sequence) or one-to-many (a label or start token unrolls into a whole item). \\[default: many-to-many]")] = None,
    format: Annotated[str | None, typer.Option(help="Corpus format: a registered codec: text, midi or a plugin's (see `seqgen plugins --all`) \\[default: declared in the corpus's seqgen.json, else detected]")] = None,
    items: Annotated[str | None, typer.Option(help="Text: each line, each file, or one stream is a sequence (lines|files|stream). \\[default: declared, else detected]")] = None,
    label_from: Annotated[str | None, typer.Option(help="Labels of items: stem (file name), folder (parent folder) or a CSV/JSON file mapping files to labels. \\[default: declared, else none]")] = None,
    label_size: Annotated[int | None, typer.Option(help=default_help("Size of a label's embedding.", "label_size"))] = None,
    codec_opt: Annotated[list[str] | None, typer.Option(help="A codec option key=value, repeatable (MIDI: resolution_ms, max_shift_ms, velocity_bins, keep_drums, sustain).")] = None,
    augment: Annotated[bool | None, typer.Option("--augment/--no-augment", help="MIDI: random transposition and time stretch of training pieces. \\[default: on]")] = None,
    transpose: Annotated[int | None, typer.Option(help=default_help("MIDI augmentation: transpose by up to this many semitones either way.", "transpose"))] = None,
    stretch: Annotated[float | None, typer.Option(help=default_help("MIDI augmentation: stretch time by a factor in 1 +- this.", "stretch"))] = None,
    batch_size: Annotated[int | None, typer.Option(help=default_help("Parallel streams per batch.", "batch_size"))] = None,
    seq_len: Annotated[int | None, typer.Option(help=default_help("Tokens per chunk: the truncated-BPTT length.", "seq_len"))] = None,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps in all \\[default: 2000 unless --epochs].")] = None,
    epochs: Annotated[float | None, typer.Option(help="Passes over the training split, instead of --steps.")] = None,
    lr: Annotated[float | None, typer.Option(help=default_help("Peak learning rate (AdamW, warmup then cosine).", "lr"))] = None,
    clip: Annotated[float | None, typer.Option(help=default_help("Clip the global gradient norm to this; 0 turns it off.", "clip"))] = None,
    precision: Annotated[str | None, typer.Option(help="fp32, or bf16: autocast to bfloat16 (1.5-1.7x faster on a CPU with bf16 units; see docs/performance.md). \\[default: fp32]")] = None,
    curves: Annotated[bool | None, typer.Option("--curves/--no-curves", help="Draw curves.png (loss against steps and tokens) beside metrics.jsonl; needs seqgen\\[plots]. \\[default: on]")] = None,
    compile: Annotated[bool | None, typer.Option("--compile/--no-compile", help="torch.compile the time loop of StepCell layers (plugin cells without a fused path); costs compile time at the start. \\[default: off]")] = None,
    eval_interval: Annotated[int | None, typer.Option(help=default_help("Validate and save every N steps.", "eval_interval"))] = None,
    log_interval: Annotated[int | None, typer.Option(help=default_help("Log metrics every N steps.", "log_interval"))] = None,
    val_fraction: Annotated[float | None, typer.Option(help=default_help("The last part of the corpus held out for validation.", "val_fraction"))] = None,
    max_val_tokens: Annotated[int | None, typer.Option(help=default_help("Validate on at most this many tokens of the validation split (huge corpora).", "max_val_tokens"))] = None,
    seed: Annotated[int | None, typer.Option(help=default_help("Random seed.", "seed"))] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:N or mps \\[default: auto]")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder \\[default: checkpoints/<corpus name>]")] = None,
    resume_dir: Annotated[Path | None, typer.Option("--resume", help="Continue the run in this folder from its last checkpoint.")] = None,
    nproc: Annotated[int | None, typer.Option(help="Train in N processes on this machine (data parallel: one per GPU, or gloo on CPU) by launching torchrun; see docs/distributed.md.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier run in the output folder.")] = False,
    strict: Annotated[bool, typer.Option(help="MIDI: stop on a file that cannot be used instead of skipping it.")] = False,
    verbose: Annotated[bool, typer.Option(help="List the files skipped and why.")] = False,
) -> None:
    """Train a generator on a text or MIDI corpus (Ctrl-C saves and stops).

    Under torchrun (or with --nproc) it trains in several processes with DDP.
    """
    from seqgen.distributed import joined_world, launch_here, launched_by_torchrun
    from seqgen.training import resume, train

    if nproc is not None:
        if launched_by_torchrun():
            raise UsageError("--nproc launches torchrun itself; under torchrun leave it out")
        raise typer.Exit(launch_here(nproc, without_option(sys.argv[1:], "--nproc")))
    given = {
        "cell": cell, "layers": layers, "hidden": hidden, "embedding": embedding,
        "dropout": dropout, "tie_weights": tie_weights, "batch_size": batch_size,
        "seq_len": seq_len, "steps": steps, "epochs": epochs, "lr": lr, "clip": clip,
        "compile": compile, "precision": precision, "curves": curves,
        "eval_interval": eval_interval, "log_interval": log_interval,
        "val_fraction": val_fraction, "max_val_tokens": max_val_tokens, "seed": seed, "device": device, "format": format,
        "augment": augment, "transpose": transpose, "stretch": stretch, "arch": arch,
        "items": items, "label_from": label_from, "label_size": label_size,
    }
    settings = {k: v for k, v in given.items() if v is not None}
    if cell_opt:
        settings["cell_options"] = parse_options(cell_opt, "--cell-opt")
    if codec_opt:
        settings["codec_options"] = parse_options(codec_opt, "--codec-opt")
    if resume_dir is None and corpus is None:
        raise UsageError("give a CORPUS to train on, or --resume DIR to continue a run")
    with joined_world(settings.get("device", "auto")) as world:
        loaded = None
        if corpus is not None:
            with world.main_first():
                loaded = load_with_progress(corpus, settings.get("format"),
                                            settings.get("codec_options"), strict, verbose,
                                            settings.get("items"), settings.get("label_from"),
                                            quiet=not world.is_main)
        with TrainingView(console) if world.is_main else nullcontext() as view:
            if resume_dir is not None:
                result = resume(resume_dir, settings, loaded, progress=view)
            else:
                result = train(loaded, TrainConfig(**settings), out, overwrite=overwrite,
                               progress=view)
    if not world.is_main:
        return
    console.print(f"done: step {result.step}, validation loss {result.val_loss:.4f} "
                  f"(best {result.best_val_loss:.4f}) nats/token, "
                  f"{result.tokens_per_second:,.0f} tokens/s; checkpoint in {result.run_dir}",
                  highlight=False)


def without_option(args: list[str], name: str) -> list[str]:
    """``args`` less an option and its value (``--name V`` or ``--name=V``)."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            kept.append(arg)
    return kept


def load_with_progress(path: Path, format: str | None, codec_options: dict | None,
                       strict: bool = False, verbose: bool = False, items: str | None = None,
                       label_from: str | None = None, quiet: bool = False) -> Corpus:
    """Load a corpus with a progress bar over its files, then report files skipped."""
    from seqgen.corpus import FileCorpus, load_corpus, summarize_skipped

    with nullcontext() if quiet else FileProgressView(console) as progress:
        corpus = load_corpus(path, format, codec_options, items=items, label_from=label_from,
                             strict=strict, progress=progress)
    if isinstance(corpus, FileCorpus) and corpus.skipped and not quiet:
        err_console.print(f"[yellow]warning:[/] {len(corpus.files)} {corpus.format} files read, "
                          f"{summarize_skipped(corpus.skipped)}"
                          + ("" if verbose else "; --verbose lists them"), highlight=False)
        if verbose:
            for name, reason in corpus.skipped:
                err_console.print(f"  skipped {name}: {reason}", highlight=False, markup=False)
    return corpus


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
    from seqgen.checkpoint import load_checkpoint
    from seqgen.codec import FileCodec
    from seqgen.devices import resolve_device
    from seqgen.sampling import SamplingOptions, condition_labels, parse_length

    options = SamplingOptions(temperature, top_k, top_p)
    options.check()
    tokens, seconds = parse_length(length)
    ckpt = load_checkpoint(checkpoint, resolve_device(device))
    labels, chosen = condition_labels(ckpt.config.get("labels", []), condition, num_samples,
                                      seed)
    if chosen is not None and condition is None and len(ckpt.config["labels"]) > 1:
        err_console.print(f"condition: {chosen} (chosen at random; --condition picks one)",
                          highlight=False)
    if isinstance(ckpt.codec, FileCodec):
        if unique:
            raise UsageError("--unique works for text models of items (lines or files)")
        paths = sample_pieces(ckpt, primer, tokens, seconds, num_samples, options, seed, out,
                              force, labels, max_length or 100_000)
        show_and_render(paths, not quiet, render, soundfont)
    elif render:
        raise UsageError("--render is for MIDI models; this model writes text")
    elif seconds is not None:
        raise UsageError("a text model's --length is a number of characters, not a duration")
    else:
        if unique and not ckpt.codec.specials:
            raise UsageError("--unique works for models of items (lines or files); this model "
                             "reads one stream")
        limit = tokens if tokens is not None else max_length or (200 if ckpt.codec.specials
                                                                 else 500)
        sample_text(ckpt, read_text_primer(primer), limit, num_samples, options, seed, out,
                    force, labels, unique, corpus)


def read_text_primer(primer: str) -> str:
    if not primer.startswith("@"):
        return primer
    try:
        return Path(primer[1:]).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the primer file {primer[1:]}: {exc}") from None


def sample_text(ckpt: Checkpoint, primer: str, length: int, num_samples: int,
                options: SamplingOptions, seed: int | None, out: str | None, force: bool,
                labels: Tensor | None = None, unique: bool = False,
                corpus: Path | None = None) -> None:
    """Stream one sample to the terminal, print several, or write them to --out."""
    from seqgen.corpus import load_recorded_corpus
    from seqgen.sampling import drop_repeats, generate_text

    stream = out is None and num_samples == 1 and not unique
    training = None
    if unique:  # before generating: a missing corpus should not cost a generation first
        corpus_items = load_recorded_corpus(ckpt.config, corpus)
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
    elif out is None and ckpt.codec.specials:
        sys.stdout.write("".join(text + "\n" for text in texts))
    elif out is None:
        for i, text in enumerate(texts, 1):
            console.print(Rule(f"sample {i}"))
            sys.stdout.write(text + "\n")
    else:
        paths = output_paths(out, len(texts), ".txt", force)
        contents = [t + "\n" for t in texts] if len(paths) == len(texts) else \
            ["\n\n".join(texts) + "\n"]
        for path, text in zip(paths, contents, strict=True):
            path.write_text(text, encoding="utf-8")
        report_written(paths)


def sample_pieces(ckpt: Checkpoint, primer: str, length: int | None, seconds: float | None,
                  num_samples: int, options: SamplingOptions, seed: int | None,
                  out: str | None, force: bool, labels: Tensor | None = None,
                  max_length: int = 100_000) -> list[Path]:
    """Generate pieces of a file codec (MIDI) and write one file each; returns the files."""
    from seqgen.codec import CodecFileError
    from seqgen.sampling import generate_pieces

    codec = ckpt.codec
    primer_tokens = None
    if primer:
        if not primer.startswith("@"):
            raise UsageError(f"a {codec.name} model's primer is a file: --primer "
                             f"@FILE{codec.output_suffix}")
        try:
            primer_tokens, _ = codec.read(Path(primer[1:]))
        except CodecFileError as exc:
            raise UsageError(f"cannot use the primer file {primer[1:]}: {exc}") from None
    pieces = generate_pieces(ckpt.model, codec, primer_tokens, length, seconds, num_samples,
                             options, seed, labels, max_length)
    paths = output_paths(out or "samples/", num_samples, codec.output_suffix, force,
                         one_file_each=True)
    for path, tokens in zip(paths, pieces, strict=True):
        codec.write(tokens, path)
    seconds_table = codec.token_seconds()
    report_written(paths, None if seconds_table is None else
                   [f"{float(seconds_table[t.long()].sum()):.1f} s" for t in pieces])
    return paths


def show_and_render(paths: list[Path], show: bool, render: bool,
                    soundfont: Path | None) -> None:
    """The piano roll of each generated MIDI file, and its audio beside it if asked."""
    from seqgen.cli_media import render_file, show_midi

    for path in paths:
        if show and path.suffix.lower() in (".mid", ".midi"):
            show_midi(path)
        if render:
            render_file(path, path.with_suffix(".wav"), soundfont)


def output_paths(out: str, count: int, suffix: str, force: bool,
                 one_file_each: bool = False) -> list[Path]:
    """Files to write: ``out`` itself, or ``sample-N`` files in the folder ``out`` names.

    In a folder, numbering skips names that exist unless ``force``; an existing single file
    is an error unless ``force``.
    """
    path = Path(out)
    if out.endswith(("/", "\\")) or path.is_dir() or not path.suffix:
        path.mkdir(parents=True, exist_ok=True)
        names = (path / f"sample-{n}{suffix}" for n in itertools.count(1))
        return list(itertools.islice((p for p in names if force or not p.exists()), count))
    if one_file_each and count > 1:
        raise UsageError(f"--num-samples {count} writes {count} files: give --out a folder")
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it or choose another --out")
    path.parent.mkdir(parents=True, exist_ok=True)
    return [path]


def report_written(paths: list[Path], notes: list[str] | None = None) -> None:
    for i, path in enumerate(paths):
        extra = f" ({notes[i]})" if notes else ""
        err_console.print(f"wrote {path}{extra}", highlight=False)


@app.command("eval")
@reports_errors
def eval_command(
    checkpoint: Annotated[Path, typer.Argument(help="A run folder or a snapshot folder.")],
    corpus: Annotated[Path | None, typer.Option(help="Evaluate on this corpus's validation split instead.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
) -> None:
    """Validation loss in nats/token, bits per character and perplexity."""
    from seqgen.evaluation import evaluate_checkpoint

    result = evaluate_checkpoint(checkpoint, corpus, device)
    table = Table(title=f"evaluation of {checkpoint}")
    for column in ("tokens", "loss (nats/token)", f"bits/{result.unit}", "perplexity"):
        table.add_column(column, justify="right")
    table.add_row(f"{result.tokens:,}", f"{result.loss:.4f}", f"{result.bits_per_token:.4f}",
                  f"{result.perplexity:.3f}")
    console.print(table)
    if result.per_label:
        labels = Table(title="validation loss per label (nats/token)")
        labels.add_column("label")
        labels.add_column("loss", justify="right")
        for name, loss in result.per_label.items():
            labels.add_row(name, f"{loss:.4f}")
        console.print(labels)
    if result.wrong_label_loss is not None:
        console.print(f"with the right labels {result.loss:.4f}, with wrong labels (each item "
                      f"given the next label) {result.wrong_label_loss:.4f} nats/token",
                      highlight=False)


@app.command("cells")
@reports_errors
def cells_command() -> None:
    """List the recurrent cells that plugins provide."""
    table = Table(title="recurrent cells")
    for column in ("name", "plugin", "description", "options (--cell-opt)"):
        table.add_column(column)
    for spec in registered_cells().values():
        options = ", ".join(f"{k}={v}" for k, v in spec.options.items()) or "-"
        table.add_row(spec.name, f"{spec.distribution} {spec.version}", spec.description, options)
    console.print(table)


@app.command("plugins")
@reports_errors
def plugins_command(
    all: Annotated[bool, typer.Option("--all", help="Include the built-in plugins.")] = False,
) -> None:
    """List the installed plugins: version, hooks, and the cells and codecs each provides."""
    infos = [i for i in plugin_infos() if all or not i.builtin]
    if not infos:
        console.print("no plugins installed (--all shows the built-ins)", highlight=False)
        return
    table = Table(title="plugins")
    for column in ("plugin", "distribution", "hooks", "cells", "codecs", "status"):
        table.add_column(column)
    for info in infos:
        table.add_row(info.name, f"{info.distribution} {info.version}",
                      ", ".join(info.hooks) or "-", ", ".join(info.cells) or "-",
                      ", ".join(info.codecs) or "-",
                      f"[red]broken: {info.error}[/]" if info.error else "ok")
    console.print(table)


@corpus_app.command("inspect")
@reports_errors
def inspect_command(
    path: Annotated[Path, typer.Argument(help="A text or MIDI file, or a folder of them.")],
    format: Annotated[str | None, typer.Option(help="text or midi \\[default: declared, else detected]")] = None,
    items: Annotated[str | None, typer.Option(help="Text: lines, files or stream \\[default: declared, else detected]")] = None,
    label_from: Annotated[str | None, typer.Option(help="stem, folder or a CSV/JSON file \\[default: declared, else none]")] = None,
    codec_opt: Annotated[list[str] | None, typer.Option(help="A codec option key=value, repeatable.")] = None,
    val_fraction: Annotated[float, typer.Option(help="Validation fraction to show split sizes for.")] = 0.1,
    batch_size: Annotated[int, typer.Option(help="Batch size to show the padding for (items).")] = 64,
    seq_len: Annotated[int, typer.Option(help="Chunk length to show the padding for (items).")] = 128,
    strict: Annotated[bool, typer.Option(help="MIDI: a file that cannot be used is an error.")] = False,
    verbose: Annotated[bool, typer.Option(help="List the files skipped and why.")] = False,
) -> None:
    """Files, tokens, vocabulary and split sizes of a corpus."""
    corpus = load_with_progress(path, format, parse_options(codec_opt or [], "--codec-opt"),
                                strict, verbose, items, label_from)
    table = Table(title=f"corpus {path} ({corpus.format})", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for name, value in describe_corpus(corpus, val_fraction, batch_size, seq_len):
        table.add_row(name, value)
    console.print(table)


def describe_corpus(corpus: Corpus, val_fraction: float, batch_size: int,
                    seq_len: int) -> list[tuple[str, str]]:
    import torch

    from seqgen.batching import padding_fraction
    from seqgen.codec import describe_chars
    from seqgen.corpus import FileCorpus, TextCorpus, relative_name, summarize_skipped

    shown = ", ".join(relative_name(f, corpus.path) for f in corpus.files[:5])
    more = f" and {len(corpus.files) - 5} more" if len(corpus.files) > 5 else ""
    rows = [("files", f"{len(corpus.files)} read: {shown}{more}"),
            ("size", f"{corpus.num_bytes:,} bytes")]
    train, val = corpus.split(val_fraction)
    if isinstance(corpus, TextCorpus):
        return rows + [
            ("items", "one stream"),
            ("tokens", f"{corpus.num_tokens:,} characters"),
            ("vocabulary", f"{corpus.codec.size} characters: "
                           f"{describe_chars(list(corpus.codec.vocab), limit=100)}"),
            ("split", f"{train.num_tokens:,} training, {val.num_tokens:,} validation tokens "
                      f"(last {val_fraction:.0%})"),
            ("invalid UTF-8", f"{corpus.invalid_bytes} byte sequences replaced"),
            ("encoding", "from the cache" if corpus.from_cache else "encoded now and cached"),
        ]
    if isinstance(corpus, FileCorpus):
        rows += [("skipped", summarize_skipped(corpus.skipped))]
        rows += [describe_stat(name, value) for name, value in corpus.stats.items()]
        rows += [("vocabulary", f"{corpus.codec.size} events: "
                                f"{describe_vocabulary(corpus.codec)}")]
    else:
        rows += [("vocabulary", f"{corpus.codec.size} tokens: PAD, BOS, EOS and "
                                f"{len(corpus.codec.vocab)} characters: "
                                f"{describe_chars(list(corpus.codec.vocab), limit=100)}"),
                 ("invalid UTF-8", f"{corpus.invalid_bytes} byte sequences replaced")]
    lengths = torch.tensor([p.numel() for p in corpus.pieces], dtype=torch.float)
    layout = train.batches(min(batch_size, train.max_rows()), seq_len)
    per_label = corpus.items_per_label()
    return rows + [
        ("items", f"{len(corpus.pieces):,} ({corpus.items}), labels: "
                  + (", ".join(f"{k} {v:,}" for k, v in per_label.items()) or "none")),
        ("tokens", f"{corpus.num_tokens:,}; per item: min {lengths.min():.0f}, median "
                   f"{lengths.median():.0f}, mean {lengths.mean():.0f}, max {lengths.max():.0f}"),
        ("split", f"{len(train.items):,} training items ({train.num_tokens:,} tokens), "
                  f"{len(val.items):,} validation items ({val.num_tokens:,} tokens)"),
        ("padding", f"{padding_fraction(layout):.1%} of training positions at batch "
                    f"{batch_size}, seq-len {seq_len}"),
        ("encoding", "from the cache" if corpus.from_cache else "encoded now and cached"),
    ]


def describe_stat(name: str, value: float) -> tuple[str, str]:
    if name == "seconds":
        return "duration", f"{value / 3600:.2f} hours ({value:,.0f} s)"
    return name, f"{value:,.0f}"


def describe_vocabulary(codec: FileCodec) -> str:
    """``1 PAD, 128 NOTE_ON, ...``: how many tokens of each kind (names less their numbers)."""
    kinds = Counter(codec.token_name(t).rstrip("0123456789").rstrip("_")
                    for t in range(codec.size))
    return ", ".join(f"{n} {kind}" for kind, n in kinds.items())


def main() -> None:
    warnings.showwarning = show_warning
    app()


import seqgen.cli_media  # noqa: E402, F401  (adds show, plot, render, stats)

add_commands(app)
