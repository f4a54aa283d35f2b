"""The character-level codec: text <-> token ids, vectorised over Unicode code points."""

import torch
from torch import Tensor

from seqgen.errors import UsageError
from seqgen.midi import MidiCodec


def code_points(text: str) -> Tensor:
    """The Unicode code points of ``text`` as an int32 tensor, with no Python loop per character."""
    if not text:
        return torch.zeros(0, dtype=torch.int32)
    return torch.frombuffer(bytearray(text.encode("utf-32-le")), dtype=torch.int32)


def describe_chars(chars: list[str], limit: int = 10) -> str:
    """Characters as a user can read them: printable ones quoted, others as U+XXXX."""
    shown = [repr(c) if c.isprintable() else f"U+{ord(c):04X}" for c in chars[:limit]]
    more = f" and {len(chars) - limit} more" if len(chars) > limit else ""
    return ", ".join(shown) + more


class UnknownCharactersError(UsageError):
    """Text holds characters the vocabulary does not."""

    def __init__(self, what: str, unknown: list[str]) -> None:
        self.unknown = unknown
        super().__init__(
            f"{what} has characters that are not in the model's vocabulary: "
            f"{describe_chars(unknown)}; use only characters the training corpus contains"
        )


class CharCodec:
    """One token per Unicode character; the vocabulary is the sorted set of the corpus's.

    With ``specials`` (for corpora of separate items: lines, files), the ids 0, 1, 2 are PAD,
    BOS and EOS and the characters follow them.
    """

    name = "char"
    PAD, BOS, EOS = 0, 1, 2
    SPECIALS = ("PAD", "BOS", "EOS")

    def __init__(self, vocab: str, specials: bool = False) -> None:
        if not vocab:
            raise ValueError("a character vocabulary cannot be empty")
        self.vocab = vocab
        self.specials = specials
        self.offset = len(self.SPECIALS) if specials else 0
        self._code_points = code_points(vocab)

    @classmethod
    def fit(cls, text: str, specials: bool = False) -> tuple["CharCodec", Tensor]:
        """Build the vocabulary of ``text`` and encode it in one pass."""
        vocab_points, ids = torch.unique(code_points(text), sorted=True, return_inverse=True)
        codec = cls("".join(map(chr, vocab_points.tolist())), specials)
        return codec, (ids + codec.offset).to(torch.int32)

    @property
    def size(self) -> int:
        return len(self.vocab) + self.offset

    def encode(self, text: str, what: str = "text") -> Tensor:
        """Token ids (int64) of ``text``; unknown characters are an error naming them."""
        points = code_points(text)
        pos = torch.searchsorted(self._code_points, points).clamp(max=len(self.vocab) - 1)
        unknown = self._code_points[pos] != points
        if unknown.any():
            raise UnknownCharactersError(what, [chr(c) for c in points[unknown].unique().tolist()])
        return pos.long() + self.offset

    def decode(self, ids: Tensor | list[int]) -> str:
        """The text of ``ids``; special tokens are left out, and EOS ends the text."""
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        chars = []
        for i in ids:
            if i >= self.offset:
                chars.append(self.vocab[i - self.offset])
            elif i == self.EOS and self.specials:
                break
        return "".join(chars)

    def translate(self, ids: Tensor, source: "CharCodec", what: str = "text") -> Tensor:
        """Ids of ``source``'s vocabulary as ids of this one (special tokens kept)."""
        table = torch.cat([torch.arange(source.offset), self.encode(source.vocab, what)])
        return table[ids.long()].to(torch.int32)

    def default_primer(self) -> str:
        """What sampling a stream starts from when no primer is given: a newline."""
        return "\n" if "\n" in self.vocab else self.vocab[0]

    def to_json(self) -> dict:
        data = {"name": self.name, "vocab": self.vocab}
        return {**data, "specials": True} if self.specials else data

    @classmethod
    def from_json(cls, data: dict) -> "CharCodec":
        if data.get("name") != cls.name:
            raise ValueError(f"not a {cls.name} codec: {data.get('name')!r}")
        return cls(data["vocab"], bool(data.get("specials", False)))


def codec_from_json(data: dict) -> "CharCodec | MidiCodec":
    """The codec a checkpoint or cache recorded, by its name."""
    codecs = {CharCodec.name: CharCodec, MidiCodec.name: MidiCodec}
    name = data.get("name")
    if name not in codecs:
        raise ValueError(f"unknown codec {name!r}")
    return codecs[name].from_json(data)
