"""The Typer app of the ``seqgen`` command line, its consoles, and how errors and written files are
reported. The command modules (``train``, ``sample``, ``plugins``, ``media``) add their commands
to it; it imports none of them."""

from __future__ import annotations

import functools
import os
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from seqgen import __version__
from seqgen.config import TrainConfig
from seqgen.errors import SeqgenError
from seqgen.plugins import failed_plugin

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
        except SeqgenError as exc:
            report_error(exc, str(exc), exc.exit_code)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM or SIGUSR1 (signals.Stopped)
            report_error(exc, str(exc) or "interrupted", getattr(exc, "exit_code", 130))
        except OSError as exc:  # the file system said no: a name too long, a disk full...
            where = f" ({exc.filename})" if exc.filename else ""
            report_error(exc, f"{exc.strerror or exc}{where}", 1)
        except Exception as exc:
            plugin = failed_plugin(exc)
            if plugin is None:
                raise
            report_error(exc, f"the plugin {plugin} failed: {type(exc).__name__}: {exc} (a bug "
                         "to report to its authors; SEQGEN_DEBUG=1 shows where)", 1)

    return wrapper


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


