"""The ``seqgen`` command line: parse arguments, call the library, print the results.

Each command module adds its commands to the one Typer app (``seqgen.cli.app``); plugins add
theirs last. Everything a command does is a library call a notebook can make too.
"""

import warnings

from seqgen.cli.app import app, show_warning
from seqgen.plugins import add_commands
from seqgen.signals import stop_on_signals

# isort: off
# Each module adds its commands to the app, in the order --help lists them.
from seqgen.cli import train, sample, classify, plugins, media  # noqa: E402, F401
# isort: on

add_commands(app)


def main() -> None:
    warnings.showwarning = show_warning
    stop_on_signals()
    app()
