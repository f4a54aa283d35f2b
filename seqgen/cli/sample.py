"""The ``sample`` command: text to the terminal or files, pieces to files (MIDI shown and
rendered)."""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.rule import Rule

from seqgen.cli.app import (
    app,
    console,
    err_console,
    prepare_png,
    report_written,
    reports_errors,
)
from seqgen.config import DEFAULT_GUIDANCE, at_least, at_most
from seqgen.errors import UsageError

if TYPE_CHECKING:  # the library imports torch: commands import it when they run, not --help
    from torch import Tensor

    from seqgen.data.codecs.base import Codec, FileCodec
    from seqgen.nn.constraints import RuleWeights
    from seqgen.nn.sampling import SamplingOptions
    from seqgen.nn.steering import Steering
    from seqgen.training.checkpoint import Checkpoint


@app.command("sample")
@reports_errors
def sample_command(
    checkpoint: Annotated[Path, typer.Argument(help="A run folder (its best snapshot) or a snapshot folder.")],
    primer: Annotated[str, typer.Option(help="Text to continue, or @FILE: a text file, or a .mid file for a MIDI model.")] = "",
    length: Annotated[str | None, typer.Option(help="Tokens to generate (of the model's codec), or for MIDI a duration (30s). \\[default: text 500; MIDI: until the model ends the piece]")] = None,
    chars: Annotated[int | None, typer.Option(help="Text: stop each sample at this many new characters (any codec).")] = None,
    num_samples: Annotated[int, typer.Option(help="Samples, generated together as one batch.")] = 1,
    temperature: Annotated[float, typer.Option(help="Divide the logits by this (> 0); lower is more conservative.")] = 1.0,
    top_k: Annotated[int, typer.Option(help="Keep only the k likeliest tokens; 0 keeps all.")] = 0,
    top_p: Annotated[float, typer.Option(help="Keep the smallest set of tokens whose probability reaches p (0 < p <= 1).")] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Random seed, for reproducible samples.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads to compute with. \\[default: OMP_NUM_THREADS where set, else one per core, fewer while other processes keep the cores busy]")] = None,
    out: Annotated[str | None, typer.Option(help="A file, or a folder (a path ending in / or with no suffix) for one file each. Text: default the terminal; MIDI: default samples/.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite existing output files instead of picking new names.")] = False,
    condition: Annotated[str | None, typer.Option(help="The label to generate for (a model trained with labels); none: one at random.")] = None,
    max_length: Annotated[int | None, typer.Option(help="Models of items: the most tokens a sample may have before its end token. \\[default: text 200, MIDI 100000]")] = None,
    unique: Annotated[bool, typer.Option(help="Text items: drop duplicate samples and samples that copy a training item.")] = False,
    corpus: Annotated[Path | None, typer.Option(help="With --unique: the training corpus, if not where the checkpoint recorded it.")] = None,
    quiet: Annotated[bool, typer.Option(help="MIDI: do not draw each file's piano roll.")] = False,
    render: Annotated[bool, typer.Option(help="MIDI: also render each file to a .wav beside it (FluidSynth).")] = False,
    soundfont: Annotated[Path | None, typer.Option(help="With --render: a General MIDI SoundFont \\[default: $SOUNDFONT, else the system's]")] = None,
    source: Annotated[list[str] | None, typer.Option("--input", metavar="TEXT|@FILE", help="Encoder-decoder: the source to write from: text, @FILE of lines (one output per line), or @FILE.mid for a MIDI model; repeatable, the outputs in the order of the inputs.")] = None,
    source_track: Annotated[str | None, typer.Option("--source-track", metavar="NAME|INDEX", help="Encoder-decoder on MIDI: the track of each --input file that is the source (by name, or by index from 0); a file of one track is read whole. \\[default: the track the model was trained on]")] = None,
    beam: Annotated[int | None, typer.Option(help="Beam search: the likeliest output among N hypotheses instead of a random draw; --num-samples of the best beams.")] = None,
    length_penalty: Annotated[float, typer.Option(help="With --beam: rank finished outputs by log probability / ((5 + length) / 6) ** this; 0 ranks by log probability alone.")] = 1.0,
    attention_png: Annotated[Path | None, typer.Option(help="Encoder-decoder: draw where each output step of the first input looked (input across, output down) as a PNG.")] = None,
    control: Annotated[list[str] | None, typer.Option(metavar="NAME=VALUE", help="A model trained with --controls: set a control, repeatable: a bin (density=high), a number in its unit (density=6 notes/s, register=60 MIDI pitch, dynamics=90 velocity), a key (key=D-major, key=Bb-minor), or a ramp over the piece's seconds (density=2@0s,8@20s). A control not set is left free.")] = None,
    guidance: Annotated[float | None, typer.Option(help=f"With --control: how far sampling follows the controls set: 1 samples the model given them; above 1, classifier-free guidance moves each step as many times further from the model with every control free (twice the work a step). \\[default: {DEFAULT_GUIDANCE:g}]")] = None,
    rules: Annotated[RuleMode | None, typer.Option(help="Encoder-decoder, a codec with rules (parts: no voice above the melody or the voice before, no parallel fifths or octaves): 'learned' weighs each rule, and the network, as training found the corpus does; 'strict' never breaks one; 'off' leaves them out. \\[default: learned where the checkpoint has weights]")] = None,
) -> None:
    """Generate text or MIDI from a trained checkpoint (text streams to the terminal).

    An encoder-decoder writes an output for each --input.
    """
    from seqgen.config import check_seed
    from seqgen.nn.sampling import MAX_TOKENS, SamplingOptions, condition_labels, parse_length
    from seqgen.threads import configure as configure_threads
    from seqgen.training.checkpoint import load_checkpoint
    from seqgen.training.devices import resolve_device

    source = source or None  # --input not given
    options = SamplingOptions(temperature, top_k, top_p)
    tokens, seconds = parse_length(length)
    at_least(1, num_samples=num_samples, max_length=max_length, beam=beam, chars=chars)
    at_least(0, length_penalty=length_penalty)
    at_most(MAX_TOKENS, max_length=max_length)
    check_seed(seed)
    at_least(1, guidance=guidance)
    if guidance is not None and not control:
        raise UsageError("--guidance says how far to follow the controls set: give --control "
                         "NAME=VALUE too, or drop --guidance")
    configure_threads(threads)
    ckpt = load_checkpoint(checkpoint, resolve_device(device))
    search = Search(beam or 0, length_penalty, options, seed, num_samples,
                    steering=steering_of(ckpt, control or [], guidance))
    if ckpt.task.predicts_labels():
        raise UsageError(f"{checkpoint} is a classifier: it labels items, it does not write "
                         f"them (seqgen classify {checkpoint} INPUT...)")
    if ckpt.task.writes_from_inputs():
        for flag, given in (("--length", length), ("--unique", unique),
                            ("--condition", condition), ("--chars", chars)):
            if given:
                raise UsageError(f"{flag} is not for an encoder-decoder: its output ends where "
                                 "the model ends it (at most --max-length tokens)")
        out, render = written_out(out, ckpt.codec, render, soundfont, force)
        sample_targets(ckpt, source, primer, max_length, search, out, force, attention_png,
                       chosen_rules(ckpt, rules), source_track)
        if not ckpt.codec.reads_text:
            show_and_render(search.paths, not quiet, render, soundfont)
        return
    for flag, given in (("--input", source), ("--attention-png", attention_png),
                        ("--rules", rules), ("--source-track", source_track)):
        if given is not None:
            raise UsageError(f"{flag} is for encoder-decoder models; this one is "
                             f"{ckpt.task.name}: give --primer to continue")
    primer_read = ckpt.codec.read_primer(primer)
    labels, drawn = condition_labels(ckpt.label_names, condition, num_samples, seed)
    out, render = written_out(out, ckpt.codec, render, soundfont, force)
    if not ckpt.codec.reads_text:
        if unique or chars is not None:
            raise UsageError(f"{'--unique' if unique else '--chars'} works for text models")
        paths = output_paths(out or "samples/", num_samples, ckpt.codec.output_suffix, force,
                             one_file_each=True)
    elif seconds is not None:
        raise UsageError("a text model's --length is a number of tokens, not a duration "
                         "(--chars N stops at N characters)")
    elif not ckpt.makes_items and (unique or max_length is not None):
        raise UsageError(f"{'--unique' if unique else '--max-length'} is for models of items "
                         "(lines or files); this model reads one stream (its length is "
                         "--length)")
    else:
        paths = output_paths(out, num_samples, ".txt", force) if out is not None else None
    if condition is None and len(ckpt.label_names) > 1:
        say_drawn_labels(drawn, paths)
    search.paths = paths
    if not ckpt.codec.reads_text:
        sample_pieces(ckpt, primer_read, tokens, seconds, search, labels, max_length or 100_000)
        show_and_render(paths, not quiet, render, soundfont)
    else:
        limit = tokens if tokens is not None else max_length or (
            200 if ckpt.makes_items else 500 if chars is None
            else 4 * chars)  # a token is a byte at least, a character 4 bytes at most
        sample_text(ckpt, primer_read, limit, search, labels, unique, corpus, chars)


def say_drawn_labels(labels: list[str], paths: list[Path] | None) -> None:
    """Which label each sample was drawn for, in one line on stderr: by its file where each
    has one, else by its number."""
    names = [p.name for p in paths] if paths and len(paths) == len(labels) else \
        [str(i) for i in range(1, len(labels) + 1)]
    if len(labels) == 1:
        err_console.print(f"condition: {labels[0]} (drawn at random; --condition picks one)",
                          highlight=False, markup=False)
        return
    err_console.print("conditions, drawn at random for each sample (--condition picks one): "
                      + ", ".join(f"{name} {label}" for name, label in zip(names, labels,
                                                                           strict=True)),
                      highlight=False, markup=False, soft_wrap=True)


@dataclass
class Search:
    """How outputs are found: drawn with ``options``, or the best of a ``beam``; and where
    they go (None: the terminal)."""

    beam: int
    alpha: float
    options: SamplingOptions
    seed: int | None
    num_samples: int
    paths: list[Path] | None = None
    steering: Steering | None = None  # a model of music controls: as the user set them


def steering_of(ckpt: Checkpoint, given: list[str],
                guidance: float | None) -> Steering | None:
    """The ``--control`` settings of a model of music controls, followed with ``guidance``
    (None for a model without)."""
    from seqgen.data.controls import parse_controls
    from seqgen.nn.steering import Steering

    scheme = ckpt.controls
    if scheme is None and given:
        raise UsageError(f"{ckpt.path} was trained without music controls: drop --control "
                         "(train with --controls to steer a model)")
    if scheme is None:
        return None
    settings = parse_controls(given, scheme.by_name())
    free = [name for name in scheme.names if name not in settings]
    err_console.print(f"controls: {', '.join(given) or 'none set'}"
                      + (f"; free: {', '.join(free)} (--control NAME=VALUE sets one)"
                         if free else ""), highlight=False)
    return Steering.of(scheme, settings, ckpt.codec,
                       DEFAULT_GUIDANCE if guidance is None else guidance)


def draw_attention(ckpt: Checkpoint, source: Tensor, target: Tensor, path: Path) -> None:
    """The attention weights of decoding ``target`` from ``source``, drawn into ``path``."""
    import torch

    from seqgen.media.plots import attention_png

    codec, source_codec = ckpt.codec, ckpt.source_codec
    steps = torch.cat([torch.tensor([codec.BOS]), target.long()])
    weights = ckpt.model.attention_weights(source.long(), steps)
    attention_png(weights.numpy(), [source_codec.token_label(t) for t in source.tolist()],
                  [codec.token_label(t) for t in target.tolist()] + ["EOS"], path)
    report_written([path])


def sample_text(ckpt: Checkpoint, primer: str, length: int, search: Search,
                labels: Tensor | None = None, unique: bool = False,
                corpus: Path | None = None, chars: int | None = None) -> None:
    """Stream one sample to the terminal as it is decoded, print several, or write them to ``paths`` (one
    file each, or all in one)."""
    from seqgen.files import write_text
    from seqgen.nn.sampling import drop_repeats, generate_text

    paths = search.paths
    stream = paths is None and search.num_samples == 1 and not unique and not search.beam
    training = None
    if unique:  # before generating: a missing corpus should not cost a generation first
        corpus_items = ckpt.load_corpus(corpus)
        training = {corpus_items.codec.decode(piece) for piece in corpus_items.pieces}
    pending_primer = [primer]

    def stream_text(text: str) -> None:
        sys.stdout.write((pending_primer.pop() if pending_primer else "") + text)
        sys.stdout.flush()

    texts = generate_text(ckpt.model, ckpt.codec, primer, length, search.num_samples,
                          search.options, search.seed, labels,
                          on_text=stream_text if stream else None, max_chars=chars,
                          beam=search.beam, alpha=search.alpha)
    if training is not None:
        texts, duplicates, copies = drop_repeats(texts, training)
        err_console.print(f"--unique dropped {duplicates} duplicate(s) and {copies} cop"
                          f"{'y' if copies == 1 else 'ies'} of training items; "
                          f"{len(texts)} left", highlight=False)
    if stream:
        sys.stdout.write("".join(pending_primer) + "\n")
    elif paths is None and ckpt.makes_items:
        sys.stdout.write("".join(text + "\n" for text in texts))
    elif paths is None:
        for i, text in enumerate(texts, 1):
            console.print(Rule(f"sample {i}"))
            sys.stdout.write(text + "\n")
    else:
        contents = ["\n\n".join(texts) + "\n"] if len(paths) == 1 else [t + "\n" for t in texts]
        for path, text in zip(paths, contents, strict=False):
            write_text(path, text)
        report_written(paths[:len(contents)])


def sample_pieces(ckpt: Checkpoint, primer: Tensor | None, length: int | None,
                  seconds: float | None, search: Search, labels: Tensor | None = None,
                  max_length: int = 100_000) -> None:
    """Generate pieces of a file codec (MIDI) and write one file each to ``search.paths``."""
    from seqgen.nn.sampling import generate_pieces

    pieces = generate_pieces(ckpt.model, ckpt.codec, primer, length, seconds,
                             search.num_samples, search.options, search.seed, labels,
                             max_length, search.beam, search.alpha, search.steering)
    write_pieces(ckpt.codec, search.paths, pieces)


def write_pieces(codec: FileCodec, paths: list[Path], pieces: list[Tensor],
                 sources: list[Tensor] | None = None, names: tuple[str, ...] = ()) -> None:
    """Write each piece to its path (atomically), with the source it was written from when
    given (``write_pair``, the target's tracks named ``names``), and say how long each is."""
    from seqgen.files import atomic_write

    for i, (path, tokens) in enumerate(zip(paths, pieces, strict=True)):
        with atomic_write(path) as tmp:
            if sources is None:
                codec.write(tokens, tmp)
            elif names:
                codec.write_pair(sources[i], tokens, tmp, names)
            else:  # no names to give (a plugin's write_pair may take none)
                codec.write_pair(sources[i], tokens, tmp)
    seconds_table = codec.token_seconds()
    report_written(paths, None if seconds_table is None else
                   [f"{float(seconds_table[t.long()].sum()):.1f} s" for t in pieces])


class RuleMode(StrEnum):
    """How an encoder-decoder's outputs keep its codec's rules."""

    learned = "learned"
    strict = "strict"
    off = "off"


def chosen_rules(ckpt: Checkpoint, mode: RuleMode | None) -> RuleWeights | None:
    """The rule weights ``--rules`` asks for: the checkpoint's own by default, where it has
    them."""
    from seqgen.nn.constraints import STRICT

    if mode is RuleMode.strict:
        return STRICT
    if mode is RuleMode.learned and ckpt.rule_weights is None:
        raise UsageError("this checkpoint has no learned rule weights (its codec has no rules, "
                         "or it was trained before seqgen learnt them): use --rules strict or "
                         "--rules off")
    return None if mode is RuleMode.off else ckpt.rule_weights


def sample_targets(ckpt: Checkpoint, inputs: list[str] | None, primer: str,
                   max_length: int | None,
                   search: Search, out: str | None, force: bool,
                   attention_png: Path | None, rules: RuleWeights | None = None,
                   source_track: str | None = None) -> None:
    """An encoder-decoder's outputs for each input (every ``--input`` in turn, each TEXT or
    @FILE giving its inputs in order): text printed (one line per input, the
    samples tab-separated) or written to ``out``; files of a file codec (MIDI: the input, its
    track ``source_track`` or the one the model was trained on, and the generated voices on
    tracks named as in training) written to ``out`` (default samples/); with ``rules``, the
    codec's rules weighed in with these weights."""
    from seqgen.files import write_text
    from seqgen.nn.sampling import check_rules, generate_targets, sampling_limit

    if not inputs:
        raise UsageError("this model is an encoder-decoder: give --input TEXT or --input @FILE "
                         "(the source to write an output from)")
    codec = ckpt.codec
    check_rules(codec, rules)
    if source_track is not None and ckpt.source_codec.reads_text:
        raise UsageError("--source-track names the track of an input file; this model reads "
                         "text: drop it")
    track = source_track or ckpt.config["corpus"].get("source_track")
    sources = []
    for source in inputs:
        read = [tokens for _, tokens in ckpt.source_codec.read_inputs(source, "--input", track)]
        if not read or not read[0].numel():
            raise UsageError(f"--input {source!r} holds no input: give text, or a file of lines")
        sources += read
    if not codec.reads_text:
        search.paths = output_paths(out or "samples/", len(sources) * search.num_samples,
                                    codec.output_suffix, force, one_file_each=True)
    elif out is not None:
        search.paths = output_paths(out, 1, ".txt", force)
    if attention_png is not None:
        if ckpt.model.attention is None:
            raise UsageError("--attention-png draws attention, and this model has none "
                             "(--attention none)")
        attention_png = prepare_png(attention_png, "--attention-png", force)
    prefix = codec.primer_tokens(primer)
    limit = max_length or sampling_limit(sources)
    targets = generate_targets(ckpt.model, codec, sources, limit, search.num_samples,
                               search.options, search.seed, search.beam, search.alpha, prefix,
                               rules=rules, steering=search.steering)
    if not codec.reads_text:
        write_pieces(codec, search.paths, [t for row in targets for t in row],
                     [s for s, row in zip(sources, targets, strict=True) for _ in row],
                     target_names(ckpt))
    else:
        text = "".join("\t".join(codec.decode(t) for t in row) + "\n" for row in targets)
        if search.paths is None:
            sys.stdout.write(text)
        else:
            write_text(search.paths[0], text)
            report_written(search.paths)
    if attention_png is not None:
        draw_attention(ckpt, sources[0], targets[0][0], attention_png)


def target_names(ckpt: Checkpoint) -> tuple[str, ...]:
    """The names of the tracks an encoder-decoder of files was trained to write (Alto, Tenor,
    Bass): as its checkpoint records them, or for one that does not, as its corpus, where it
    still is, has them; none otherwise."""
    from seqgen.data.pairs import corpus_target_names

    recorded = ckpt.config.get("corpus", {})
    if "target_tracks" in recorded:
        return tuple(recorded["target_tracks"])
    track, path = recorded.get("source_track"), recorded.get("path")
    if track is None or path is None or not Path(path).exists():
        return ()
    return corpus_target_names(Path(path), ckpt.codec, track)


def show_and_render(paths: list[Path], show: bool, render: bool,
                    soundfont: Path | None) -> None:
    """The piano roll of each generated MIDI file, and its audio beside it if asked."""
    from seqgen.cli.media import render_file, show_midi  # its commands are listed after ours

    for path in paths:
        if show and path.suffix.lower() in (".mid", ".midi"):
            show_midi(path)
        if render:
            render_file(path, path.with_suffix(".wav"), soundfont)


def written_out(out: str | None, codec: Codec, render: bool, soundfont: Path | None,
                force: bool) -> tuple[str | None, bool]:
    """``--out`` and ``--render`` as what will be written, checked before any work: a folder, or
    a file of a suffix the codec writes; a codec of MIDI files also takes NAME.wav, written as
    NAME.mid rendered beside it. A text model's file may not take another kind's suffix."""
    from seqgen.files import prepare_output_file
    from seqgen.media.audio import AUDIO, RENDERED, find_fluidsynth, find_soundfont

    if codec.reads_text:
        if render:
            raise UsageError("--render is for MIDI models; this model writes text")
        if out is not None and not names_folder(out):
            check_text_name(out, codec)
        return out, False
    renders = codec.output_suffix in RENDERED
    if out is not None and not names_folder(out):
        suffix = Path(out).suffix.lower()
        if renders and suffix == AUDIO:
            prepare_output_file(Path(out), "--out", force)
            out, render = str(Path(out).with_suffix(codec.output_suffix)), True
        elif suffix not in codec.suffixes:
            audio = f", or {AUDIO} rendered from them" if renders else ""
            raise UsageError(f"--out {out}: a {codec.name} model writes "
                             f"{' or '.join(codec.suffixes)} files{audio}: give --out "
                             f"NAME{codec.output_suffix}{f', NAME{AUDIO}' if renders else ''} "
                             "or a folder")
    if render and not renders:
        raise UsageError(f"--render renders MIDI files; a {codec.name} model writes "
                         f"{codec.output_suffix} files")
    if render:
        find_fluidsynth()
        find_soundfont(soundfont)
    return out, render


def check_text_name(out: str, codec: Codec) -> None:
    """A text model's output file does not take the suffix of another kind of file (MIDI,
    audio): a file of that name would hold text."""
    from seqgen.data.codecs.base import codecs
    from seqgen.media.audio import AUDIO

    others = {suffix for spec in codecs().values() if not spec.cls.reads_text
              for suffix in spec.cls.suffixes} | {AUDIO}
    suffix = Path(out).suffix.lower()
    if suffix in others - set(codec.suffixes):
        raise UsageError(f"--out {out}: a {codec.name} model writes text, not {suffix} "
                         f"files: give --out NAME{codec.suffixes[0]} or a folder")


def names_folder(out: str) -> bool:
    """``--out`` names a folder (to write sample-N files in): it ends in a slash, is one, or
    has no suffix."""
    path = Path(out)
    return out.endswith(("/", "\\")) or path.is_dir() or not path.suffix


def output_paths(out: str, count: int, suffix: str, force: bool,
                 one_file_each: bool = False) -> list[Path]:
    """Files to write, checked before any work: ``out`` itself, or ``sample-N`` files in the
    folder ``out`` names (made if missing).

    In a folder, numbering skips names that exist unless ``force``; an existing single file
    is an error unless ``force``.
    """
    from seqgen.files import make_folder, prepare_output_file

    path = Path(out)
    if names_folder(out):
        make_folder(path, "--out")
        names = (path / f"sample-{n}{suffix}" for n in itertools.count(1))
        return list(itertools.islice((p for p in names if force or not p.exists()), count))
    if one_file_each and count > 1:
        raise UsageError(f"--num-samples {count} writes {count} files: give --out a folder")
    return [prepare_output_file(path, "--out", force)]


