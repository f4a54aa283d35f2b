"""What reading a text corpus takes, whether as one stream, as items or as pairs: its files
decoded as UTF-8 in chunks (invalid bytes replaced and counted, said once), a text codec fitted
on the text (whole, or chunk by chunk where it implements ``fit_chunks``), and the cache key of
an encoding (the codec class, its release and options, and for a codec fitted on the training
part, the split); and a corpus's ids in another codec's vocabulary (a checkpoint's).
"""

import hashlib
import json
import warnings
from codecs import getincrementaldecoder
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from torch import Tensor

from seqgen.data.codecs.base import Codec, TextCodec, codec_release
from seqgen.errors import UsageError

UTF8_REPLACEMENT = "\ufffd".encode()
CHUNK_BYTES = 4 << 20  # how much of a file is read (hashed, decoded, encoded) at a time


class DecodedText:
    """The text of files, read and decoded as UTF-8 in chunks of ``CHUNK_BYTES`` bytes (a
    character may span chunks, not files); each iteration is a pass over the files, telling
    ``bytes_read`` of each chunk. Invalid byte sequences become U+FFFD, and ``invalid`` counts
    them over the last pass."""

    def __init__(self, files: list[Path],
                 bytes_read: Callable[[int], None] | None = None) -> None:
        self.files, self.invalid, self.bytes_read = files, 0, bytes_read

    def __iter__(self) -> Iterator[str]:
        self.invalid = 0
        for file in self.files:
            yield from self.decode(file)

    def decode(self, file: Path) -> Iterator[str]:
        decoder = getincrementaldecoder("utf-8")(errors="replace")
        tail = b""  # the last bytes read: a U+FFFD in the file may span two chunks
        with open(file, "rb") as f:
            while True:
                data = f.read(CHUNK_BYTES)
                if self.bytes_read:
                    self.bytes_read(len(data))
                text = decoder.decode(data, final=not data)
                if replaced := text.count("\ufffd"):  # less the U+FFFD of the file itself
                    self.invalid += replaced - data.count(UTF8_REPLACEMENT) \
                        - (tail + data[:2]).count(UTF8_REPLACEMENT)
                tail = (tail + data[-2:])[-2:]
                if text:
                    yield text
                if not data:
                    return


def warn_invalid(path: Path, meta: dict) -> int:
    """The invalid UTF-8 byte sequences a text corpus had (replaced by U+FFFD), said once."""
    if invalid := meta["invalid"]:
        warnings.warn(f"corpus {path}: {invalid} invalid UTF-8 byte sequences were replaced "
                      "by U+FFFD", stacklevel=3)
    return invalid


def fit_codec(codec_class: type[TextCodec], text: str | Iterable[str], specials: bool,
              options: dict[str, object]) -> TextCodec:
    """A codec fitted on ``text``, or on its chunks in turn (``fit_chunks``)."""
    fit = codec_class.fit if isinstance(text, str) else codec_class.fit_chunks
    try:
        return fit(text, specials, **options)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"the {codec_class.name} codec: {exc}") from None


def text_cache_kind(kind: str, codec_class: type[TextCodec], options: dict,
                    split: str = "") -> str:
    return f"{kind}-{codec_class.__module__}.{codec_class.__name__}-" \
           f"{codec_release(codec_class)}-{json.dumps(options, sort_keys=True)}{split}"


def learned_split(codec_class: type[TextCodec], val_fraction: float,
                  fitted: TextCodec | None, labels: list[str] | None = None) -> str:
    """What else the encoding of a codec fitted on the training part depends on (for its cache
    key): the split, the labels that shape an item split, and the codec given to encode with."""
    if not codec_class.fits_training_split:
        return ""
    split = f"-val{val_fraction!r}-labels{json.dumps(labels)}"
    if fitted is None:
        return split
    digest = hashlib.sha256(json.dumps(fitted.to_json(), sort_keys=True).encode()).hexdigest()
    return f"{split}-codec{digest}"


def in_vocabulary(pieces: list[Tensor], own: Codec, wanted: Codec, path: Path) -> list[Tensor]:
    """Pieces of ``own``'s vocabulary in ``wanted``'s (a checkpoint's): a text codec's
    translated where the two differ; a file codec's as they are."""
    if not wanted.reads_text or wanted.to_json() == own.to_json():
        return pieces
    return [wanted.translate(p, own, what=f"corpus {path}") for p in pieces]
