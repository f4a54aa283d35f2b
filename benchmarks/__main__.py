"""``python -m benchmarks [all|SUITE] [--quick] [--json]`` (suites: ``SUITES`` below).

Prints one table: seqgen's figure, the reference measured beside it in the same process,
the ratio, the target, and whether it was reached. ``--quick`` runs small sizes in seconds
(what CI runs, so the scripts cannot rot); the full run is what docs/performance.md reports.
Run it alone: on 2 cores one other busy process cuts throughput several times.
"""

import argparse
import json

import torch
from rich.console import Console
from rich.table import Table

from benchmarks import suite
from benchmarks.quality import codec_quality_rows, quality_rows

SUITES = {**suite.SUITES, "quality": quality_rows, "codec-quality": codec_quality_rows}
PARTS = {"codec-quality"}  # run within another suite (quality), and alone by name


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("suite", choices=["all", *SUITES], nargs="?", default="all")
    parser.add_argument("--quick", action="store_true", help="small sizes, seconds not minutes")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead")
    args = parser.parse_args()
    names = [name for name in SUITES if name not in PARTS] if args.suite == "all" \
        else [args.suite]
    rows = [row for name in names for row in SUITES[name](args.quick)]
    if args.json:
        print(json.dumps([row.as_dict() for row in rows], indent=2))
        return
    table = Table(title=f"seqgen benchmarks ({'quick' if args.quick else 'full'}, "
                        f"{torch.get_num_threads()} threads)")
    for column in ("what", "seqgen", "reference", "unit", "ratio", "target", "result"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for row in rows:
        table.add_row(row.name, f"{row.seqgen:,.4g}", f"{row.reference:,.4g}", row.unit,
                      f"{row.ratio:.3f}", row.target,
                      "[green]pass[/]" if row.passed else "[red]falls short[/]")
    Console().print(table)


if __name__ == "__main__":
    main()
