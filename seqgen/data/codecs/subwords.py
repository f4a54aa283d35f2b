"""Codecs whose vocabulary is learned from the text, on Hugging Face ``tokenizers`` (a fast,
well-kept Rust library): byte-level BPE (``bpe``) and words (``words``).

Both are fitted on the training part of a corpus only (``fits_training_split``), never put a
line break inside a token (so a corpus streams through them in chunks cut after line breaks,
encoded in parallel), and are stored in a checkpoint as the tokenizer's own JSON: reading one
back builds a tokenizer from data and runs no code.
"""

import json
from codecs import getincrementaldecoder
from collections.abc import Iterable

import numpy as np
import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from torch import Tensor

from seqgen.data.codecs.base import TextCodec, TokenStream
from seqgen.files import first_line

SPECIALS = ("<pad>", "<s>", "</s>")  # ids 0, 1, 2 (PAD, BOS, EOS) of a codec of items
UNKNOWN = "<unk>"  # the words codec's token for a word its vocabulary lacks
PIECE_CHARS = 1 << 16  # text is encoded in pieces of about this many characters, in parallel
WORDS = Regex(r" ?\w+| ?[^\w\s]|\s")  # a word or a punctuation mark (with the space before it)
MAX_WORDS = 2**31 - 1  # no limit on the words codec's vocabulary but min_count


def line_pieces(text: str, size: int = PIECE_CHARS) -> list[str]:
    """``text`` cut after line breaks into pieces of about ``size`` characters (longer where a
    line is), to encode in parallel: no token of these codecs spans a line break."""
    pieces, start = [], 0
    while start < len(text):
        end = text.find("\n", start + size) + 1 or len(text)
        pieces.append(text[start:end])
        start = end
    return pieces


def whole_number(name: str, value: object, low: int) -> int:
    """A codec option that must be a whole number of at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be a whole number of at least {low}, not {value!r}")
    return value


def byte_symbols() -> dict[str, int]:
    """The printable character byte-level BPE writes for each byte (GPT-2's table), to the
    byte it stands for."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
            *range(ord("®"), ord("ÿ") + 1)]
    moved = [b for b in range(256) if b not in kept]
    return {**{chr(b): b for b in kept}, **{chr(256 + i): b for i, b in enumerate(moved)}}


class TokenizerCodec(TextCodec):
    """A codec over a ``tokenizers.Tokenizer``: the two codecs below differ in how they are
    trained and what a token is."""

    fits_training_split = True
    model_type = ""  # the tokenizer model's type in its JSON

    def __init__(self, tokenizer: Tokenizer, specials: bool = False) -> None:
        self.tokenizer, self.specials = tokenizer, specials

    @classmethod
    def trained(cls, chunks: Iterable[str], specials: bool, tokenizer: Tokenizer,
                trainer: trainers.Trainer) -> "TokenizerCodec":
        """The codec of ``tokenizer`` trained on ``chunks`` of text."""
        tokenizer.train_from_iterator(
            (piece for chunk in chunks for piece in line_pieces(chunk)), trainer)
        return cls(tokenizer, specials)

    @property
    def size(self) -> int:
        return self.tokenizer.get_vocab_size()

    @property
    def num_specials(self) -> int:
        return len(SPECIALS) if self.specials else 0

    def encode(self, text: str, what: str = "text") -> Tensor:
        return self.encode_corpus(text).long()

    def encode_corpus(self, text: str) -> Tensor:
        """Token ids (int32), the text's pieces encoded in parallel."""
        return torch.cat([torch.zeros(0, dtype=torch.int32), *self.encode_items(line_pieces(text))])

    def encode_items(self, texts: list[str]) -> list[Tensor]:
        encodings = self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        return [torch.from_numpy(np.asarray(e.ids, dtype=np.int32)) for e in encodings]

    def decode(self, ids: Tensor | list[int]) -> str:
        """The text of ``ids``; PAD and BOS are left out, and EOS ends the text."""
        ids = ids.tolist() if isinstance(ids, Tensor) else list(ids)
        if self.specials:
            ids = [i for i in ids[: ids.index(self.EOS) if self.EOS in ids else len(ids)]
                   if i >= self.num_specials]
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def to_json(self) -> dict:
        """The tokenizer's own JSON (vocabulary, merges, pre-tokenizer, decoder)."""
        return {"name": self.name, "specials": self.specials,
                "tokenizer": json.loads(self.tokenizer.to_str())}

    @classmethod
    def from_json(cls, data: dict) -> "TokenizerCodec":
        """A codec from its JSON: a ValueError in one line for a damaged one."""
        if data.get("name") != cls.name:
            raise ValueError(f"not a {cls.name} codec: {data.get('name')!r}")
        stored = data.get("tokenizer")
        found = stored.get("model", {}).get("type") if isinstance(stored, dict) else None
        if found != cls.model_type:
            raise ValueError(f"its tokenizer JSON is damaged: a {cls.model_type} model was "
                             f"expected, not {found!r}")
        try:
            tokenizer = Tokenizer.from_str(json.dumps(stored))
        except Exception as exc:  # tokenizers raises a bare Exception for malformed JSON
            raise ValueError(f"its tokenizer JSON is damaged: {first_line(exc)}") from None
        codec = cls(tokenizer, bool(data.get("specials", False)))
        if codec.specials and [tokenizer.id_to_token(i) for i in range(3)] != list(SPECIALS):
            raise ValueError(f"its tokenizer JSON is damaged: ids 0-2 are not {SPECIALS}")
        return codec

    def special_note(self) -> str:
        return "PAD, BOS, EOS, " if self.specials else ""


class ByteStream(TokenStream):
    """The text of byte-level tokens given one at a time: their bytes decoded as UTF-8 as they
    come, a character a token leaves unfinished held back until the next token completes it
    (never half a character); invalid bytes become U+FFFD, as ``decode`` makes them."""

    def __init__(self, token_bytes: list[bytes]) -> None:
        self.token_bytes = token_bytes
        self.decoder = getincrementaldecoder("utf-8")(errors="replace")

    def step(self, token: int) -> str:
        return self.decoder.decode(self.token_bytes[token])

    def finish(self) -> str:
        return self.decoder.decode(b"", final=True)


class BpeCodec(TokenizerCodec):
    """Byte-level BPE (GPT-2's): the 256 bytes, then pieces merged from the most frequent
    pairs of the training text up to ``vocab_size`` tokens. Every text encodes: no unknown
    token. A token may end inside a character (a multi-byte one)."""

    name = "bpe"
    model_type = "BPE"

    @classmethod
    def fit(cls, text: str, specials: bool = False, vocab_size: int = 1024,
            min_frequency: int = 2) -> "BpeCodec":
        return cls.fit_chunks([text], specials, vocab_size, min_frequency)

    @classmethod
    def fit_chunks(cls, chunks: Iterable[str], specials: bool = False, vocab_size: int = 1024,
                   min_frequency: int = 2) -> "BpeCodec":
        """Merges learned from the text: a ValueError for a ``vocab_size`` below the byte
        alphabet or above what the text makes (pairs seen ``min_frequency`` times)."""
        least = 256 + (len(SPECIALS) if specials else 0)
        if whole_number("vocab_size", vocab_size, 1) < least:
            raise ValueError(f"vocab_size={vocab_size} is below the byte alphabet: byte-level "
                             f"BPE needs at least {least} tokens (the 256 bytes"
                             f"{' and PAD, BOS, EOS' if specials else ''})")
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split("\n", "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False)])
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, min_frequency=whole_number("min_frequency", min_frequency, 1),
            special_tokens=list(SPECIALS) if specials else [], show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        codec = cls.trained(chunks, specials, tokenizer, trainer)
        if codec.size < vocab_size:
            raise ValueError(f"vocab_size={vocab_size} is more than the training text makes: "
                             f"{codec.size} tokens from pairs seen at least {min_frequency} "
                             f"times; use vocab_size={codec.size} or less")
        return codec

    def token_bytes(self) -> list[bytes]:
        """The bytes of text each id stands for (none for PAD, BOS, EOS)."""
        symbols = byte_symbols()
        return [b"" if i < self.num_specials else
                bytes(symbols[c] for c in self.tokenizer.id_to_token(i))
                for i in range(self.size)]

    def char_lengths(self) -> Tensor:
        """The characters each token starts (its bytes that are not UTF-8 continuation
        bytes): over a whole text, its number of characters."""
        lengths = torch.tensor([sum((b & 0xC0) != 0x80 for b in token)
                                for token in self.token_bytes()])
        if self.specials:
            lengths[self.EOS] = 1
        return lengths

    def token_stream(self) -> ByteStream:
        return ByteStream(self.token_bytes())

    def describe_vocabulary(self) -> str:
        merged = self.size - 256 - self.num_specials
        return (f"{self.size} tokens (byte-level BPE): {self.special_note()}256 bytes and "
                f"{merged} merged pieces")


class WordLevelCodec(TokenizerCodec):
    """Words and punctuation marks, each with the space before it (so spacing round-trips),
    case kept; every other whitespace character is a token of its own. Words seen fewer than
    ``min_count`` times in the training text are the unknown token ``<unk>``."""

    name = "words"
    model_type = "WordLevel"

    @classmethod
    def fit(cls, text: str, specials: bool = False, min_count: int = 2) -> "WordLevelCodec":
        return cls.fit_chunks([text], specials, min_count)

    @classmethod
    def fit_chunks(cls, chunks: Iterable[str], specials: bool = False,
                   min_count: int = 2) -> "WordLevelCodec":
        """The words of the text seen ``min_count`` times; a ValueError if there are none."""
        reserved = [*SPECIALS, UNKNOWN] if specials else [UNKNOWN]
        tokenizer = Tokenizer(models.WordLevel(unk_token=UNKNOWN))
        tokenizer.pre_tokenizer = pre_tokenizers.Split(WORDS, behavior="isolated")
        tokenizer.decoder = decoders.Fuse()
        trainer = trainers.WordLevelTrainer(
            vocab_size=MAX_WORDS, min_frequency=whole_number("min_count", min_count, 1),
            special_tokens=reserved, show_progress=False)
        codec = cls.trained(chunks, specials, tokenizer, trainer)
        if codec.size == len(reserved):
            raise ValueError(f"min_count={min_count} leaves an empty vocabulary: no word of "
                             f"the training text occurs {min_count} times; lower min_count")
        return codec

    def encode_chars(self, text: str) -> Tensor:
        """The characters each token stands for, from where it is in the text: an unknown
        word's own length (``<unk>`` stands for words of any length, so its id does not
        tell)."""
        encodings = self.tokenizer.encode_batch(line_pieces(text), add_special_tokens=False)
        return torch.cat([torch.zeros(0, dtype=torch.int32), *(
            torch.from_numpy(np.diff(np.asarray(e.offsets, dtype=np.int32).reshape(-1, 2))
                             .ravel()) for e in encodings)])

    def describe_vocabulary(self) -> str:
        return (f"{self.size} tokens: {self.special_note()}{UNKNOWN} and "
                f"{self.size - 1 - self.num_specials} words and punctuation marks")

