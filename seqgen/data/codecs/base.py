"""The codec contract (``Codec``, ``TextCodec``, ``FileCodec``) and the codec registry.

A codec maps a corpus to token ids and back. Codecs are registered by plugins through the
``register_codecs`` hook (the built-in ones too) and chosen with ``--format NAME``. The rest of
the data layer knows codecs only through this contract: what kind a codec is (``reads_text``)
and what it can do beyond the methods every codec has (``Codec.implements``: a codec declares
an optional capability, such as ``augment``, ``rules``, ``read_pair`` or ``controls``, by
defining the method, and in no other way).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor

from seqgen.data.notes import Note
from seqgen.errors import SeqgenError, UsageError
from seqgen.plugins import Spec, collect, keyword_options, lookup


class Contract:
    """A contract that plugins' classes implement (``Codec`` and its kinds, ``Rules``): the
    methods every class of it must define, and optional ones whose defaults in the contract
    stand for "not implemented". Whether a class has an optional capability is whether it
    defines the method (``implements``): the one way a capability is declared."""

    # an optional method that counts only beside another it was written with: defined in the
    # class that defines that one, or below it (so a subclass that overrides ``fit`` alone is
    # not fitted by its parent's ``fit_chunks``)
    implemented_with: ClassVar[dict[str, str]] = {}

    @classmethod
    def implements(cls, method: str) -> bool:
        """Whether this class (or a class between it and the contract) defines the contract's
        optional ``method`` (a codec's ``augment``, ``rules``, ``read_pair``, ``fit_chunks``,
        ``encode_chars``, ``controls``; a ``Rules``' ``broken``), rather than inheriting its
        default."""
        owner = defined_in(cls, method)
        if owner in CONTRACTS:
            return False
        partner = cls.implemented_with.get(method)
        return partner is None or issubclass(owner, defined_in(cls, partner))


def defined_in(cls: type, method: str) -> type:
    """The class of ``cls``'s method resolution order that defines ``method``."""
    for owner in cls.__mro__:
        if method in vars(owner):
            return owner
    raise AttributeError(f"{cls.__name__} has no method {method!r}")


@dataclass
class Augmentation:
    """How far a codec that implements ``Codec.augment`` may vary a training item: transpose
    by up to ``transpose`` semitones either way, stretch time by a factor in 1 +- ``stretch``.
    The codec draws and applies the variation (``Codec.augment``)."""

    transpose: int = 3
    stretch: float = 0.05

    def semitones(self, generator: torch.Generator) -> int:
        """A transposition drawn uniformly from -transpose..transpose."""
        return int(torch.randint(-self.transpose, self.transpose + 1, (), generator=generator))


class Rules(Contract):
    """A codec's rules for one output as it is written (``Codec.rules``): the tokens that would
    break each rule if they came next, and the rules once a token has come. Immutable: beams
    share them. Define ``forbidden`` for rules that never need telling apart, or ``broken`` to
    name each rule (a trained model learns a weight for each, ``seqgen.training.rule_fit``)."""

    def forbidden(self) -> list[int]:
        """The tokens that would break any rule."""
        if not type(self).implements("broken"):
            raise NotImplementedError("a Rules class defines forbidden() or broken()")
        return sorted({token for tokens in self.broken().values() for token in tokens})

    def broken(self) -> dict[str, list[int]]:
        """The tokens that would break each rule, by the rule's name."""
        return {"rules": self.forbidden()}

    def after(self, token: int) -> Rules:
        raise NotImplementedError


class Codec(Contract):
    """What every codec has: a name (the format it is registered as), the file suffixes it
    reads, a vocabulary of ``size`` ids (0, 1, 2 are PAD, BOS and EOS where a codec has them),
    a JSON form that a checkpoint stores (no code runs when it is read back), and optionally a
    way to vary a training item (``augment``) and rules for its outputs (``rules``): what it
    implements of these, ``implements`` says. Its kind says whether seqgen reads its corpus's
    files as text (``TextCodec``, ``reads_text``) or the codec reads its own (``FileCodec``)."""

    name = ""
    suffixes: tuple[str, ...] = ()
    PAD, BOS, EOS = 0, 1, 2
    unit = "token"  # what one token is ("character" for a character codec), for losses per unit
    # the kind's, never a codec's own: seqgen reads the files as text, and the codec encodes
    # text (a TextCodec: fit, encode, decode, token_chars), or the codec reads and writes its
    # files itself (a FileCodec: read, write, read_source, write_pair, token_name)
    reads_text: ClassVar[bool] = False

    @property
    def size(self) -> int:
        raise NotImplementedError

    def augment(self, tokens: Tensor, augmentation: Augmentation,
                generator: torch.Generator) -> Tensor:
        """Optional: a randomly varied copy of a training item, drawn with ``generator``
        within the ``augmentation``'s amounts (``transpose``: semitones either way,
        ``stretch``: time factor 1 +- stretch), anew each epoch (--transpose and --stretch
        mean something for a codec that implements it). By default the item unchanged."""
        return tokens

    def augment_pair(self, source: Tensor, target: Tensor, augmentation: Augmentation,
                     generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Both sides of a pair varied alike. By default ``augment`` of each from the same
        random state: a codec whose draws do not depend on the tokens (MIDI's transposition
        and stretch) varies both sides together. Override it otherwise."""
        state = generator.get_state()
        source = self.augment(source, augmentation, generator)
        generator.set_state(state)
        return source, self.augment(target, augmentation, generator)

    def token_seconds(self) -> Tensor | None:
        """How far each token moves time, in seconds [size], or None for a codec without time
        (text). It gives samples a length in seconds and encoder-decoders their clock."""
        return None

    def rules(self, source: Tensor) -> Rules | None:
        """Optional: rules an output written from ``source`` may be held to (``seqgen sample
        --rules``). By default None: a codec that does not implement it has no rules."""
        return None

    def controls(self) -> tuple[str, ...]:
        """Optional, with ``control_notes``: the names of the music controls
        (``seqgen.data.controls``: density, key, register, dynamics) this codec's tokens can
        be measured by, each at every token. By default none: a codec that does not implement
        it has no controls."""
        return ()

    def control_notes(self, tokens: Tensor) -> tuple[Sequence[Note], Tensor]:
        """Optional, beside ``controls``: the notes ``tokens`` decode to (``Note``: pitch,
        start and end in seconds, velocity) and the time in seconds of each token [len(tokens)]
        (float64: the time elapsed before it), from which seqgen measures each control in a
        window centred on every token (``seqgen.data.controls.measure_controls``)."""
        raise NotImplementedError

    def read_inputs(self, argument: str, flag: str,
                    track: str | None = None) -> list[tuple[str, Tensor]]:
        """A command's input argument as (name, tokens) pairs: ``@FOLDER`` (every file the
        codec reads, one input each), ``@FILE`` (its inputs: ``read_input_items``) or the
        text itself (``encode_input``); ``track``: the track a codec of tracks reads."""
        path = Path(argument[1:]) if argument.startswith("@") else None
        if path is None:
            return [(argument, self.encode_input(argument, flag))]
        if path.is_dir():
            files = sorted(p for p in path.rglob("*")
                           if p.is_file() and p.suffix.lower() in self.suffixes)
            if not files:
                raise UsageError(f"{flag} @{path}: the folder has no {'/'.join(self.suffixes)} "
                                 "file to read")
            return [(str(file), self.read_input_file(file, flag, track)) for file in files]
        if not path.is_file():
            raise UsageError(f"{flag} @{path}: no such file or folder")
        return self.read_input_items(path, flag, track)

    def encode_input(self, text: str, flag: str) -> Tensor:
        """Text given on the command line as an input."""
        raise NotImplementedError

    def read_input_items(self, path: Path, flag: str,
                         track: str | None = None) -> list[tuple[str, Tensor]]:
        """The inputs of a file given as ``@FILE``."""
        raise NotImplementedError

    def read_input_file(self, path: Path, flag: str, track: str | None = None) -> Tensor:
        """A file of a folder given as ``@FOLDER``: one input."""
        raise NotImplementedError

    def token_label(self, token: int) -> str:
        """A token as a picture's axis label."""
        return str(token)

    def describe_vocabulary(self) -> str:
        """The vocabulary, in a line for ``seqgen corpus inspect``."""
        return f"{self.size} tokens"

    def to_json(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_json(cls, data: dict) -> Codec:
        raise NotImplementedError


class TextCodec(Codec):
    """A tokenizer of UTF-8 text: seqgen reads the files and cuts them into one stream or
    into items; the codec builds its vocabulary from the corpus and maps text to token ids.

    Implement ``fit`` (a classmethod; its keyword parameters after ``specials`` are the
    codec's ``--codec-opt`` options), ``encode``, ``decode``, ``size``, ``to_json`` and
    ``from_json``. With ``specials`` the ids 0, 1, 2 must be PAD, BOS and EOS. Optionally
    ``fit_chunks``, for a stream larger than memory.

    A codec whose vocabulary is learned from the text (subwords, words) sets
    ``fits_training_split``: seqgen then fits it on the training part of the corpus only and
    encodes the training and validation parts apart (the validation text starts at a line).
    Losses per character count the characters each token stands for (``token_chars``); a codec
    whose ids do not tell them (an unknown word stands for any word) implements
    ``encode_chars``, and seqgen keeps what it counts in the text beside the ids.
    """

    suffixes: tuple[str, ...] = (".txt",)
    specials = False
    fits_training_split = False  # fitted on the training part only (its vocabulary is learned)
    reads_text = True
    implemented_with: ClassVar[dict[str, str]] = {"fit_chunks": "fit"}

    @classmethod
    def default_options(cls) -> dict[str, object]:
        return keyword_options(cls.fit, skip=2)  # after text and specials

    @classmethod
    def fit(cls, text: str, specials: bool = False) -> TextCodec:
        """A codec whose vocabulary covers ``text`` (the whole corpus)."""
        raise NotImplementedError

    @classmethod
    def fit_chunks(cls, chunks: Iterable[str], specials: bool = False,
                   **options: object) -> TextCodec:
        """Optional: the codec ``fit`` gives, from the corpus's text in consecutive chunks (of
        about 4 MB, each ending after a line break where the text has one). Implement it only
        when ``encode_corpus`` of such chunks gives, joined, the ids of the whole text (one token
        per character, or no token across a line break): seqgen then streams a corpus through
        the codec in two passes and never holds its whole text. A codec whose ``fit`` is newer
        than its ``fit_chunks`` (a subclass that overrides ``fit`` alone) does not implement it
        (``implemented_with``) and is fitted whole.
        """
        raise NotImplementedError

    def encode(self, text: str, what: str = "text") -> Tensor:
        raise NotImplementedError

    def decode(self, ids: Tensor | list[int]) -> str:
        raise NotImplementedError

    def encode_items(self, texts: list[str]) -> list[Tensor]:
        """Each item's token ids (one call per item unless a codec does better)."""
        return [self.encode(text) for text in texts]

    def encode_corpus(self, text: str) -> Tensor:
        """A whole corpus's ids, in any integer type that holds them (for storage)."""
        return self.encode(text, what="the corpus")

    def translate(self, ids: Tensor, source: Codec, what: str = "text") -> Tensor:
        """Ids of ``source``'s vocabulary as ids of this one."""
        if not source.reads_text:
            raise UsageError(f"{what}: the {source.name} codec's tokens are not text; the "
                             f"{self.name} codec reads text")
        return self.encode(source.decode(ids), what)

    def default_primer(self) -> str:
        """What sampling a stream starts from when no primer is given."""
        return "\n"

    def encode_input(self, text: str, flag: str) -> Tensor:
        return self.encode(text, what=f"{flag} {text[:40]!r}")

    def read_input_items(self, path: Path, flag: str,
                         track: str | None = None) -> list[tuple[str, Tensor]]:
        """Each line of a text file (blank lines skipped)."""
        lines = [(line.rstrip("\r"), f"{path}, line {n}")
                 for n, line in enumerate(read_input_text(path, "input").split("\n"), 1)
                 if line.strip()]
        return [(line, self.encode(line, what=where)) for line, where in lines]

    def read_input_file(self, path: Path, flag: str, track: str | None = None) -> Tensor:
        """A text file's whole text."""
        return self.encode(read_input_text(path, "input"), what=str(path))

    def read_primer(self, argument: str) -> str:
        """``--primer`` as this codec continues it: the text, or a text file's (``@FILE``)."""
        if not argument.startswith("@"):
            return argument
        text = read_input_text(Path(argument[1:]), "primer")
        if not text:
            raise UsageError(f"the primer file {argument[1:]} is empty")
        return text

    def primer_tokens(self, argument: str) -> Tensor:
        """``--primer``'s tokens (none for an empty primer)."""
        return self.encode(self.read_primer(argument), what="the primer")

    def token_label(self, token: int) -> str:
        """The token's text, a space shown as ␣."""
        return self.decode([token]).replace(" ", "\u2423") or f"<{token}>"

    def char_lengths(self) -> Tensor:
        """How many characters of text each id stands for (int64 [size]): by default the
        length of its text alone; PAD and BOS none, EOS one (an item's end stands for its
        line break)."""
        lengths = torch.tensor([len(self.decode([i])) for i in range(self.size)])
        if self.specials:
            lengths[[self.PAD, self.BOS, self.EOS]] = torch.tensor([0, 0, 1])
        return lengths

    def token_chars(self, ids: Tensor) -> Tensor:
        """The characters each token of ``ids`` stands for (int64, one per token): summed over
        a text's tokens, its length, what a loss per character divides by."""
        if "_char_lengths" not in self.__dict__:
            self._char_lengths = self.char_lengths()
        return self._char_lengths[ids.long()]

    def encode_chars(self, text: str) -> Tensor:
        """Optional: the characters of ``text`` each of its tokens (``encode_corpus``) stands
        for, for a codec whose ids do not tell them (``token_chars`` is not exact for every
        text it encodes); seqgen keeps them beside the ids."""
        raise NotImplementedError

    def token_stream(self) -> TokenStream:
        """A decoder of one sample's tokens as they are drawn (for streaming)."""
        return TokenStream(self)


class TokenStream:
    """The text of tokens given one at a time: each token's text alone (``step``), for codecs
    whose tokens are whole characters; ``finish`` gives what is left at the end."""

    def __init__(self, codec: TextCodec) -> None:
        self.codec = codec

    def step(self, token: int) -> str:
        return self.codec.decode([token])

    def finish(self) -> str:
        return ""


def read_input_text(path: Path, what: str) -> str:
    """A text file given to a command (as its ``what``: input, primer), or a usage error
    naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the {what} file {path}: {exc}") from None


class CodecFileError(SeqgenError):
    """A file a codec cannot use; ``str(exc)`` is a short reason for a user."""


class MissingTrack(CodecFileError):
    """A file without the track asked for (the reason names the tracks it has)."""


class FileCodec(Codec):
    """A codec that reads and writes its own files (MIDI, ABC notation...): each file is an
    item. Its keyword constructor parameters are its ``--codec-opt`` options.

    Implement ``read`` (tokens and statistics of a file, or ``CodecFileError``), ``write``,
    ``size``, ``to_json``/``from_json``, and optionally ``token_seconds`` (for durations and
    an encoder-decoder's clock).
    The ids 0, 1, 2 must be PAD, BOS and EOS.
    """

    output_suffix = ""
    specials = True  # PAD, BOS and EOS: every file is an item
    fits_training_split = False  # its vocabulary is fixed, not learned from a corpus

    @classmethod
    def default_options(cls) -> dict[str, object]:
        return keyword_options(cls.__init__)

    @classmethod
    def from_options(cls, **options: object) -> FileCodec:
        return cls(**options)

    def read(self, path: Path) -> tuple[Tensor, dict[str, float]]:
        """A file's tokens (no BOS/EOS) and statistics to sum over a corpus (notes, seconds)."""
        raise NotImplementedError

    def write(self, tokens: Tensor, path: Path) -> None:
        raise NotImplementedError

    def read_source(self, path: Path, source_track: str | None) -> Tensor:
        """The tokens of a file given to an encoder-decoder as its input (``seqgen sample
        --input @FILE``): by default the whole file; a codec of tracks reads the track
        ``source_track`` (the one the model was trained on) from a file of several."""
        return self.read(path)[0]

    def read_pair(self, path: Path, source_track: str) -> tuple[Tensor, Tensor, dict[str, float]]:
        """Optional, for encoder-decoder corpora: a file of several tracks as a pair, the
        tokens of the track ``source_track`` (a name or an index) and those of the other
        tracks merged, with the file's statistics. A file without that track is a
        ``CodecFileError`` that names the tracks it has."""
        raise NotImplementedError

    def target_names(self, path: Path, source_track: str) -> tuple[str, ...]:
        """Optional, beside ``read_pair``: the names of the tracks it reads as the target of a
        file (a model records them, and names the tracks it writes after them). By default
        none."""
        return ()

    def write_pair(self, source: Tensor, target: Tensor, path: Path,
                   names: Sequence[str] = ()) -> None:
        """A source and the target generated from it in one file (MIDI: a track each), the
        target's tracks named ``names`` where the codec writes them apart (a name missing or
        empty: the codec's own). By default the target alone."""
        self.write(target, path)

    def token_name(self, token: int) -> str:
        return str(token)

    def token_label(self, token: int) -> str:
        return self.token_name(token)

    def encode_input(self, text: str, flag: str) -> Tensor:
        raise UsageError(f"a {self.name} model's input is a file: {flag} "
                         f"@FILE{self.output_suffix} or @FOLDER, not {text[:40]!r}")

    def read_input_items(self, path: Path, flag: str,
                         track: str | None = None) -> list[tuple[str, Tensor]]:
        return [(str(path), self.read_input_file(path, flag, track))]

    def read_input_file(self, path: Path, flag: str, track: str | None = None) -> Tensor:
        """The file's tokens (of ``track``, for a codec of tracks given a file of several)."""
        try:
            return self.read_source(path, track)
        except MissingTrack as exc:
            raise UsageError(f"cannot use the input file {path}: {exc} (--source-track NAME "
                             "or INDEX: the track to read)") from None
        except CodecFileError as exc:
            raise UsageError(f"cannot use the input file {path}: {exc}") from None

    def read_primer(self, argument: str) -> Tensor | None:
        """``--primer`` as this codec continues it: the tokens of a file it reads (``@FILE``);
        none without one."""
        if not argument:
            return None
        if not argument.startswith("@"):
            raise UsageError(f"a {self.name} model's primer is a file: --primer "
                             f"@FILE{self.output_suffix}")
        try:
            return self.read(Path(argument[1:]))[0]
        except CodecFileError as exc:
            raise UsageError(f"cannot use the primer file {argument[1:]}: {exc}") from None

    def primer_tokens(self, argument: str) -> Tensor | None:
        return self.read_primer(argument)

    def translate(self, ids: Tensor, source: Codec, what: str = "an item") -> Tensor:
        """Tokens of ``source`` as this codec reads them: written to a file by ``source``
        and read back (the same tokens where the two codecs are alike)."""
        if source.to_json() == self.to_json():
            return ids
        if source.reads_text:
            raise UsageError(f"{what}: the {source.name} codec's tokens are text; the "
                             f"{self.name} codec reads {'/'.join(self.suffixes)} files")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"item{source.output_suffix}"
            source.write(ids, path)
            try:
                return self.read(path)[0]
            except CodecFileError as exc:
                raise UsageError(f"{what} of the {source.name} codec cannot be read by the "
                                 f"{self.name} codec: {exc}") from None

    def describe_vocabulary(self) -> str:
        """``391 events: 1 PAD, ..., 128 NOTE_ON, ...``: how many tokens of each kind (token
        names less their numbers)."""
        kinds = Counter(self.token_name(t).rstrip("0123456789").rstrip("_")
                        for t in range(self.size))
        return f"{self.size} events: " + ", ".join(f"{n} {kind}" for kind, n in kinds.items())


CONTRACTS = (Contract, Rules, Codec, TextCodec, FileCodec)  # their defaults implement nothing


# ---- the registry ----------------------------------------------------------------------------


def codecs() -> dict[str, Spec]:
    """Every registered codec, by the name ``--format`` uses."""
    return collect("register_codecs", "codec", (TextCodec, FileCodec),
                   lambda cls: cls.default_options())


def codec_release(codec_class: type) -> str:
    """The distribution and version that registered a codec class ("unregistered" for one
    used directly): part of a corpus's cache key, so a new release of a codec encodes anew."""
    for spec in codecs().values():
        if spec.cls is codec_class:
            return f"{spec.distribution}-{spec.version}"
    return "unregistered"


def get_codec(name: str) -> Spec:
    """The codec registered as ``name`` (a format), or a usage error listing those that exist."""
    return lookup(codecs(), name, "format", "available", "seqgen plugins --all")


def load_codec(data: dict, provider: dict | None = None) -> TextCodec | FileCodec:
    """The codec a checkpoint recorded, rebuilt by the registered codec class of its name."""
    for spec in codecs().values():
        if spec.cls.name == data.get("name"):
            return spec.cls.from_json(data)
    dist = (provider or {}).get("distribution")
    install = f" from the package {dist}, which is not installed: pip install {dist}" if dist \
        else ", which no installed plugin provides"
    raise SeqgenError(f"this checkpoint needs the codec {data.get('name')!r}{install}")
