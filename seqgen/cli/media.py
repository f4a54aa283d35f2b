"""The commands that show, draw, play and measure what seqgen made: ``show``, ``plot``,
``render``, ``stats``. Registered on the app of ``seqgen.cli``; thin like it."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from seqgen.cli.app import (
    app,
    console,
    err_console,
    prepare_png,
    report_written,
    reports_errors,
)
from seqgen.errors import UsageError
from seqgen.files import prepare_output_file

if TYPE_CHECKING:
    from seqgen.media.music_stats import Comparison, MusicStats
    from seqgen.media.text_stats import TextComparison, TextSetStats


@app.command("show")
@reports_errors
def show_command(
    midi: Annotated[Path, typer.Argument(help="A MIDI file.")],
    png: Annotated[Path | None, typer.Option(help="Also draw the piano roll into this PNG file (needs seqgen\\[plots]).")] = None,
    width: Annotated[int, typer.Option(help="The PNG's width in pixels.")] = 1200,
    height: Annotated[int, typer.Option(help="The PNG's height in pixels.")] = 600,
) -> None:
    """A MIDI file's piano roll and key facts (duration, notes, pitch range, tempo).

    A file of several tracks (a melody and its voices) is coloured by track, in the terminal
    and in the PNG alike; one of a single track by velocity.
    """
    if png is not None:
        from seqgen.media.plots import check_picture

        check_midi_file(midi)
        check_picture(width, height)
        prepare_png(png, "--png")
    show_midi(midi)
    if png is not None:
        from seqgen.media.pianoroll import roll_notes
        from seqgen.media.plots import piano_roll_png

        piano_roll_png(roll_notes(midi), png, width, height, title=midi.name)
        report_written([png], [f"{width}x{height}"])


def check_midi_file(path: Path) -> None:
    """``path`` is a file (a folder, or nothing there, is a usage error saying what to
    give)."""
    if path.is_dir():
        from seqgen.data.declaration import find_files

        found = find_files(path, (".mid", ".midi"))
        example = f" (such as {found[0]})" if found else ""
        raise UsageError(f"{path} is a folder: give a .mid file in it{example}")
    if not path.is_file():
        raise UsageError(f"{path} not found: give a .mid file")


def show_midi(path: Path) -> None:
    """Print a MIDI file's facts and piano roll, or a one-line error for a file that is not
    usable MIDI."""
    from seqgen.data.codecs.base import CodecFileError
    from seqgen.media.pianoroll import midi_view

    check_midi_file(path)
    try:
        view = midi_view(path)
    except CodecFileError as exc:
        raise UsageError(f"cannot show {path}: {exc}") from None
    console.print(f"[bold]{path}[/]", highlight=False)
    console.print(view)


@app.command("plot")
@reports_errors
def plot_command(
    runs: Annotated[list[Path], typer.Argument(help="Training run folders (or their metrics.jsonl).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The PNG file to write.")] = Path("curves.png"),
    width: Annotated[int, typer.Option(help="Width in pixels.")] = 1200,
    height: Annotated[int, typer.Option(help="Height in pixels.")] = 500,
    per_char: Annotated[bool, typer.Option("--per-char", help="Bits per character of the text against characters: a scale runs of different text codecs (char, bpe, words) share.")] = False,
) -> None:
    """Loss curves of training runs against steps and tokens, on one chart (PNG)."""
    from seqgen.media.plots import check_picture, curves_png

    check_picture(width, height)
    prepare_png(out, "--out")
    curves_png(runs, out, width, height, per_char)
    report_written([out], [f"{len(runs)} run{'s' if len(runs) > 1 else ''}"])


@app.command("render")
@reports_errors
def render_command(
    midi: Annotated[Path, typer.Argument(help="A MIDI file.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="The WAV file \\[default: the MIDI file's name with .wav]")] = None,
    soundfont: Annotated[Path | None, typer.Option(help="A General MIDI SoundFont (.sf2) \\[default: $SOUNDFONT, else the system's]")] = None,
    sample_rate: Annotated[int, typer.Option(help="Samples per second.")] = 44100,
) -> None:
    """Render a MIDI file to audio (WAV) through FluidSynth."""
    check_midi_file(midi)
    prepare_output_file(out or midi.with_suffix(".wav"), "--out")
    render_file(midi, out or midi.with_suffix(".wav"), soundfont, sample_rate)


def render_file(midi: Path, wav: Path, soundfont: Path | None = None,
                sample_rate: int = 44100) -> None:
    from seqgen.data.codecs.base import CodecFileError
    from seqgen.media.audio import render

    check_midi_file(midi)
    try:
        seconds = render(midi, wav, soundfont, sample_rate)
    except CodecFileError as exc:
        raise UsageError(f"cannot render {midi}: {exc}") from None
    report_written([wav], [f"{seconds:.1f} s of audio"])


@app.command("stats")
@reports_errors
def stats_command(
    path: Annotated[Path, typer.Argument(help="MIDI files (a folder or a file), or text samples (a .txt file: blocks between blank lines, or lines for a corpus of lines; a folder: one sample per .txt file).")],
    against: Annotated[Path | None, typer.Option(help="A corpus to compare with: the overlap area and KL divergence of each music feature (Yang and Lerch 2018), or text n-gram overlap, known words and copies.")] = None,
    melody_track: Annotated[str | None, typer.Option("--melody-track", metavar="NAME|INDEX", help="MIDI: the track that holds the melody, by name or by index from 0, in both sets; the other tracks are the voices of the harmony features \\[default: the first track named S, Soprano or Melody, else the first with notes]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Statistics of generated music or text, alone or against a corpus."""
    if not path.exists():
        raise UsageError(f"{path} not found: give MIDI files or text samples")
    if is_music(path):
        report = music_report(path, against, melody_track)
    elif melody_track is not None:
        raise UsageError("--melody-track is for MIDI files: leave it out for text")
    else:
        report = text_report(path, against)
    if as_json:
        sys.stdout.write(json.dumps(report["json"], indent=2) + "\n")
    else:
        for table in report["tables"]:
            console.print(table)


def is_music(path: Path) -> bool:
    from seqgen.data.declaration import find_files

    suffixes = (".mid", ".midi")
    return path.suffix.lower() in suffixes if path.is_file() else bool(find_files(path,
                                                                                  suffixes))


def music_report(path: Path, against: Path | None, melody_track: str | None = None) -> dict:
    from seqgen.data.controls import CONTROLS
    from seqgen.files import json_value
    from seqgen.media.music_stats import compare_music, control_overlap

    stats = read_music(path, melody_track)
    if against is None:
        return {"json": {"set": str(path), "stats": stats.to_json()},
                "tables": [music_table(stats, path), controls_table([(path, stats)])]}
    if not is_music(against):
        raise UsageError(f"{against} holds no MIDI files: compare MIDI with a MIDI corpus")
    reference = read_music(against, melody_track)
    comparisons = compare_music(stats, reference)
    return {"json": {"set": str(path), "against": str(against), "stats": stats.to_json(),
                     "against_stats": reference.to_json(),
                     "comparison": [c.to_json() for c in comparisons],
                     "control_overlap": {name: json_value(control_overlap(name, stats, reference))
                                         for name in CONTROLS}},
            "tables": [comparison_table(comparisons, path, against, stats, reference),
                       controls_table([(path, stats), (against, reference)])]}


def read_music(path: Path, melody_track: str | None = None) -> MusicStats:
    from seqgen.media.music_stats import music_stats

    stats = music_stats(path, melody_track=melody_track)
    if stats.skipped:
        err_console.print(f"[yellow]warning:[/] {path}: {len(stats.skipped)} file(s) skipped "
                          "(not usable MIDI)", highlight=False)
    return stats


def music_table(stats: MusicStats, path: Path) -> Table:
    from seqgen.media.music_stats import FEATURES

    table = Table(title=f"{path}: {stats.pieces} pieces")
    for column in ("feature", "mean", "std", "what"):
        table.add_column(column, justify="left" if column in ("feature", "what") else "right")
    for name in stats.features():
        table.add_row(name, shown(stats.mean(name)), shown(stats.std(name)), FEATURES[name])
    return table


def controls_table(sets: list[tuple[Path, MusicStats]]) -> Table:
    """Each music control's distribution over each set's pieces (each piece measured whole):
    mean ± std in its unit, a key as the commonest keys and their shares; of two sets, how
    well the first's distribution stands for the second's (``control_overlap``)."""
    from seqgen.data.controls import CONTROLS
    from seqgen.media.music_stats import control_overlap

    table = Table(title="music controls, each piece measured whole")
    table.add_column("control")
    for path, stats in sets:
        pieces = f"{stats.pieces} piece{'s' if stats.pieces != 1 else ''}"
        table.add_column(f"{path} ({pieces})" if len(sets) > 1 else f"over {pieces}")
    if len(sets) == 2:
        table.add_column("OA", justify="right")
        table.caption = ("OA: of a control of numbers, the overlap area of the first set's "
                         "intra-set distances against the inter-set ones, as for the features; "
                         "of the key, the overlap of the two sets' shares of each key")
    table.add_column("what")
    for name, control in CONTROLS.items():
        what = "the commonest, with their shares" if control.classes else \
            f"mean ± std, {control.unit}"
        overlap = [shown(control_overlap(name, sets[0][1], sets[1][1]), ".3f")] \
            if len(sets) == 2 else []
        table.add_row(name, *(control_shown(stats, name) for _, stats in sets), *overlap, what)
    return table


def control_shown(stats: MusicStats, name: str) -> str:
    """A control's distribution over a set, in a cell: ``7.1 ± 1.2 notes/s``, ``G-major 25%,
    C-major 20%, ...``, ``60.2 ± 1.3 (C4)``; "-" where no piece has it."""
    from seqgen.data.controls import CONTROLS

    summary, control = stats.control(name), CONTROLS[name]
    if not summary["pieces"]:
        return "-"
    if control.classes:
        return ", ".join(f"{c['value']} {c['share']:.0%}" for c in summary["commonest"])
    mean = control.show(summary["mean"])
    number = f"{summary['mean']:.{control.digits}f}"
    return mean.replace(number, f"{number} ± {summary['std']:.{control.digits}f}", 1)


def comparison_table(comparisons: list[Comparison], path: Path, against: Path,
                     stats: MusicStats, reference: MusicStats) -> Table:
    table = Table(title=f"{path} ({stats.pieces} pieces) against {against} "
                        f"({reference.pieces} pieces)",
                  caption="OA: overlap area (1 = the sets' distances agree), KL: divergence "
                          "(0 = agree) of each set's intra-set distances against the "
                          "inter-set distances (Yang and Lerch 2018)")
    for column in ("feature", "mean ± std", "corpus mean ± std", "OA", "KL", "corpus OA",
                   "corpus KL"):
        table.add_column(column, justify="left" if column == "feature" else "right")
    for c in comparisons:
        table.add_row(c.feature, f"{shown(c.mean_a)} ± {shown(c.std_a)}",
                      f"{shown(c.mean_b)} ± {shown(c.std_b)}",
                      *(shown(value, ".3f") for value in (c.overlap_a, c.kl_a, c.overlap_b,
                                                          c.kl_b)))
    table.caption += "".join(unmeasured_lines(comparisons))
    return table


def unmeasured_lines(comparisons: list[Comparison]) -> list[str]:
    """Why OA and KL are "-": a caption line for each set and reason, naming the features."""
    features: dict[tuple[str, str], list[str]] = {}
    for c in comparisons:
        for which, why in (("the samples'", c.unmeasured_a), ("the corpus's", c.unmeasured_b)):
            if why:
                features.setdefault((which, why), []).append(c.feature)
    return [f"\n{which} OA and KL are - for {', '.join(names)}: {why}"
            for (which, why), names in features.items()]


def shown(value: float | list[float], spec: str = ".3g") -> str:
    """A figure for a table ("-" for NaN): a pitch-class histogram as its three commonest
    classes."""
    from seqgen.data.notes import NOTE_NAMES

    if isinstance(value, list):
        if any(math.isnan(v) for v in value):
            return "-"
        top = sorted(range(len(value)), key=value.__getitem__, reverse=True)[:3]
        return " ".join(f"{NOTE_NAMES[i]} {value[i]:.2f}" for i in top)
    return "-" if math.isnan(value) else f"{value:{spec}}"


def text_report(path: Path, against: Path | None) -> dict:
    from seqgen.media.text_stats import (
        read_text_corpus,
        read_text_samples,
        text_set_stats,
        text_stats,
    )

    if against is None:
        samples = read_text_samples(path)
        stats = text_set_stats(samples)
        return {"json": {"set": str(path), "stats": stats.to_json()},
                "tables": [text_set_table(stats, path)]}
    if not against.exists():
        raise UsageError(f"{against} not found: give the text corpus the samples came from")
    corpus_text, items = read_text_corpus(against)
    samples = read_text_samples(path, items=items is not None)
    comparison = text_stats(samples, corpus_text, items)
    return {"json": {"set": str(path), "against": str(against), **comparison.to_json()},
            "tables": [text_comparison_table(comparison, path, against)]}


def text_set_table(stats: TextSetStats, path: Path) -> Table:
    table = Table(title=f"text samples {path}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("samples", f"{stats.samples:,}")
    table.add_row("mean length", f"{stats.mean_length:,.1f} characters")
    table.add_row("distinct characters", f"{stats.distinct_characters}")
    table.add_row("words", f"{stats.words:,}")
    table.add_row("type/token ratio", "- (no words)" if math.isnan(stats.type_token_ratio)
                  else f"{stats.type_token_ratio:.3f}")
    return table


def share_shown(share: float, lacking: str) -> str:
    """A share in percent, or "-" with why there is none: what the samples lack."""
    return f"- (no sample has {lacking})" if math.isnan(share) else f"{share:.1%}"


def text_comparison_table(c: TextComparison, path: Path, against: Path) -> Table:
    table = text_set_table(c.samples, path)
    table.title = f"text samples {path} against {against}"
    for n, share in c.char_overlap.items():
        table.add_row(f"character {n}-grams found in the corpus",
                      share_shown(share, f"{n} characters"))
    for n, share in c.word_overlap.items():
        what = "words found in the corpus" if n == 1 else f"word {n}-grams found in the corpus"
        table.add_row(what, share_shown(share, "a word" if n == 1 else f"{n} words in a row"))
    unknown = ", ".join(c.unknown_words[:8]) + (" ..." if len(c.unknown_words) > 8 else "")
    table.add_row("words not in the corpus",
                  f"{len(c.unknown_words):,}: {unknown}" if unknown else "0")
    table.add_row("samples found verbatim in the corpus", f"{c.copies} of {c.samples.samples}")
    if c.item_copies is not None:
        table.add_row("samples equal to a corpus item", f"{c.item_copies} of "
                                                        f"{c.samples.samples}")
    return table
