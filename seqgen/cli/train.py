"""The commands that train and measure: ``train``, ``eval`` and ``corpus inspect``."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperCommand

from seqgen.cli.app import (
    app,
    console,
    corpus_app,
    default_help,
    err_console,
    prepare_png,
    report_written,
    reports_errors,
)
from seqgen.cli.display import FileProgressView, TrainingView
from seqgen.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_HIDDEN,
    DEFAULT_LAYERS,
    DEFAULT_SEQ_LEN,
    TrainConfig,
    check_task_settings,
    parse_control_names,
    parse_duration,
)
from seqgen.errors import UsageError
from seqgen.plugins import parse_options

TRAIN_SETTINGS = {f.name for f in fields(TrainConfig)}  # the train options that are settings

if TYPE_CHECKING:  # the library imports torch: commands import it when they run, not --help
    from seqgen.training.evaluation import Evaluation

# Words in an option's help that --help replaces with what the registry holds when it is shown
# (the reference in the docs keeps the words): the registered formats, and the controls each
# measures
FORMATS = "any registered codec's name"
CONTROLS = "listed by seqgen train --help"


class FormatsInHelp(TyperCommand):
    """A command whose options' help names the registered formats where it says ``FORMATS``
    and the controls each measures where it says ``CONTROLS``, looked up when the help is
    shown (the registry imports the codecs, and torch)."""

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:
        for param in self.params:
            text = getattr(param, "help", None) or ""
            if FORMATS in text:
                param.help = text = text.replace(FORMATS, registered_formats())
            if CONTROLS in text:
                param.help = text.replace(CONTROLS, measured_controls())
        super().format_help(ctx, formatter)


def registered_formats() -> str:
    """Every registered codec's name, a plugin's with its distribution: what --format takes."""
    from seqgen.data.codecs.base import codecs

    return ", ".join(spec.name + ("" if spec.distribution == "seqgen" else
                                  f" ({spec.distribution})") for spec in codecs().values())


def measured_controls() -> str:
    """The controls each registered codec of notes measures: ``midi: density, key, ...;
    parts: ...``."""
    from seqgen.data.codecs.base import codecs
    from seqgen.data.controls import codec_controls

    return "; ".join(f"{spec.name}: {', '.join(codec_controls(spec.cls.from_options()))}"
                     for spec in codecs().values() if spec.cls.implements("controls"))


@app.command("train", cls=FormatsInHelp)
@reports_errors
def train_command(
    corpus: Annotated[Path | None, typer.Argument(
        help="A file or a folder of text or MIDI (a .tsv of source<TAB>target pairs for an encoder-decoder; optional with --resume).")] = None,
    cell: Annotated[str | None, typer.Option(help=default_help("Cell type (see `seqgen cells`).", "cell"))] = None,
    layers: Annotated[int | None, typer.Option(help=f"Recurrent layers. \\[default: {DEFAULT_LAYERS}; with --time, the size for the budget]")] = None,
    hidden: Annotated[int | None, typer.Option(help=f"Hidden units per layer. \\[default: {DEFAULT_HIDDEN}; with --time, the size for the budget]")] = None,
    embedding: Annotated[int | None, typer.Option(help="Embedding size \\[default: the hidden size]")] = None,
    dropout: Annotated[float | None, typer.Option(help=default_help("Dropout between layers and before the head.", "dropout"))] = None,
    tie_weights: Annotated[bool | None, typer.Option("--tie-weights/--no-tie-weights", help="Share the embedding and output weights (needs embedding = hidden). \\[default: no]")] = None,
    cell_opt: Annotated[list[str] | None, typer.Option(help="A cell option key=value, repeatable (e.g. activation=relu).")] = None,
    arch: Annotated[str | None, typer.Option(help="many-to-many (continue a sequence), one-to-many (a label or start token unrolls into a whole item), encoder-decoder (a source is read whole and a target written from it) or many-to-one (a whole item in, its label out: a classifier). \\[default: many-to-many]")] = None,
    format: Annotated[str | None, typer.Option(help=f"Corpus format: {FORMATS}; see `seqgen plugins --all`. \\[default: declared in the corpus's seqgen.json, else detected]")] = None,
    items: Annotated[str | None, typer.Option(help="Text: each line, each file, or one stream is a sequence (lines|files|stream). \\[default: declared, else detected]")] = None,
    label_from: Annotated[str | None, typer.Option(help="Labels of items: stem (file name), folder (parent folder) or a CSV/JSON file mapping files to labels. \\[default: declared, else none]")] = None,
    label_size: Annotated[int | None, typer.Option(help=default_help("Size of a label's embedding.", "label_size"))] = None,
    label_balance: Annotated[float | None, typer.Option(help=default_help("Labelled items: 0 trains on each label as often as the corpus has it, 1 on every label equally often (rare labels drawn more); between, a label of n items in proportion to n^(1 - this).", "label_balance"))] = None,
    codec_opt: Annotated[list[str] | None, typer.Option(help="A codec option key=value, repeatable (MIDI: resolution_ms, max_shift_ms, velocity_bins, keep_drums, sustain; parts: step_ms, voices, relative).")] = None,
    augment: Annotated[bool | None, typer.Option("--augment/--no-augment", help="Music codecs that augment (MIDI; ABC with seqgen-abc): random transposition and time stretch of training pieces. \\[default: on]")] = None,
    transpose: Annotated[int | None, typer.Option(help=default_help("Augmentation: transpose by up to this many semitones either way.", "transpose"))] = None,
    stretch: Annotated[float | None, typer.Option(help=default_help("Augmentation: stretch time by a factor in 1 +- this (midi events; a parts grid is never stretched).", "stretch"))] = None,
    batch_size: Annotated[int | None, typer.Option(help=f"Rows (parallel streams or items) per batch. \\[default: {DEFAULT_BATCH_SIZE}, fewer for a small corpus]")] = None,
    seq_len: Annotated[int | None, typer.Option(help=f"Tokens per chunk: the truncated-BPTT length. \\[default: {DEFAULT_SEQ_LEN}, shorter for a tiny text]")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps in all \\[default: 2000 unless --epochs or --time].")] = None,
    epochs: Annotated[float | None, typer.Option(help="Passes over the training split, instead of --steps.")] = None,
    time: Annotated[str | None, typer.Option("--time", help="Train for this long instead (90s, 5m, 1h): the run plans its schedule by the clock, validates and saves at the end; without --layers/--hidden it picks the model size for the budget.")] = None,
    lr: Annotated[float | None, typer.Option(help=default_help("Peak learning rate (AdamW: warmup, stable, then a linear decay over the last fifth of the run).", "lr"))] = None,
    clip: Annotated[float | None, typer.Option(help=default_help("Clip the global gradient norm to this; 0 turns it off.", "clip"))] = None,
    precision: Annotated[str | None, typer.Option(help="auto, fp32 or bf16: auto autocasts to bfloat16 where the device computes it natively (CPUs with AMX or AVX512-BF16, recent GPUs), fp32 elsewhere; the choice is printed and recorded. \\[default: auto]")] = None,
    curves: Annotated[bool | None, typer.Option("--curves/--no-curves", help="Draw curves.png (loss against steps and tokens) beside metrics.jsonl; needs seqgen\\[plots]. \\[default: on]")] = None,
    compile: Annotated[bool | None, typer.Option("--compile/--no-compile", help="torch.compile the time loop of StepCell layers (plugin cells without a fused path); costs compile time at the start. \\[default: off]")] = None,
    eval_interval: Annotated[int | None, typer.Option(help=default_help("Validate and save every N steps.", "eval_interval"))] = None,
    log_interval: Annotated[int | None, typer.Option(help=default_help("Log metrics every N steps.", "log_interval"))] = None,
    val_fraction: Annotated[float | None, typer.Option(help=default_help("The last part of the corpus held out for validation.", "val_fraction"))] = None,
    max_val_tokens: Annotated[int | None, typer.Option(help=default_help("Validate on at most this many tokens of the validation split (huge corpora).", "max_val_tokens"))] = None,
    seed: Annotated[int | None, typer.Option(help=default_help("Random seed.", "seed"))] = None,
    encoder_layers: Annotated[int | None, typer.Option(help="Encoder-decoder: the encoder's recurrent layers. \\[default: --layers]")] = None,
    encoder_hidden: Annotated[int | None, typer.Option(help="Encoder-decoder: the encoder's units per layer and direction. \\[default: half --hidden when bidirectional, else --hidden]")] = None,
    bidirectional: Annotated[bool | None, typer.Option("--bidirectional/--no-bidirectional", help="Encoder-decoder and many-to-one: read the source (the item) forwards and backwards. \\[default: on]")] = None,
    attention: Annotated[str | None, typer.Option(help="Encoder-decoder: general (Luong), dot, additive (Bahdanau) or none. \\[default: general]")] = None,
    input_feeding: Annotated[bool | None, typer.Option("--input-feeding/--no-input-feeding", help="Encoder-decoder: join each step's attentional vector to the next step's input (trains step by step). \\[default: off]")] = None,
    clock: Annotated[bool | None, typer.Option("--clock/--no-clock", help="Encoder-decoder on timed pairs (MIDI): give encoder, decoder and attention the time of every token, so the voices line up with the melody by time, not by counting time shifts. \\[default: on where the codec keeps time]")] = None,
    source_track: Annotated[str | None, typer.Option(help="Encoder-decoder on MIDI: the track (name or index) that is the source; the other tracks are the target (merged for midi, kept apart for parts). \\[default: declared in seqgen.json]")] = None,
    shared_vocab: Annotated[bool | None, typer.Option("--shared-vocab/--no-shared-vocab", help="Encoder-decoder on text: one vocabulary for sources and targets. \\[default: declared, else off]")] = None,
    pool: Annotated[str | None, typer.Option(help="Many-to-one: how the encoder's outputs become one vector: attention (a learned weighting of the tokens), mean or last (each direction's final state). \\[default: attention]")] = None,
    controls: Annotated[str | None, typer.Option(help=f"Music: controls measured from the training pieces at every step (a window of a few seconds), comma-separated, that sampling can then set with --control; 'all': every one the codec measures that varies in the corpus. What each format measures: {CONTROLS}.")] = None,
    control_bins: Annotated[int | None, typer.Option(help=default_help("With --controls: bins of each control of numbers (density, register, dynamics), cut at the corpus's quantiles; a key is one of 24.", "control_bins"))] = None,
    control_free: Annotated[float | None, typer.Option(help=default_help("With --controls: the chance that training leaves a control free for a piece, so that sampling may leave it free.", "control_free"))] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:N or mps \\[default: auto]")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads to compute with. \\[default: OMP_NUM_THREADS where set, else one per core, fewer while other processes keep the cores busy]")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder \\[default: runs/<corpus name>]")] = None,
    resume_dir: Annotated[Path | None, typer.Option("--resume", help="Continue the run in this folder from its last checkpoint.")] = None,
    nproc: Annotated[int | None, typer.Option(help="Train in N processes on this machine (data parallel: one per GPU, or gloo on CPU) by launching torchrun; see docs/distributed.md.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier run in the output folder.")] = False,
    strict: Annotated[bool, typer.Option(help="MIDI: stop on a file that cannot be used instead of skipping it.")] = False,
    verbose: Annotated[bool, typer.Option(help="List the files skipped and why.")] = False,
) -> None:
    """Train a model on a text or MIDI corpus (Ctrl-C saves and stops).

    Under torchrun (or with --nproc) it trains in several processes with DDP.
    """
    from seqgen.nn.cells import get_cell
    from seqgen.threads import configure as configure_threads
    from seqgen.training.distributed import joined_world, launch_here, launched_by_torchrun
    from seqgen.training.runs import check_run_dir, default_run_dir, resume, train

    arguments = dict(locals())  # the settings given are those of TrainConfig's fields
    settings = {k: v for k, v in arguments.items() if k in TRAIN_SETTINGS and v is not None}
    if time is not None:
        settings["time"] = parse_duration(time)
    if nproc is not None:
        if launched_by_torchrun():
            raise UsageError("--nproc launches torchrun itself; under torchrun leave it out")
        raise typer.Exit(launch_here(nproc, without_option(sys.argv[1:], "--nproc"),
                                     settings.get("device", "auto")))
    configure_threads(threads)
    if cell_opt:  # checked against the cell's options (a resumed run's cell: when it loads)
        settings["cell_options"] = parse_options(
            cell_opt, "--cell-opt", None if resume_dir is not None else
            get_cell(settings.get("cell", TrainConfig.cell)))
    if codec_opt:
        settings["codec_options"] = parse_options(codec_opt, "--codec-opt")
    if controls is not None:
        settings["controls"] = parse_control_names(controls)
    if resume_dir is None and corpus is None:
        raise UsageError("give a CORPUS to train on, or --resume DIR to continue a run")
    if resume_dir is None:  # everything a new run can check, before the corpus loads
        check_task_settings(settings.get("arch", TrainConfig.arch), settings)  # as given
        config = TrainConfig(**settings)
        out = out or default_run_dir(corpus)
        check_run_dir(out, overwrite, config, corpus)
    with joined_world(settings.get("device", "auto")) as world:
        if resume_dir is None:
            with world.main_first():
                loaded = load_with_progress(corpus, config, strict, verbose,
                                            quiet=not world.is_main)
        with TrainingView(console) if world.is_main else nullcontext() as view:
            if resume_dir is not None:  # read as the run recorded, with these settings
                result = resume(resume_dir, settings, corpus, progress=view, world=world)
            else:
                result = train(loaded, config, out, overwrite=overwrite, progress=view,
                               world=world)
    if world.is_main:
        per_char = "" if result.val_bits_per_char is None else \
            f" ({result.val_bits_per_char:.4f} bits/char)"
        console.print(f"done: step {result.step} after {result.seconds:.0f} s of training, "
                      f"validation loss {result.val_loss:.4f} (best {result.best_val_loss:.4f}) "
                      f"nats/{result.loss_per}{per_char}, {result.tokens_per_second:,.0f} tokens/s; checkpoint in "
                      f"{result.run_dir}", highlight=False)


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


def load_with_progress(path: Path, config: TrainConfig, strict: bool = False,
                       verbose: bool = False, quiet: bool = False) -> Any:
    """Load a corpus as a run of ``config`` reads it, with a progress bar over its files,
    then report files skipped."""
    from seqgen.data.describe import summarize_skipped
    from seqgen.training.runs import load_run_corpus

    with nullcontext() if quiet else FileProgressView(console) as progress:
        corpus = load_run_corpus(path, config, strict=strict, progress=progress)
    if getattr(corpus, "skipped", None) and not quiet:
        err_console.print(f"[yellow]warning:[/] {len(corpus.files)} {corpus.format} files read, "
                          f"{summarize_skipped(corpus.skipped)}"
                          + ("" if verbose else "; --verbose lists them"), highlight=False)
        if verbose:
            for name, reason in corpus.skipped:
                err_console.print(f"  skipped {name}: {reason}", highlight=False, markup=False)
    return corpus


@app.command("eval")
@reports_errors
def eval_command(
    checkpoint: Annotated[Path, typer.Argument(help="A run folder or a snapshot folder.")],
    corpus: Annotated[Path | None, typer.Option(help="Evaluate on this corpus's validation split instead.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads to compute with. \\[default: OMP_NUM_THREADS where set, else one per core, fewer while other processes keep the cores busy]")] = None,
    beam: Annotated[int, typer.Option(help="Encoder-decoder of text: the beam whose outputs are scored beside the greedy ones.")] = 5,
    confusion_png: Annotated[Path | None, typer.Option(help="Classifier: draw its confusion matrix on the validation items (true label down, predicted across) as a PNG.")] = None,
    judge: Annotated[Path | None, typer.Option(help="A classifier (--arch many-to-one) that judges this labelled generator: the share of the items it writes for each label that the classifier gives that label.")] = None,
    num_samples: Annotated[int, typer.Option(help="With --judge: items generated per label.")] = 100,
    seed: Annotated[int, typer.Option(help="With --judge: the random seed of the generated items.")] = 0,
    force: Annotated[bool, typer.Option(help="Overwrite an existing --confusion-png.")] = False,
) -> None:
    """Evaluate a checkpoint on its validation split: the loss, and what its architecture adds.

    Loss in nats per token (per label for a classifier), bits per character and perplexity;
    an encoder-decoder of text adds exact match and chrF of its outputs, greedy and with a
    beam, and the loss with learnt rule weights; a classifier adds accuracy, macro F1 and each
    label's figures; --judge asks a classifier how often a generator writes what it is asked.
    """
    from seqgen.cli.display import WorkProgressView
    from seqgen.config import at_least, check_seed
    from seqgen.threads import configure as configure_threads
    from seqgen.training.evaluation import evaluate_checkpoint

    at_least(1, num_samples=num_samples, beam=beam)
    check_seed(seed)
    configure_threads(threads)
    if confusion_png is not None:
        prepare_png(confusion_png, "--confusion-png", force)
    judged = load_judged_pair(checkpoint, judge, device) if judge is not None else None
    with WorkProgressView(err_console) as progress:
        result = evaluate_checkpoint(checkpoint, corpus, device, beam, progress)
    if confusion_png is not None and result.classes is None:
        raise UsageError("--confusion-png draws a classifier's confusion matrix; "
                         f"{checkpoint} is not a classifier")
    print_evaluation(checkpoint, result)
    if result.classes is not None:
        print_classes(result.classes)
        if confusion_png is not None:
            from seqgen.media.plots import confusion_png as draw_confusion

            draw_confusion(result.classes.counts.numpy(), result.classes.labels, confusion_png)
            report_written([confusion_png])
    if judged is not None:
        print_judgement(judged, num_samples, seed, result.precision)


def load_judged_pair(generator: Path, classifier: Path, device: str) -> tuple:
    """Both checkpoints of ``--judge``, loaded and checked before any work."""
    from seqgen.tasks.judge import check_judged_pair
    from seqgen.training.checkpoint import load_checkpoint
    from seqgen.training.devices import resolve_device

    dev = resolve_device(device)
    pair = load_checkpoint(generator, dev), load_checkpoint(classifier, dev)
    check_judged_pair(*pair)
    return pair


def print_judgement(pair: tuple, num_samples: int, seed: int, precision: str) -> None:
    from seqgen.cli.display import WorkProgressView
    from seqgen.tasks.judge import judge

    generator, classifier = pair
    with WorkProgressView(err_console) as progress:
        found = judge(generator, classifier, num_samples, seed, precision, progress)
    table = Table(title=f"{num_samples} items per label written by {generator.path}, "
                        f"labelled by {classifier.path}")
    table.add_column("label")
    table.add_column("labelled as asked", justify="right")
    for name, share in found.recognised.items():
        table.add_row(name, f"{share:.1%}")
    table.add_row("macro average", f"{found.macro:.1%}", style="bold")
    console.print(table)
    console.print(f"the classifier's macro accuracy on real validation items: "
                  f"{found.classifier_accuracy:.1%}; the generated items are recognised "
                  f"{found.ratio:.2f} times as often as real ones", highlight=False)


def print_classes(classes) -> None:
    """A classifier's accuracy, macro accuracy and F1, and each label's figures."""
    console.print(f"accuracy {classes.accuracy:.1%} of {classes.items:,} validation items; "
                  f"macro-averaged accuracy {classes.macro_accuracy:.1%}, "
                  f"F1 {classes.macro_f1:.3f}", highlight=False)
    table = Table(title="per label")
    for column in ("label", "items", "accuracy", "precision", "F1"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for row in classes.per_label():
        table.add_row(row["label"], f"{row['items']:,}",
                      "-" if row["items"] == 0 else f"{row['accuracy']:.1%}",
                      f"{row['precision']:.1%}", f"{row['f1']:.3f}")
    console.print(table)


def print_evaluation(checkpoint: Path, result: Evaluation) -> None:
    """The loss and what it measures, per label, the outputs' scores, and what training
    recorded."""
    per = result.loss_per
    counted = "items" if per == "label" else "tokens"
    table = Table(title=f"evaluation of {checkpoint}")
    unit = result.unit if per == "token" else per  # a token's name: character, word...
    columns = {counted: f"{result.tokens:,}", f"loss (nats/{per})": f"{result.loss:.4f}",
               f"bits/{unit}": f"{result.bits_per_token:.4f}"}
    if result.bits_per_char is not None and result.unit != "character":
        columns |= {"characters": f"{result.chars:,}", "bits/char": f"{result.bits_per_char:.4f}"}
    if result.nats_per_second is not None:
        columns |= {"seconds of music": f"{result.seconds:,.1f}",
                    "nats/second": f"{result.nats_per_second:.3f}"}
    columns["perplexity"] = f"{result.perplexity:.3f}"
    for column in columns:
        table.add_column(column, justify="right")
    table.add_row(*columns.values())
    console.print(table)
    if result.per_label:
        labels = Table(title="validation loss per label (nats/token)")
        labels.add_column("label")
        labels.add_column("loss", justify="right")
        for name, loss in result.per_label.items():
            labels.add_row(name, f"{loss:.4f}")
        console.print(labels)
    if result.decoding:
        scores = Table(title=f"outputs for the {result.pairs:,} validation pairs")
        columns = {"exact match": "exact match (%)", "chrF": "chrF"}  # chrF: seqgen[metrics]
        measured = [key for key in columns if key in next(iter(result.decoding.values()))]
        for column in ("decoding", *(columns[key] for key in measured)):
            scores.add_column(column, justify="right")
        for name, values in result.decoding.items():
            scores.add_row(name, *(f"{values[key]:.1f}" for key in measured))
        console.print(scores)
    if result.ruled_loss is not None:
        console.print("with the weights learnt for the network and its codec's rules "
                      f"(rules.json): {result.ruled_loss:.4f} nats/token", highlight=False)
    if result.recorded_loss is not None:
        console.print(recorded_line(result), highlight=False)
    if result.free_controls_loss is not None:
        console.print(f"with the music controls measured from each piece {result.loss:.4f}, "
                      f"with every control free {result.free_controls_loss:.4f} nats/token",
                      highlight=False)
    if result.wrong_label_loss is not None:
        console.print(f"with the right labels {result.loss:.4f}, with wrong labels (each item "
                      f"given the next label) {result.wrong_label_loss:.4f} nats/token",
                      highlight=False)


def recorded_line(result: Evaluation) -> str:
    """What training recorded for the snapshot, beside the figures just computed: in the same
    precision they agree; where the device cannot compute the run's precision, say so."""
    figures = f"{result.recorded_loss:.4f} nats/{result.loss_per}"
    if result.recorded_ruled_loss is not None:
        figures += f" ({result.recorded_ruled_loss:.4f} with the learnt weights)"
    if result.precision == result.recorded_precision:
        return f"training recorded {figures} in {result.precision} for this snapshot"
    fp32 = "" if result.recorded_fp32_loss is None else \
        f" and {result.recorded_fp32_loss:.4f} in fp32"
    return (f"this device does not compute {result.recorded_precision} natively, so these "
            f"figures are computed in {result.precision}; training recorded {figures} in "
            f"{result.recorded_precision}{fp32}")


@corpus_app.command("inspect", cls=FormatsInHelp)
@reports_errors
def inspect_command(
    path: Annotated[Path, typer.Argument(help="A text or MIDI file, or a folder of them.")],
    format: Annotated[str | None, typer.Option(help=f"Corpus format: {FORMATS}. \\[default: declared, else detected]")] = None,
    items: Annotated[str | None, typer.Option(help="Text: lines, files or stream \\[default: declared, else detected]")] = None,
    label_from: Annotated[str | None, typer.Option(help="stem, folder or a CSV/JSON file \\[default: declared, else none]")] = None,
    codec_opt: Annotated[list[str] | None, typer.Option(help="A codec option key=value, repeatable.")] = None,
    val_fraction: Annotated[float, typer.Option(help="Validation fraction to show split sizes for.")] = 0.1,
    batch_size: Annotated[int | None, typer.Option(help=f"Batch size to show the padding for (items). \\[default: as training would: {DEFAULT_BATCH_SIZE}, fewer for a small corpus]")] = None,
    seq_len: Annotated[int | None, typer.Option(help=f"Chunk length to show the padding for (items). \\[default: {DEFAULT_SEQ_LEN}]")] = None,
    strict: Annotated[bool, typer.Option(help="MIDI: a file that cannot be used is an error.")] = False,
    verbose: Annotated[bool, typer.Option(help="List the files skipped and why.")] = False,
    arch: Annotated[str, typer.Option(help="Read the corpus as a run of this architecture does (encoder-decoder: as pairs).")] = "many-to-many",
    source_track: Annotated[str | None, typer.Option(help="Pairs of MIDI files: the source's track. \\[default: declared]")] = None,
) -> None:
    """Files, tokens, vocabulary and split sizes of a corpus."""
    config = TrainConfig(batch_size=batch_size, seq_len=seq_len, val_fraction=val_fraction,
                         format=format, items=items, label_from=label_from,
                         codec_options=parse_options(codec_opt or [], "--codec-opt"),
                         arch=arch, source_track=source_track)
    corpus = load_with_progress(path, config, strict, verbose)
    table = Table(title=f"corpus {path} ({corpus.format})", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for name, value in corpus.describe(val_fraction, batch_size, seq_len):
        table.add_row(name, value)
    console.print(table)
