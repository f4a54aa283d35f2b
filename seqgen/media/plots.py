"""PNG pictures: a piano roll of notes, training curves of runs, and attention weights.

matplotlib is optional (``pip install 'seqgen[plots]'``): it is imported when a picture is
drawn, and only its Agg canvas is used, never a display or pyplot's global state.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from seqgen.data.notes import Note, note_name
from seqgen.errors import UsageError
from seqgen.files import atomic_write, read_json, read_json_lines

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100
NO_MATPLOTLIB = "drawing PNG files needs matplotlib: pip install 'seqgen[plots]'"
MIN_SIDE_PX = 200  # smaller, the axes and their labels do not fit
MAX_SIDE_PX = 16_000  # larger, a picture takes gigabytes to draw


def check_picture(width_px: int, height_px: int) -> None:
    """A picture of this size can be drawn (matplotlib is there, the size is sensible): what
    a command checks before any work."""
    if not MIN_SIDE_PX <= min(width_px, height_px) <= max(width_px, height_px) <= MAX_SIDE_PX:
        raise UsageError(f"a picture must be {MIN_SIDE_PX} to {MAX_SIDE_PX:,} pixels wide and "
                         f"high, not {width_px}x{height_px}")
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError:
        raise UsageError(NO_MATPLOTLIB) from None


def new_figure(width_px: int, height_px: int) -> "Figure":
    """A matplotlib figure of exactly this many pixels, on an Agg canvas."""
    check_picture(width_px, height_px)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: "Figure", path: str | Path) -> Path:
    """Write the figure as a PNG, atomically."""
    with atomic_write(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)
    return Path(path)


# ---- piano roll ------------------------------------------------------------------------------


Track = tuple[str, Sequence[Note]]  # a track's name and its notes


def piano_roll_png(notes: Sequence[Note] | Sequence[Track], path: str | Path,
                   width_px: int = 1200, height_px: int = 600, title: str | None = None) -> Path:
    """Draw ``notes`` (at least one) as a piano roll: a bar per note, pitch names up the side,
    seconds across; write it to ``path`` as a PNG of exactly ``width_px`` x ``height_px``
    pixels. Notes are coloured by velocity; named tracks (``(name, notes)`` pairs: a melody
    and its voices) are coloured by track, in the colours ``seqgen show`` gives them in the
    terminal (``seqgen.media.pianoroll.track_colour``), with a legend naming them."""
    return piano_rolls_png([(title, notes)], path, width_px, height_px)


def piano_rolls_png(rolls: Sequence[tuple[str | None, Sequence[Note] | Sequence[Track]]],
                    path: str | Path, width_px: int = 1200, height_px: int = 600) -> Path:
    """Piano rolls one above the other on one time axis, each ``(title, notes)`` drawn as
    ``piano_roll_png`` draws one; written to ``path`` as a PNG of ``width_px`` x
    ``height_px``."""
    figure = new_figure(width_px, height_px)
    axes = figure.subplots(len(rolls), 1, sharex=True, squeeze=False)[:, 0]
    end = max(draw_roll(figure, ax, notes, title) for ax, (title, notes) in
              zip(axes, rolls, strict=True))
    axes[0].set_xlim(0, max(end, 1e-3))  # every roll's: they share the axis
    return save_png(figure, path)


def draw_roll(figure, ax, notes: Sequence[Note] | Sequence[Track], title: str | None) -> float:
    """One piano roll on ``ax``: notes coloured by velocity, or tracks by track; returns
    when its last note ends."""
    tracks = [(name, list(track)) for name, track in notes] if notes and not isinstance(
        notes[0], Note) else None
    everything = [n for _, track in tracks for n in track] if tracks is not None else notes
    if not everything:
        raise ValueError("no notes")
    from matplotlib.collections import PolyCollection

    table = np.array([(n.pitch, n.start, n.end, n.velocity) for n in everything], dtype=float)
    pitches, starts, ends, velocities = table.T
    if tracks is None:
        from matplotlib import colormaps
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        colours = ScalarMappable(Normalize(1, 127), colormaps["viridis"])
        ax.add_collection(PolyCollection(note_boxes(pitches, starts, ends), linewidths=0,
                                         facecolors=colours.to_rgba(velocities)))
        figure.colorbar(colours, ax=ax, label="velocity", pad=0.01)
    else:
        draw_tracks(ax, tracks)
    low, high = int(pitches.min()), int(pitches.max())
    ticks = [p for p in range(low, high + 1) if p % 12 == 0] or [low, high]
    ax.set_yticks(ticks, [note_name(p) for p in ticks])
    ax.set_ylim(low - 1, high + 1)
    ax.grid(axis="y", alpha=0.3)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("pitch")
    if title:
        ax.set_title(title)
    return float(ends.max())


def draw_tracks(ax, tracks: Sequence[Track]) -> None:
    """Each track's notes in its colour (the terminal's), and a legend beside the roll."""
    from matplotlib.collections import PolyCollection

    from seqgen.media.pianoroll import track_colour

    for index, (name, notes) in enumerate(tracks):
        pitches, starts, ends = np.array([(n.pitch, n.start, n.end) for n in notes],
                                         dtype=float).reshape(-1, 3).T
        ax.add_collection(PolyCollection(note_boxes(pitches, starts, ends), linewidths=0,
                                         facecolors=[rgb(track_colour(index))], label=name))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)


def rgb(colour: str) -> tuple[float, float, float]:
    """A colour of the terminal's (a rich colour name) for matplotlib."""
    from rich.color import Color

    return tuple(c / 255 for c in Color.parse(colour).get_truecolor())


def note_boxes(pitches: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(note, corner, xy): a rectangle 0.8 high around each pitch from start to end (at least
    a millisecond wide): one collection draws thousands of notes fast."""
    ends = np.maximum(ends, starts + 1e-3)
    low, high = pitches - 0.4, pitches + 0.4
    return np.stack([np.stack([starts, low], 1), np.stack([ends, low], 1),
                     np.stack([ends, high], 1), np.stack([starts, high], 1)], 1)


# ---- attention -------------------------------------------------------------------------------

MAX_LABELS = 80  # more tokens than this along an axis, and only some are labelled


def attention_png(weights: np.ndarray, source: Sequence[str], output: Sequence[str],
                  path: str | Path) -> Path:
    """Draw attention ``weights`` [output steps, source positions] as a grid: input positions
    across, output steps down, each labelled with its token; a PNG sized to the tokens."""
    steps, positions = weights.shape
    cell = 20 if max(steps, positions) <= MAX_LABELS else 4
    figure = new_figure(min(MAX_SIDE_PX, max(MIN_SIDE_PX, 160 + cell * positions)),
                        min(MAX_SIDE_PX, max(MIN_SIDE_PX, 120 + cell * steps)))
    ax = figure.add_subplot()
    image = ax.imshow(weights, cmap="viridis", vmin=0, vmax=1, aspect="auto",
                      interpolation="nearest")
    for axis, labels, rotation in ((ax.xaxis, source, 90), (ax.yaxis, output, 0)):
        every = max(1, -(-len(labels) // MAX_LABELS))
        axis.set_ticks(range(0, len(labels), every), list(labels)[::every], rotation=rotation,
                       fontsize=8)
    ax.xaxis.tick_top()
    ax.set_xlabel("input")
    ax.xaxis.set_label_position("top")
    ax.set_ylabel("output")
    figure.colorbar(image, ax=ax, label="attention", pad=0.01)
    return save_png(figure, path)


def confusion_png(counts: np.ndarray, labels: Sequence[str], path: str | Path) -> Path:
    """Draw a confusion matrix ``counts`` [true label, predicted label] as a grid, each row
    shaded by the share of that label's items given each label, with the counts written in."""
    size = len(labels)
    cell = 36 if size <= 20 else 12
    side = min(MAX_SIDE_PX, max(MIN_SIDE_PX, 200 + cell * size))
    figure = new_figure(side + 120, side)
    ax = figure.add_subplot()
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    every = max(1, -(-size // MAX_LABELS))
    ax.set_xticks(range(0, size, every), list(labels)[::every], rotation=90, fontsize=8)
    ax.set_yticks(range(0, size, every), list(labels)[::every], fontsize=8)
    if size <= 20:
        for row in range(size):
            for column in range(size):
                ax.text(column, row, str(int(counts[row, column])), ha="center", va="center",
                        fontsize=7, color="white" if shares[row, column] > 0.5 else "black")
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    figure.colorbar(image, ax=ax, label="share of the true label's items", pad=0.01)
    return save_png(figure, path)


# ---- training curves -------------------------------------------------------------------------


@dataclass
class Curves:
    """A run's logged losses; ``*_tokens``: the tokens trained on at each (characters of the
    text, for losses per character), None where unknown."""

    name: str
    train_steps: np.ndarray
    train_loss: np.ndarray
    train_tokens: np.ndarray | None
    val_steps: np.ndarray
    val_loss: np.ndarray
    val_tokens: np.ndarray | None


def metrics_file(run: str | Path) -> Path:
    """A run folder's metrics.jsonl, or the file itself."""
    run = Path(run)
    path = run / "metrics.jsonl" if run.is_dir() else run
    if not path.is_file():
        raise UsageError(f"{run} has no metrics.jsonl: not a training run")
    return path


def read_events(path: Path) -> dict[str, dict[int, dict]]:
    """The train and val events of a metrics.jsonl by step (the last one logged at a step wins,
    as after a resume); a line cut short by a crash is skipped."""
    events: dict[str, dict[int, dict]] = {"train": {}, "val": {}}
    for event in read_json_lines(path):
        if event.get("event") in events and isinstance(event.get("step"), int):
            events[event["event"]][event["step"]] = event
    return events


def recorded_config(run_dir: Path) -> dict:
    """The config.json of the run's best/ (else last/) snapshot; empty if neither has one."""
    for snapshot in ("best", "last"):
        config = run_dir / snapshot / "config.json"
        if config.is_file():
            return read_json(config)
    return {}


def tokens_per_step(run_dir: Path) -> int | None:
    """batch_size * seq_len from the run's training settings; None without them."""
    training = recorded_config(run_dir).get("training", {})
    if "batch_size" in training and "seq_len" in training:
        return training["batch_size"] * training["seq_len"]
    return None


def tokens_trained(train: list[dict], val: list[dict], run_dir: Path,
                   steps: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray | None, ...]:
    """The tokens trained on by each train and val event: as logged (``tokens_trained``);
    for a run logged before they were, steps times batch_size * seq_len (padding counted
    too), or None without the settings."""
    if all("tokens_trained" in e for e in (*train, *val)):
        return logged(train, "tokens_trained"), logged(val, "tokens_trained")
    per_step = tokens_per_step(run_dir)
    return tuple(None if per_step is None else at * per_step for at in steps)


def character_losses(train: list[dict], val: list[dict],
                     path: Path) -> tuple[list[dict], list[dict]]:
    """The events of a character model logged before losses per character were: its loss per
    token is its loss per character (in bits here). Any other run: a usage error."""
    if recorded_config(path.parent).get("codec", {}).get("name") != "char":
        raise UsageError(f"{path} has no losses per character (a model of files, or a run of "
                         "an earlier seqgen): drop --per-char")
    return ([{**e, "bits_per_char": e["loss"] / math.log(2), "chars_per_token": 1.0}
             for e in train],
            [{**e, "val_bits_per_char": e["val_loss"] / math.log(2), "chars_per_token": 1.0}
             for e in val])


def logged(events: list[dict], key: str) -> np.ndarray:
    """The values of ``key`` in ``events`` (a damaged file's error where one lacks it)."""
    return np.array([e[key] for e in events], dtype=float)


def read_curves(run: str | Path, per_char: bool = False) -> Curves:
    """A run's curves from its metrics.jsonl (``run`` is the folder or the file), against the
    tokens trained on (``tokens_trained``). ``per_char``: losses in bits per
    character of the text, against characters (tokens times characters per token)."""
    path = metrics_file(run)
    events = read_events(path)
    if not events["train"] and not events["val"]:
        raise UsageError(f"{path} has no training events yet")
    train = [events["train"][s] for s in sorted(events["train"])]
    val = [events["val"][s] for s in sorted(events["val"])]
    train_steps = np.array([e["step"] for e in train], dtype=float)
    val_steps = np.array([e["step"] for e in val], dtype=float)
    train_tokens, val_tokens = tokens_trained(train, val, path.parent, (train_steps, val_steps))
    if per_char and not (all("bits_per_char" in e for e in train)
                         and all("val_bits_per_char" in e for e in val)):
        train, val = character_losses(train, val, path)
    if per_char and train_tokens is not None:
        train_tokens = train_tokens * logged(train, "chars_per_token")
        val_tokens = val_tokens * logged(val, "chars_per_token")
    train_key, val_key = ("bits_per_char", "val_bits_per_char") if per_char else \
        ("loss", "val_loss")
    return Curves(name=path.parent.resolve().name, train_steps=train_steps,
                  train_loss=logged(train, train_key), train_tokens=train_tokens,
                  val_steps=val_steps, val_loss=logged(val, val_key),
                  val_tokens=val_tokens)


def curves_png(runs: Sequence[str | Path | Curves], path: str | Path, width_px: int = 1200,
               height_px: int = 500, per_char: bool = False) -> Path:
    """Training and validation loss of each run (a folder, its metrics.jsonl or read
    ``Curves``) against steps and against tokens, all runs on one chart; a PNG of exactly
    ``width_px`` x ``height_px`` pixels. ``per_char``: in bits per character, against
    characters of text, a scale runs of any text codecs share."""
    if not runs:
        raise ValueError("no runs")
    curves = [run if isinstance(run, Curves) else read_curves(run, per_char) for run in runs]
    figure = new_figure(width_px, height_px)
    from matplotlib.ticker import EngFormatter

    with_tokens = any(c.train_tokens is not None for c in curves)
    by_step, by_tokens = figure.subplots(1, 2, sharey=True) if with_tokens else (
        figure.subplots(), None)
    several = len(curves) > 1
    for index, run in enumerate(curves):
        colour = f"C{index}"
        prefix = f"{run.name} " if several else ""
        by_step.plot(run.train_steps, run.train_loss, color=colour, alpha=0.6, linewidth=1,
                     label=f"{prefix}train")
        by_step.plot(run.val_steps, run.val_loss, color=colour, marker="o", linestyle="--",
                     label=f"{prefix}validation")
        if by_tokens is not None and run.train_tokens is not None:
            by_tokens.plot(run.train_tokens, run.train_loss, color=colour, alpha=0.6,
                           linewidth=1)
            by_tokens.plot(run.val_tokens, run.val_loss, color=colour, marker="o",
                           linestyle="--")
    by_step.set_xlabel("step")
    by_step.set_ylabel("loss (bits per character)" if per_char else "loss (nats per token)")
    by_step.legend(fontsize="small")
    by_step.grid(alpha=0.3)
    if by_tokens is not None:
        by_tokens.set_xlabel("characters" if per_char else "tokens")
        by_tokens.xaxis.set_major_formatter(EngFormatter())
        by_tokens.grid(alpha=0.3)
    if not several:
        figure.suptitle(curves[0].name)
    return save_png(figure, path)
