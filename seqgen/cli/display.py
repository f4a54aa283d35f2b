"""How training progress looks: a rich progress bar on a terminal, plain log lines otherwise."""

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def format_count(n: float) -> str:
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


class TrainingView:
    """A progress callback for :func:`seqgen.train` that draws what it is told."""

    def __init__(self, console: Console, plain_every: float = 5.0) -> None:
        self.console = console
        self.live = console.is_terminal
        self.plain_every = plain_every
        self.last_plain = 0.0
        self.progress: Progress | None = None
        self.task = None
        self.val = "-"
        self.per = "token"  # what the losses are counted per (the start event says)
        self.budget: float | None = None  # seconds, for a run with a time budget

    def __enter__(self) -> "TrainingView":
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, event: dict) -> None:
        getattr(self, f"on_{event['event']}")(event)

    def on_note(self, e: dict) -> None:
        """A setting seqgen chose for the corpus, and why."""
        self.console.print(f"note: {e['text']}", highlight=False, markup=False)

    def on_start(self, e: dict) -> None:
        self.budget = e["time_budget"]
        length = (f"steps {e['step']} to {e['total_steps']}" if self.budget is None else
                  f"for {self.budget:g} s of training from step {e['step']}")
        threads = f"; {e['threads']}" if "threads" in e else ""
        self.per = e.get("loss_per", "token")
        counted = "items" if self.per == "label" else "tokens"  # a label per item
        self.console.print(
            f"training on [bold]{e['device']}[/] ({e['precision']}{threads}): {e['parameters']:,} "
            f"parameters, {e['train_tokens']:,} training and {e['val_tokens']:,} validation "
            f"{counted}, {length}", highlight=False)
        if self.live:
            count = MofNCompleteColumn() if self.budget is None else \
                TextColumn("{task.fields[step]}")
            self.progress = Progress(
                TextColumn("step"), count, BarColumn(),
                TextColumn("loss {task.fields[loss]}  val {task.fields[val]}  "
                           "{task.fields[speed]} tok/s"),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                console=self.console,
            )
            total, done = (e["total_steps"], e["step"]) if self.budget is None else \
                (self.budget, e["elapsed"])
            self.task = self.progress.add_task("train", total=total, completed=done,
                                               step=e["step"], loss="-", val="-", speed="-")
            self.progress.start()

    def on_train(self, e: dict) -> None:
        speed = format_count(e["tokens_per_s"])
        if self.progress is not None:
            done = e["step"] if self.budget is None else e["elapsed"]
            self.progress.update(self.task, completed=done, step=e["step"],
                                 loss=f"{e['loss']:.3f}", speed=speed)
        elif time.monotonic() - self.last_plain >= self.plain_every:
            self.last_plain = time.monotonic()
            self.console.print(f"step {e['step']}  loss {e['loss']:.3f}  val {self.val}  "
                               f"lr {e['lr']:.2e}  {speed} tok/s", highlight=False)

    def on_val(self, e: dict) -> None:
        self.val = f"{e['val_loss']:.3f}"
        best = " (best)" if e["val_loss"] <= e["best_val_loss"] else ""
        if self.progress is not None:
            self.progress.update(self.task, val=self.val)
        per_char = f", {e['val_bits_per_char']:.4f} bits/char" if "val_bits_per_char" in e else ""
        self.console.print(f"step {e['step']}  validation loss {e['val_loss']:.4f} nats/{self.per}"
                           f"{per_char}{best}", highlight=False)

    def on_rules(self, e: dict) -> None:
        """The network's and the codec's rules' weights, fitted to the best snapshot once
        training ended."""
        weights = ", ".join(f"{rule} {weight:+.2f}" for rule, weight in e["weights"].items())
        network = e["network_weight"]
        before, after = e["val_loss"]
        self.console.print(f"rule weights, fitted on {e['pairs']:,} training pairs in "
                           f"{e['seconds']:.0f} s: network x{network:.3f} (as temperature "
                           f"{1 / network:.3f}), {weights} (validation loss {before:.4f} -> "
                           f"{after:.4f} nats/token with them)", highlight=False)


class FileProgressView:
    """A progress callback ``(done, total, unit)`` for reading a corpus (its files, or the
    bytes of a text being encoded): a bar on a terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.task = None

    def __enter__(self) -> "FileProgressView":
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, done: int, total: int, unit: str = "files") -> None:
        if not self.console.is_terminal:
            return
        if self.progress is None:
            what, count = (("encoding text", DownloadColumn()) if unit == "bytes"
                           else (f"reading {unit}", MofNCompleteColumn()))
            self.progress = Progress(TextColumn(what), BarColumn(), count, TimeElapsedColumn(),
                                     console=self.console, transient=True)
            self.task = self.progress.add_task("files", total=total)
            self.progress.start()
        self.progress.update(self.task, completed=done)


class WorkProgressView:
    """A progress callback ``(done, total, what)`` for long work counted in steps (decoding
    an evaluation's pairs): a bar for each ``what`` on a terminal, gone when done; nothing
    otherwise."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.tasks: dict[str, int] = {}  # the bar of each kind of work

    def __enter__(self) -> "WorkProgressView":
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, done: int, total: int, what: str) -> None:
        if not self.console.is_terminal:
            return
        if self.progress is None:
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(),
                                     TextColumn("eta"), TimeRemainingColumn(),
                                     console=self.console, transient=True)
            self.progress.start()
        if what not in self.tasks:
            self.tasks[what] = self.progress.add_task(what, total=total)
        self.progress.update(self.tasks[what], completed=done)
