"""The Typer app of the ``seqgen`` command line, its consoles, and how errors and written files are
reported. The command modules (``train``, ``sample``, ``plugins``, ``media``) add their commands
to it; it imports none of them."""

from __future__ import annotations

import functools
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from seqgen import __version__
from seqgen.config import TrainConfig
from seqgen.errors import SeqgenError, UsageError
from seqgen.files import first_line, prepare_output_file
from seqgen.plugins import failed_plugin
from seqgen.signals import stop_exit_code

app = typer.Typer(help="Train and sample recurrent sequence generators.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
corpus_app = typer.Typer(help="Look at corpora.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")

console = Console()
err_console = Console(stderr=True)


def reports_errors(command):
    """Print a user's mistake, a failure or a plugin's failure on one line and exit with its
    code, never with a traceback (``SEQGEN_DEBUG=1`` prints it too). Anything else is a bug
    in seqgen, and its traceback is the report."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except BrokenPipeError:  # the reader of our output left (| head): stop, as Unix tools do
            leave_quietly()
        except SeqgenError as exc:
            report_error(exc, str(exc), exc.exit_code)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM or SIGUSR1 (signals.Stopped)
            report_error(exc, str(exc) or "interrupted", getattr(exc, "exit_code", 130))
        except OSError as exc:  # the file system said no: a name too long, a disk full...
            where = f" ({exc.filename})" if exc.filename else ""
            report_error(exc, f"{exc.strerror or exc}{where}", 1)
        except Exception as exc:
            if out_of_memory(exc):
                said = ". ".join(first_line(exc).split(". ")[:2]).rstrip(".")  # what, how much
                report_error(exc, f"the GPU ran out of memory ({said}): use less, with a "
                             "smaller --batch-size, --hidden or --seq-len (to sample: fewer "
                             "--num-samples, a smaller --beam)", 1)
            plugin = failed_plugin(exc)
            if plugin is None:
                raise
            report_error(exc, f"the plugin {plugin} failed: {type(exc).__name__}: {exc} (a bug "
                         "to report to its authors; SEQGEN_DEBUG=1 shows where)", 1)

    return wrapper


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is torch's out-of-memory error (a GPU's memory full): torch is looked
    up only where a command has imported it."""
    torch = sys.modules.get("torch")
    kinds = () if torch is None else tuple(
        kind for kind in (getattr(torch, "OutOfMemoryError", None),
                          getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None))
        if isinstance(kind, type))
    return bool(kinds) and isinstance(exc, kinds)


def leave_quietly() -> None:
    """Exit as a Unix tool whose reader closed the pipe does (128 + SIGPIPE), without a word:
    what is left in the output buffer goes nowhere, not into a second broken pipe as Python
    exits."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(stop_exit_code(getattr(signal, "SIGPIPE", 13))) from None


def report_error(exc: BaseException, message: str, exit_code: int) -> None:
    """Say what went wrong in one line (the main process of a distributed run alone), and
    exit."""
    from seqgen.training.distributed import is_main_process

    if is_main_process():
        if os.environ.get("SEQGEN_DEBUG"):
            traceback.print_exception(exc)
        err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False,
                          soft_wrap=True)
    raise typer.Exit(exit_code) from None


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


def report_written(paths: list[Path], notes: list[str] | None = None) -> None:
    for i, path in enumerate(paths):
        extra = f" ({notes[i]})" if notes else ""
        err_console.print(f"wrote {path}{extra}", highlight=False)




def prepare_png(path: Path, flag: str, force: bool = True) -> Path:
    """A PNG picture's file, checked before any work: its name ends .png (another suffix would
    hold a PNG under a wrong name) and it can be written (``prepare_output_file``)."""
    if path.suffix.lower() != ".png" and not path.is_dir():  # a folder: its own message
        raise UsageError(f"{flag} {path}: seqgen draws PNG pictures; give a name ending .png")
    return prepare_output_file(path, flag, force)
