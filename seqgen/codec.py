"""The character-level codec: text <-> token ids, vectorised over Unicode code points."""

import torch
from torch import Tensor

from seqgen.errors import UsageError
from seqgen.midi import MidiCodec


def code_points(text: str) -> Tensor:
    """The Unicode code points of ``text`` as an int32 tensor, with no Python loop per character."""
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
    """One token per Unicode character; the vocabulary is the sorted set of the corpus's."""

    name = "char"

    def __init__(self, vocab: str) -> None:
        if not vocab:
            raise ValueError("a character vocabulary cannot be empty")
        self.vocab = vocab
        self._code_points = code_points(vocab)

    @classmethod
    def fit(cls, text: str) -> tuple["CharCodec", Tensor]:
        """Build the vocabulary of ``text`` and encode it in one pass."""
        vocab_points, ids = torch.unique(code_points(text), sorted=True, return_inverse=True)
        vocab = "".join(map(chr, vocab_points.tolist()))
        return cls(vocab), ids.to(torch.int32)

    @property
    def size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str, what: str = "text") -> Tensor:
        """Token ids (int64) of ``text``; unknown characters are an error naming them."""
        points = code_points(text)
        pos = torch.searchsorted(self._code_points, points).clamp(max=self.size - 1)
        unknown = self._code_points[pos] != points
        if unknown.any():
            raise UnknownCharactersError(what, [chr(c) for c in points[unknown].unique().tolist()])
        return pos.long()

    def decode(self, ids: Tensor | list[int]) -> str:
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        return "".join(self.vocab[i] for i in ids)

    def default_primer(self) -> str:
        """What sampling starts from when no primer is given: a newline, as text starts a line."""
        return "\n" if "\n" in self.vocab else self.vocab[0]

    def to_json(self) -> dict:
        return {"name": self.name, "vocab": self.vocab}

    @classmethod
    def from_json(cls, data: dict) -> "CharCodec":
        if data.get("name") != cls.name:
            raise ValueError(f"not a {cls.name} codec: {data.get('name')!r}")
        return cls(data["vocab"])


def codec_from_json(data: dict) -> "CharCodec | MidiCodec":
    """The codec a checkpoint or cache recorded, by its name."""
    codecs = {CharCodec.name: CharCodec, MidiCodec.name: MidiCodec}
    name = data.get("name")
    if name not in codecs:
        raise ValueError(f"unknown codec {name!r}")
    return codecs[name].from_json(data)
