"""The commands that list what plugins provide: ``cells`` and ``plugins``."""

from typing import Annotated

import typer
from rich.table import Table

from seqgen.cli.app import app, console, reports_errors
from seqgen.plugins import plugin_infos


@app.command("cells")
@reports_errors
def cells_command() -> None:
    """List the recurrent cells that plugins provide."""
    table = Table(title="recurrent cells")
    for column in ("name", "plugin", "description", "options (--cell-opt)"):
        table.add_column(column)
    from seqgen.nn.cells import cells

    for spec in cells().values():
        options = ", ".join(f"{k}={v}" for k, v in spec.options.items()) or "-"
        table.add_row(spec.name, f"{spec.distribution} {spec.version}", spec.description, options)
    console.print(table)


@app.command("plugins")
@reports_errors
def plugins_command(
    all: Annotated[bool, typer.Option("--all", help="Include the built-in plugins.")] = False,
) -> None:
    """List the installed plugins: version, hooks, and the cells, codecs and tasks (--arch)
    each provides."""
    from seqgen.data.codecs.base import codecs
    from seqgen.nn.cells import cells
    from seqgen.task import tasks

    infos = [i for i in plugin_infos(cells(), codecs(), tasks()) if all or not i.builtin]
    if not infos:
        console.print("no plugins installed (--all shows the built-ins)", highlight=False)
        return
    table = Table(title="plugins")
    for column in ("plugin", "distribution", "hooks", "cells", "codecs", "tasks", "status"):
        table.add_column(column)
    for info in infos:
        table.add_row(info.name, f"{info.distribution} {info.version}",
                      ", ".join(info.hooks) or "-", ", ".join(info.cells) or "-",
                      ", ".join(info.codecs) or "-", ", ".join(info.tasks) or "-",
                      "[red]broken[/]" if info.error else "ok")
    console.print(table)
    for info in infos:
        if info.error:  # a line of its own: an error does not fit a column
            console.print(f"[red]{info.name}[/]: broken: {info.error}", highlight=False)


