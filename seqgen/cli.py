"""The ``seqgen`` command line: parse arguments, call the library, print the results."""

import functools
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from seqgen import __version__
from seqgen.cells import parse_cell_options
from seqgen.checkpoint import load_checkpoint
from seqgen.codec import describe_chars
from seqgen.corpus import load_text_corpus, split_stream
from seqgen.devices import resolve_device
from seqgen.display import TrainingView
from seqgen.errors import SeqgenError, UsageError
from seqgen.evaluation import evaluate_checkpoint
from seqgen.plugins import cells as registered_cells
from seqgen.sampling import SamplingOptions, generate
from seqgen.training import TrainConfig, resume, train

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
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True,
                              soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


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
    """Train and sample recurrent sequence generators on text corpora."""


def default_help(text: str, name: str) -> str:
    return f"{text} [default: {getattr(TrainConfig, name)}]"


@app.command("train")
@reports_errors
def train_command(
    corpus: Annotated[Path | None, typer.Argument(
        help="A .txt file or a folder of them (optional with --resume).")] = None,
    cell: Annotated[str | None, typer.Option(help=default_help("Cell type (see `seqgen cells`).", "cell"))] = None,
    layers: Annotated[int | None, typer.Option(help=default_help("Recurrent layers.", "layers"))] = None,
    hidden: Annotated[int | None, typer.Option(help=default_help("Hidden units per layer.", "hidden"))] = None,
    embedding: Annotated[int | None, typer.Option(help="Embedding size [default: the hidden size]")] = None,
    dropout: Annotated[float | None, typer.Option(help=default_help("Dropout between layers and before the head.", "dropout"))] = None,
    tie_weights: Annotated[bool | None, typer.Option("--tie-weights/--no-tie-weights", help="Share the embedding and output weights (needs embedding = hidden). [default: no]")] = None,
    cell_opt: Annotated[list[str] | None, typer.Option(help="A cell option key=value, repeatable (e.g. activation=relu).")] = None,
    batch_size: Annotated[int | None, typer.Option(help=default_help("Parallel streams per batch.", "batch_size"))] = None,
    seq_len: Annotated[int | None, typer.Option(help=default_help("Tokens per chunk: the truncated-BPTT length.", "seq_len"))] = None,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps in all [default: 2000 unless --epochs].")] = None,
    epochs: Annotated[float | None, typer.Option(help="Passes over the training split, instead of --steps.")] = None,
    lr: Annotated[float | None, typer.Option(help=default_help("Peak learning rate (AdamW, warmup then cosine).", "lr"))] = None,
    clip: Annotated[float | None, typer.Option(help=default_help("Clip the global gradient norm to this; 0 turns it off.", "clip"))] = None,
    eval_interval: Annotated[int | None, typer.Option(help=default_help("Validate and save every N steps.", "eval_interval"))] = None,
    log_interval: Annotated[int | None, typer.Option(help=default_help("Log metrics every N steps.", "log_interval"))] = None,
    val_fraction: Annotated[float | None, typer.Option(help=default_help("The last part of the corpus held out for validation.", "val_fraction"))] = None,
    seed: Annotated[int | None, typer.Option(help=default_help("Random seed.", "seed"))] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:N or mps [default: auto]")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder [default: checkpoints/<corpus name>]")] = None,
    resume_dir: Annotated[Path | None, typer.Option("--resume", help="Continue the run in this folder from its last checkpoint.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier run in the output folder.")] = False,
) -> None:
    """Train a character-level generator on a text corpus (Ctrl-C saves and stops)."""
    given = {
        "cell": cell, "layers": layers, "hidden": hidden, "embedding": embedding,
        "dropout": dropout, "tie_weights": tie_weights, "batch_size": batch_size,
        "seq_len": seq_len, "steps": steps, "epochs": epochs, "lr": lr, "clip": clip,
        "eval_interval": eval_interval, "log_interval": log_interval,
        "val_fraction": val_fraction, "seed": seed, "device": device,
    }
    settings = {k: v for k, v in given.items() if v is not None}
    if cell_opt:
        try:
            settings["cell_options"] = parse_cell_options(cell_opt)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    with TrainingView(console) as view:
        if resume_dir is not None:
            result = resume(resume_dir, settings, corpus, progress=view)
        elif corpus is None:
            raise UsageError("give a CORPUS to train on, or --resume DIR to continue a run")
        else:
            result = train(corpus, TrainConfig(**settings), out, overwrite=overwrite,
                           progress=view)
    console.print(f"done: step {result.step}, validation loss {result.val_loss:.4f} "
                  f"(best {result.best_val_loss:.4f}) nats/token, "
                  f"{result.tokens_per_second:,.0f} tokens/s; checkpoint in {result.run_dir}",
                  highlight=False)


@app.command("sample")
@reports_errors
def sample_command(
    checkpoint: Annotated[Path, typer.Argument(help="A run folder (its best snapshot) or a snapshot folder.")],
    primer: Annotated[str, typer.Option(help="Text to continue, or @FILE to read it from a file.")] = "",
    length: Annotated[int, typer.Option(help="Tokens (characters) to generate.")] = 500,
    num_samples: Annotated[int, typer.Option(help="Samples, generated together as one batch.")] = 1,
    temperature: Annotated[float, typer.Option(help="Divide the logits by this (> 0); lower is more conservative.")] = 1.0,
    top_k: Annotated[int, typer.Option(help="Keep only the k likeliest tokens; 0 keeps all.")] = 0,
    top_p: Annotated[float, typer.Option(help="Keep the smallest set of tokens whose probability reaches p (0 < p <= 1).")] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Random seed, for reproducible samples.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    out: Annotated[str | None, typer.Option(help="Write the samples to this file instead of the terminal; a folder (a path ending in / or with no suffix) gets one file each.")] = None,
) -> None:
    """Generate text from a trained checkpoint, streaming it to the terminal."""
    options = SamplingOptions(temperature, top_k, top_p)
    options.check()
    if primer.startswith("@"):
        primer = read_primer(Path(primer[1:]))
    ckpt = load_checkpoint(checkpoint, resolve_device(device))
    stream = out is None and num_samples == 1
    pending_primer = [primer]

    def write_tokens(tokens):
        sys.stdout.write(pending_primer.pop() if pending_primer else "")
        sys.stdout.write(ckpt.codec.decode(tokens[:1]))
        sys.stdout.flush()

    texts = generate(ckpt.model, ckpt.codec, primer, length, num_samples, options, seed,
                     on_tokens=write_tokens if stream else None)
    if stream:
        sys.stdout.write("".join(pending_primer) + "\n")
    elif out is None:
        for i, text in enumerate(texts, 1):
            console.print(Rule(f"sample {i}"))
            sys.stdout.write(text + "\n")
    else:
        write_samples(out, texts)


def read_primer(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the primer file {path}: {exc}") from None


def write_samples(out: str, texts: list[str]) -> None:
    """One file for all samples, or one file each when ``out`` names a folder."""
    path = Path(out)
    if out.endswith(("/", "\\")) or path.is_dir() or not path.suffix:
        path.mkdir(parents=True, exist_ok=True)
        files = [path / f"sample-{i}.txt" for i in range(1, len(texts) + 1)]
        contents = [t + "\n" for t in texts]
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        files, contents = [path], ["\n\n".join(texts) + "\n"]
    for file, text in zip(files, contents, strict=True):
        file.write_text(text, encoding="utf-8")
    err_console.print(f"wrote {len(texts)} sample(s) to {out}", highlight=False)


@app.command("eval")
@reports_errors
def eval_command(
    checkpoint: Annotated[Path, typer.Argument(help="A run folder or a snapshot folder.")],
    corpus: Annotated[Path | None, typer.Option(help="Evaluate on this corpus's validation split instead.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
) -> None:
    """Validation loss in nats/token, bits per character and perplexity."""
    result = evaluate_checkpoint(checkpoint, corpus, device)
    table = Table(title=f"evaluation of {checkpoint}")
    for column in ("tokens", "loss (nats/token)", "bits/char", "perplexity"):
        table.add_column(column, justify="right")
    table.add_row(f"{result.tokens:,}", f"{result.loss:.4f}", f"{result.bits_per_token:.4f}",
                  f"{result.perplexity:.3f}")
    console.print(table)


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


@corpus_app.command("inspect")
@reports_errors
def inspect_command(
    path: Annotated[Path, typer.Argument(help="A .txt file or a folder of them.")],
    val_fraction: Annotated[float, typer.Option(help="Validation fraction to show split sizes for.")] = 0.1,
) -> None:
    """Files, tokens, vocabulary and split sizes of a corpus."""
    corpus = load_text_corpus(path)
    train_ids, val_ids = split_stream(corpus.ids, val_fraction)
    table = Table(title=f"corpus {path}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    shown = ", ".join(str(f.relative_to(path) if f != path else f.name) for f in corpus.files[:5])
    more = f" and {len(corpus.files) - 5} more" if len(corpus.files) > 5 else ""
    rows = [
        ("files", f"{len(corpus.files)}: {shown}{more}"),
        ("size", f"{corpus.num_bytes:,} bytes"),
        ("tokens", f"{corpus.ids.numel():,} characters"),
        ("vocabulary", f"{corpus.codec.size} characters: "
                       f"{describe_chars(list(corpus.codec.vocab), limit=100)}"),
        ("split", f"{train_ids.numel():,} training, {val_ids.numel():,} validation tokens "
                  f"(last {val_fraction:.0%})"),
        ("invalid UTF-8", f"{corpus.invalid_bytes} byte sequences replaced"),
        ("encoding", "from the cache" if corpus.from_cache else "encoded now and cached"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def main() -> None:
    warnings.showwarning = show_warning
    app()
