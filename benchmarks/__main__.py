"""``python -m benchmarks [all|SUITE] [--quick] [--json] [--json-out FILE]`` (suites: ``SUITES``).

Prints one table: seqgen's figure, the reference measured beside it in the same process,
the ratio, the target, and whether it was reached. ``--quick`` is the smoke size: tiny models,
one repetition, a few steps and megabytes, budgets of a fraction of a second, so every row
runs in seconds (the tests run each suite so; its figures mean nothing); the full run is what
docs/performance.md reports. ``all`` runs every suite but codec-quality (quality runs it) and
gpu (the GPU check, benchmarks/gpu.py). Run it alone: on 2 cores one other busy process cuts
throughput several times.
"""

import argparse
import json
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from benchmarks import (
    classifier,
    codecs,
    composers,
    controls,
    gpu,
    load,
    music_codecs,
    quality,
    seq2seq,
    suite,
)
from benchmarks.common import Row

SUITES = {"training": suite.training_rows, "precision": suite.precision_rows,
          "sampling": suite.sampling_rows, "encoding": suite.encoding_rows,
          "memory": suite.memory_rows, "scaling": suite.scaling_rows,
          "startup": suite.startup_rows, "load": load.load_rows,
          "seq2seq": seq2seq.seq2seq_rows,
          "codecs": codecs.codec_rows, "classifier": classifier.classifier_rows,
          "composers": composers.composers_rows,
          "music-codecs": music_codecs.music_codec_rows, "controls": controls.controls_rows,
          "quality": quality.quality_rows,
          "codec-quality": quality.codec_quality_rows, "gpu": gpu.gpu_rows}
BY_NAME = {"codec-quality": "run within quality", "gpu": "needs a CUDA GPU"}  # not in all
JSON_OUT = {"gpu": Path("gpu-results.json")}  # where a suite's rows also go by default


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", choices=["all", *SUITES], nargs="?", default="all")
    parser.add_argument("--quick", action="store_true",
                        help="the smoke size: every row in seconds, figures meaningless")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead")
    parser.add_argument("--json-out", type=Path, metavar="FILE",
                        help="also write the rows as JSON to FILE (gpu: gpu-results.json)")
    args = parser.parse_args(argv)
    names = [name for name in SUITES if name not in BY_NAME] if args.suite == "all" \
        else [args.suite]
    rows = [row for name in names for row in SUITES[name](args.quick)]
    dumped = json.dumps([row.as_dict() for row in rows], indent=2)
    if args.json:
        print(dumped)
    if not rows:  # the suite said why it measured nothing
        return
    json_out = args.json_out or JSON_OUT.get(args.suite)
    if json_out:
        json_out.write_text(dumped + "\n", encoding="utf-8")
    if not args.json:
        Console().print(table(rows, args.quick))


def table(rows: list[Row], quick: bool) -> Table:
    where = f"{torch.get_num_threads()} threads"
    if torch.cuda.is_available():
        where += f", {torch.cuda.get_device_name()}"
    result = Table(title=f"seqgen benchmarks ({'quick' if quick else 'full'}, {where})")
    for column in ("what", "seqgen", "reference", "unit", "ratio", "target", "result"):
        result.add_column(column, justify="left" if column == "what" else "right")
    for row in rows:
        result.add_row(row.name, f"{row.seqgen:,.4g}", f"{row.reference:,.4g}", row.unit,
                       f"{row.ratio:.3f}", row.target,
                       "[green]pass[/]" if row.passed else "[red]falls short[/]")
    return result


if __name__ == "__main__":
    main()
