"""Reading a corpus with a registered codec: ``load_corpus`` picks how, from its declaration
and its files (``seqgen.data.declaration``), and gives one of the three kinds of corpus:

- ``TextCorpus`` (``seqgen.data.streams``): text as one stream of tokens, larger than memory
  if need be;
- ``TextItemCorpus`` (``seqgen.data.items``): a text corpus's lines or files, each an item;
- ``FileCorpus`` (``seqgen.data.items``): the files a codec reads (MIDI, a plugin's format),
  each an item, read in worker processes (``seqgen.data.workers``).

Each is encoded to token ids once and cached (``seqgen.data.cache``), may carry item labels,
splits into training and validation data (``corpus.split``: ``seqgen.data.splits``) and
describes itself (``corpus.describe``). Corpora of pairs are ``seqgen.data.pairs``'. Codecs
are known only through their contract (``seqgen.data.codecs.base``).
"""

from pathlib import Path

from seqgen.config import ITEM_KINDS, one_of
from seqgen.data.codecs.base import TextCodec, get_codec
from seqgen.data.declaration import (
    DECLARATION,
    check_detected_text,
    declared_options,
    declares_pairs,
    detect_format,
    detect_items,
    read_declaration,
)
from seqgen.data.items import FileCorpus, TextItemCorpus, load_file_corpus, load_text_items
from seqgen.data.streams import TextCorpus, load_text_corpus
from seqgen.data.workers import FileProgress
from seqgen.errors import UsageError
from seqgen.plugins import check_option_names

Corpus = TextCorpus | TextItemCorpus | FileCorpus


def load_corpus(path: str | Path, format: str | None = None,
                codec_options: dict[str, object] | None = None, *, items: str | None = None,
                label_from: str | None = None, strict: bool = False,
                progress: FileProgress | None = None, cache_dir: Path | None = None,
                val_fraction: float = 0.1, fitted: TextCodec | None = None) -> Corpus:
    """Load a corpus with a registered codec (``format``). What a flag leaves open comes from
    the corpus's own ``seqgen.json`` (keys ``format``, ``items``, ``label_from``), else from
    its files. A codec fitted on the training part of the text is fitted on all but the last
    ``val_fraction`` of it, unless ``fitted`` is given (a checkpoint's codec) to encode with."""
    path = Path(path)
    declared = read_declaration(path)
    if declares_pairs(declared):
        raise UsageError(f"{path} is a corpus of pairs (its {DECLARATION} says so): train it "
                         "with --arch encoder-decoder")
    format = format or declared.get("format") or detected_format(path)
    codec_class = get_codec(format).cls
    label_from = label_from or declared.get("label_from")
    options = declared_options(declared, codec_class, codec_options)
    check_option_names(options, codec_class.default_options(), f"the {format} codec")
    if not codec_class.reads_text:  # a file codec reads its own files
        try:
            codec = codec_class.from_options(**options)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"the {format} codec: {exc}") from None
        return load_file_corpus(path, codec, strict=strict, progress=progress,
                                cache_dir=cache_dir, label_from=label_from)
    items = items or declared.get("items") or detect_items(path, codec_class.suffixes)
    one_of(ITEM_KINDS, items=items)
    if items == "stream":
        if label_from:
            raise UsageError("labels belong to items: give --items lines or --items files "
                             "with --label-from")
        return load_text_corpus(path, codec_class, options, cache_dir=cache_dir,
                                progress=progress, val_fraction=val_fraction, fitted=fitted)
    return load_text_items(path, codec_class, items, label_from, options, cache_dir=cache_dir,
                           val_fraction=val_fraction, fitted=fitted)


def detected_format(path: Path) -> str:
    """The format of a corpus that neither a flag nor its declaration names, from its files;
    read as text, its files must look like text, and not like pairs."""
    format = detect_format(path)
    codec_class = get_codec(format).cls
    if codec_class.reads_text:
        check_detected_text(path, codec_class.suffixes)
    return format
