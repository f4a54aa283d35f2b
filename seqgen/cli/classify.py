"""seqgen classify: the likeliest labels of items, from a classifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from seqgen.cli.app import app, reports_errors
from seqgen.config import at_least
from seqgen.errors import UsageError


@app.command("classify")
@reports_errors
def classify_command(
    checkpoint: Annotated[Path, typer.Argument(help="A classifier's run or snapshot folder (trained with --arch many-to-one).")],
    inputs: Annotated[list[str], typer.Argument(help="What to classify: @FILE (a text file: one input per line; a MIDI or other codec file: one input), @FOLDER (every file the codec reads, one input each), or text (one input).")],
    top_k: Annotated[int, typer.Option(help="Labels per input, likeliest first.")] = 1,
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per input: its name and its labels with their probabilities.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads to compute with. \\[default: OMP_NUM_THREADS where set, else one per core, fewer while other processes keep the cores busy]")] = None,
) -> None:
    """Label each input: one line per input and label, INPUT<TAB>LABEL<TAB>PROBABILITY."""
    from seqgen.tasks.many_to_one import check_classifier, label_probabilities
    from seqgen.threads import configure as configure_threads
    from seqgen.training.checkpoint import load_checkpoint
    from seqgen.training.devices import evaluation_precision, resolve_device

    at_least(1, top_k=top_k)
    configure_threads(threads)
    dev = resolve_device(device)
    ckpt = load_checkpoint(checkpoint, dev)
    check_classifier(ckpt, "seqgen classify")
    read = [item for argument in inputs for item in ckpt.codec.read_inputs(argument, "INPUT")]
    empty = [name for name, tokens in read if not tokens.numel()]
    if empty:
        raise UsageError(f"the input {empty[0]!r} is empty once encoded: give an item with "
                         "tokens the classifier knows")
    precision = evaluation_precision(ckpt.training_config().precision, dev)
    probabilities = label_probabilities(ckpt, [tokens for _, tokens in read], precision)
    k = min(top_k, len(ckpt.label_names))
    best, labels = probabilities.topk(k, dim=-1)
    for (name, _), shares, ids in zip(read, best.tolist(), labels.tolist(), strict=True):
        found = [(ckpt.label_names[i], share) for i, share in zip(ids, shares, strict=True)]
        if json_lines:
            print(json.dumps({"input": name, "labels": [{"label": label, "probability": share}
                                                        for label, share in found]},
                             ensure_ascii=False))
        else:
            for label, share in found:
                print(f"{one_line(name)}\t{label}\t{share:.4f}")


def one_line(name: str) -> str:
    """An input's name on one line of tab-separated output."""
    return name.replace("\t", " ").replace("\n", " ")
