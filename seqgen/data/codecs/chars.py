"""The built-in character codec: one token per Unicode character of the corpus."""

import sys
import warnings
from collections.abc import Iterable

import torch
from torch import Tensor

from seqgen.data.codecs.base import TextCodec
from seqgen.errors import UsageError


def read_only_tensor(data: bytes, dtype: torch.dtype) -> Tensor:
    """A tensor sharing ``data``'s memory (nothing writes to it)."""
    if not data:
        return torch.zeros(0, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.frombuffer(data, dtype=dtype)


def code_points(text: str) -> Tensor:
    """The Unicode code points of ``text`` as an int32 tensor, with no Python loop per character
    (read-only: it shares the encoded bytes)."""
    return read_only_tensor(text.encode("utf-32-le"), torch.int32)


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


class CharCodec(TextCodec):
    """One token per Unicode character; the vocabulary is the sorted set of the corpus's.

    With ``specials`` (for corpora of separate items: lines, files), the ids 0, 1, 2 are PAD,
    BOS and EOS and the characters follow them.
    """

    name = "char"
    unit = "character"
    SPECIALS = ("PAD", "BOS", "EOS")

    def __init__(self, vocab: str, specials: bool = False) -> None:
        if not vocab:
            raise ValueError("a character vocabulary cannot be empty")
        self.vocab = vocab
        self.specials = specials
        self.offset = len(self.SPECIALS) if specials else 0
        self._code_points = code_points(vocab).clone()
        self._table = torch.full((int(self._code_points.max()) + 1,), -1, dtype=torch.int32)
        self._table[self._code_points.long()] = torch.arange(len(vocab), dtype=torch.int32)
        # ASCII text: bytes.translate through a 256-entry table, 255 marking unknown bytes
        self._ascii_table = None
        if len(vocab) + self.offset < 255:
            table = bytearray([255]) * 256
            for i, char in enumerate(vocab):
                if ord(char) < 128:
                    table[ord(char)] = i + self.offset
            self._ascii_table = bytes(table)

    @classmethod
    def fit(cls, text: str, specials: bool = False) -> "CharCodec":
        """The sorted characters of ``text``."""
        return cls.fit_chunks([text], specials)

    @classmethod
    def fit_chunks(cls, chunks: Iterable[str], specials: bool = False) -> "CharCodec":
        """The sorted characters of the text in ``chunks``: the code points a ``bincount`` finds
        in each (in an ASCII chunk, over the bytes of characters not seen before)."""
        seen = torch.zeros(sys.maxunicode + 1, dtype=torch.bool)
        for text in chunks:
            if text.isascii():
                known = bytes(seen[:128].nonzero().flatten().tolist())
                points = read_only_tensor(text.encode("ascii").translate(None, known), torch.uint8)
            else:
                points = code_points(text)
            counts = torch.bincount(points)
            seen[: counts.numel()] |= counts > 0
        return cls("".join(map(chr, seen.nonzero().flatten().tolist())), specials)

    @property
    def size(self) -> int:
        return len(self.vocab) + self.offset

    def encode(self, text: str, what: str = "text") -> Tensor:
        """Token ids (int64) of ``text``; unknown characters are an error naming them."""
        return self.encode_corpus(text, what).long()

    def encode_corpus(self, text: str, what: str = "the corpus") -> Tensor:
        """Token ids in a compact type (uint8 for ASCII text and a small vocabulary, else
        int32) by a lookup table over code points, or over bytes for ASCII text."""
        if text.isascii() and self._ascii_table is not None:
            ids = read_only_tensor(text.encode("ascii").translate(self._ascii_table),
                                   torch.uint8)
            if not (ids == 255).any():
                return ids.clone()
        points = code_points(text)
        table = self._table
        if points.numel() and int(points.max()) >= table.numel():  # beyond the vocabulary
            table = torch.cat([table, table.new_full((int(points.max()) + 1 - table.numel(),),
                                                     -1)])
        ids = table.index_select(0, points)  # 7x faster than table[points] (int32 indices)
        unknown = ids < 0
        if unknown.any():
            raise UnknownCharactersError(what, [chr(c) for c in points[unknown].unique().tolist()])
        return ids + self.offset if self.offset else ids

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

    def encode_items(self, texts: list[str]) -> list[Tensor]:
        """All items encoded in one pass, then split."""
        ids = self.encode_corpus("".join(texts))
        return list(torch.split(ids.to(torch.int32), [len(t) for t in texts]))

    def translate(self, ids: Tensor, source: TextCodec, what: str = "text") -> Tensor:
        """Ids of ``source``'s vocabulary as ids of this one (special tokens kept)."""
        if not isinstance(source, CharCodec):
            return super().translate(ids, source, what)
        table = torch.cat([torch.arange(source.offset), self.encode(source.vocab, what)])
        return table[ids.long()].to(torch.int32)

    def default_primer(self) -> str:
        """What sampling a stream starts from when no primer is given: a newline."""
        return "\n" if "\n" in self.vocab else self.vocab[0]

    def describe_vocabulary(self) -> str:
        specials = "PAD, BOS, EOS and " if self.specials else ""
        return (f"{self.size} tokens: {specials}{len(self.vocab)} characters: "
                f"{describe_chars(list(self.vocab), limit=100)}")

    def to_json(self) -> dict:
        data = {"name": self.name, "vocab": self.vocab}
        return {**data, "specials": True} if self.specials else data

    @classmethod
    def from_json(cls, data: dict) -> "CharCodec":
        if data.get("name") != cls.name:
            raise ValueError(f"not a {cls.name} codec: {data.get('name')!r}")
        return cls(data["vocab"], bool(data.get("specials", False)))
