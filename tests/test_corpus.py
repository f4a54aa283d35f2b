"""The character codec, text corpora, their cache, and batching for truncated BPTT."""

import json
import os
import random

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

import seqgen
from seqgen.data import text as text_module
from seqgen.data.batching import IGNORE, item_batches, padding_fraction, read_rows, stream_batches
from seqgen.data.codecs.chars import CharCodec
from seqgen.data.corpus import load_corpus
from seqgen.data.splits import split_stream
from seqgen.data.streams import load_text_corpus
from seqgen.data.text import DecodedText
from seqgen.errors import UsageError
from tests.test_plugins import WordCodec


def test_codec_round_trip_and_sorted_vocabulary():
    text = "héllo wörld\n✓"
    codec = CharCodec.fit(text)
    ids = codec.encode(text)
    assert codec.vocab == "".join(sorted(set(text)))
    assert codec.decode(ids) == text
    assert CharCodec.from_json(codec.to_json()).vocab == codec.vocab


def test_encoding_unknown_characters_names_them():
    codec = CharCodec.fit("abc")
    with pytest.raises(UsageError, match="the primer has characters .*'z', 'é'"):
        codec.encode("abzé", what="the primer")


def test_folder_corpus_reads_txt_files_recursively_in_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.txt").write_text("aaa\n")
    (tmp_path / "b" / "c.txt").write_text("ccc\n")
    (tmp_path / "notes.md").write_text("ignored")
    corpus = load_text_corpus(tmp_path, CharCodec)
    assert [f.name for f in corpus.files] == ["a.txt", "c.txt"]
    assert corpus.codec.decode(corpus.ids) == "aaa\nccc\n"


def test_second_load_comes_from_the_cache_and_edits_invalidate_it(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("to be or not to be")
    first = load_text_corpus(path, CharCodec)
    second = load_text_corpus(path, CharCodec)
    assert not first.from_cache and second.from_cache
    assert torch.equal(first.ids, second.ids) and first.codec.vocab == second.codec.vocab
    path.write_text("to be or not to be?")
    third = load_text_corpus(path, CharCodec)
    assert not third.from_cache and "?" in third.codec.vocab


@pytest.mark.parametrize("damage", [lambda data: b"garbage", lambda data: data[:-5]])
def test_a_damaged_cache_is_ignored(tmp_path, damage):
    path = tmp_path / "c.txt"
    path.write_text("some unique text for the damaged cache test")
    load_text_corpus(path, CharCodec, cache_dir=tmp_path / "cache")
    for cached in (tmp_path / "cache").glob("*.safetensors"):
        cached.write_bytes(damage(cached.read_bytes()))
    again = load_text_corpus(path, CharCodec, cache_dir=tmp_path / "cache")
    assert not again.from_cache and again.codec.decode(again.ids).startswith("some unique")


def test_invalid_utf8_is_replaced_and_counted_in_a_warning(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok \xff\xfe then \xc3 end \xef\xbf\xbd")  # 3 bad sequences, 1 real U+FFFD
    with pytest.warns(UserWarning, match="3 invalid UTF-8 byte sequences"):
        corpus = load_text_corpus(path, CharCodec)
    assert corpus.invalid_bytes == 3
    assert corpus.codec.decode(corpus.ids).count("\ufffd") == 4


# ---- corpora larger than memory: chunked reading, a cache written as it is made ----------------

REPLACEMENT = "\ufffd".encode()
PIECES = [b"a", b" ", b"\n", b"\r\n", "é".encode(), "漢".encode(), "😀".encode(),
          "\ufeff".encode(), REPLACEMENT, b"\xff", b"\x80", b"\xc3", b"\xe6\xbc", b"\xf0\x9f\x98",
          b"\xe0\x80", b"\xed\xa0\x80"]  # characters, a BOM, a real U+FFFD, invalid sequences


def whole_decoding(data: bytes) -> tuple[str, int]:
    """The text of ``data`` decoded at once and its invalid sequences (replaced by U+FFFD)."""
    text = data.decode("utf-8", errors="replace")
    return text, text.count("\ufffd") - data.count(REPLACEMENT)


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 7])
def test_chunked_decoding_equals_decoding_whole(tmp_path, monkeypatch, chunk_bytes):
    monkeypatch.setattr(text_module, "CHUNK_BYTES", chunk_bytes)
    rng = random.Random(chunk_bytes)
    for _ in range(40):
        data = b"".join(rng.choices(PIECES, k=rng.randint(0, 40)))
        (tmp_path / "t.txt").write_bytes(data)
        decoded = DecodedText([tmp_path / "t.txt"])
        assert ("".join(decoded), decoded.invalid) == whole_decoding(data), data


@pytest.fixture
def mixed_text(tmp_path):
    """Two files of multi-byte characters, a real U+FFFD and invalid bytes; a character cut at
    the end of the first file is not completed by the second."""
    first = "\ufeffé漢😀 x\r\n".encode() * 5 + b"\xff\xfe" + REPLACEMENT + b" \xe6\xbc"
    second = b"\xbcok " + "漢字 é😀\n".encode() * 7 + b"\xc3"
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "a.txt").write_bytes(first)
    (tmp_path / "text" / "b.txt").write_bytes(second)
    texts = [whole_decoding(data) for data in (first, second)]
    return tmp_path / "text", "".join(t for t, _ in texts), sum(n for _, n in texts)


def test_a_stream_encoded_in_chunks_has_the_tokens_of_the_whole_text(mixed_text, monkeypatch,
                                                                     tmp_path):
    path, text, invalid = mixed_text
    monkeypatch.setattr(text_module, "CHUNK_BYTES", 7)
    told = []
    with pytest.warns(UserWarning, match=f"{invalid} invalid UTF-8"):
        corpus = load_text_corpus(path, CharCodec, cache_dir=tmp_path / "cache",
                                  progress=lambda *args: told.append(args))
    size = sum(f.stat().st_size for f in path.iterdir())
    assert told[-1] == (2 * size, 2 * size, "bytes")  # two passes over every byte
    assert [done for done, _, _ in told] == sorted(done for done, _, _ in told)
    whole = CharCodec.fit(text)
    assert corpus.codec.vocab == whole.vocab and corpus.invalid_bytes == invalid == 5
    assert torch.equal(corpus.ids.long(), whole.encode(text))
    with pytest.warns(UserWarning, match=f"{invalid} invalid UTF-8"):
        again = load_text_corpus(path, CharCodec, cache_dir=tmp_path / "cache")
    assert again.from_cache and torch.equal(again.ids, corpus.ids)
    assert again.codec.vocab == whole.vocab and again.invalid_bytes == invalid


def test_the_stream_cache_is_a_mapped_safetensors_file(tiny_corpus, monkeypatch, cache_dir):
    monkeypatch.setattr(text_module, "CHUNK_BYTES", 7)
    corpus = load_text_corpus(tiny_corpus, CharCodec, cache_dir=cache_dir / "mapped")
    (cache_file,) = (cache_dir / "mapped").glob("*.safetensors")
    stored = load_file(cache_file)
    assert np.array_equal(stored["ids"], corpus.ids.numpy())
    assert stored["meta"].tobytes().decode().startswith('{"codec"')
    assert torch.equal(read_rows(corpus.ids.view(1, -1), 3, 9)[0], corpus.ids[3:9])  # pread


def test_a_codec_without_fit_chunks_is_fitted_on_the_whole_text(tiny_corpus, monkeypatch):
    class LoggedCharCodec(CharCodec):
        @classmethod
        def fit(cls, text: str, specials: bool = False) -> CharCodec:
            return super().fit(text, specials)

    assert CharCodec.implements("fit_chunks")
    assert not LoggedCharCodec.implements("fit_chunks")  # its fit is newer
    assert not WordCodec.implements("fit_chunks")
    monkeypatch.setattr(text_module, "CHUNK_BYTES", 7)  # would cut words
    words = load_text_corpus(tiny_corpus, WordCodec)
    text = tiny_corpus.read_text()
    assert torch.equal(words.ids.long(), WordCodec.fit(text).encode(text))
    chars = load_text_corpus(tiny_corpus, LoggedCharCodec)
    assert chars.codec.decode(chars.ids) == text


def test_a_cache_that_cannot_be_written_keeps_the_corpus_in_memory(tiny_corpus, tmp_path):
    (tmp_path / "not-a-folder").write_text("")
    with pytest.warns(UserWarning, match="could not cache .* kept in memory"):
        corpus = load_text_corpus(tiny_corpus, CharCodec, cache_dir=tmp_path / "not-a-folder")
    assert corpus.codec.decode(corpus.ids) == tiny_corpus.read_text()


def test_a_cache_failing_at_the_end_is_removed_and_the_corpus_kept_in_memory(
        tiny_corpus, tmp_path, monkeypatch):
    def no_space(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.warns(UserWarning, match="could not cache .*No space left"):
        corpus = load_text_corpus(tiny_corpus, CharCodec, cache_dir=tmp_path / "cache")
    assert corpus.codec.decode(corpus.ids) == tiny_corpus.read_text()
    assert list((tmp_path / "cache").glob("*.safetensors")) == []


def test_a_failed_encoding_leaves_no_half_cache(tiny_corpus, monkeypatch, tmp_path):
    monkeypatch.setattr(text_module, "CHUNK_BYTES", 7)
    chunks = []

    def failing_encode(self, text, what="the corpus"):
        chunks.append(text)
        if len(chunks) == 3:
            assert any(".tmp-" in f.name for f in (tmp_path / "cache").iterdir())
            raise KeyboardInterrupt("third chunk")
        return CharCodec.encode(self, text, what)

    monkeypatch.setattr(CharCodec, "encode_corpus", failing_encode)
    with pytest.raises(KeyboardInterrupt, match="^third chunk$"):
        load_text_corpus(tiny_corpus, CharCodec, cache_dir=tmp_path / "cache")
    assert [f.name for f in (tmp_path / "cache").iterdir() if f.suffix != ".key"] == []


class LowerWords(WordCodec):
    """Words, lowercased on request (an option)."""

    name = "lowerwords"
    lowercase = False

    @classmethod
    def fit(cls, text: str, specials: bool = False, lowercase: bool = False) -> "LowerWords":
        codec = super().fit(text.lower() if lowercase else text, specials)
        codec.lowercase = lowercase
        return codec

    def encode(self, text: str, what: str = "text") -> torch.Tensor:
        return super().encode(text.lower() if self.lowercase else text, what)


class LowerWordsPlugin:
    @staticmethod
    @seqgen.hookimpl
    def register_codecs(register):
        register("lowerwords", LowerWords, aliases=("lw",))


def test_declared_codec_options_follow_the_codec_by_any_of_its_names(tmp_path, register_plugin):
    register_plugin(LowerWordsPlugin, "lower-words")
    (tmp_path / "play.txt").write_text("ROMEO: Hello.\n\nJULIET: Hi.\n")
    (tmp_path / "seqgen.json").write_text(json.dumps({"format": "lw",
                                                      "codec_options": {"lowercase": True}}))
    assert "romeo" in load_corpus(tmp_path).codec.vocab
    assert "romeo" in load_corpus(tmp_path, format="lowerwords").codec.vocab  # its other name
    assert "ROMEO" in load_corpus(tmp_path, codec_options={"lowercase": False}).codec.vocab
    # another codec: the options declared for lowerwords are not its own
    assert load_corpus(tmp_path, format="char").codec.vocab.startswith("\n .:EHIJLMORTU")


def test_missing_empty_and_txt_less_corpora_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="corpus not found"):
        load_text_corpus(tmp_path / "nope", CharCodec)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(UsageError, match="is empty"):
        load_text_corpus(tmp_path / "empty.txt", CharCodec)
    (tmp_path / "folder").mkdir()
    with pytest.raises(UsageError, match="no .txt files"):
        load_text_corpus(tmp_path / "folder", CharCodec)


def test_validation_split_is_the_last_fraction():
    ids = torch.arange(100)
    train, val = split_stream(ids, 0.1)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))
    with pytest.raises(UsageError, match="validation fraction must be between 0 and 1, not 1.5"):
        split_stream(ids, 1.5)


def test_a_stream_is_cut_into_contiguous_rows_with_next_token_targets():
    batches = stream_batches(torch.arange(41), 2, 6)  # rows of 20 tokens, 19 targets each
    assert len(batches) == 4 and batches.chunk(0).inputs[1, :3].tolist() == [20, 21, 22]
    seen = []
    for index in range(len(batches)):
        chunk = batches.chunk(index)
        assert torch.equal(chunk.targets, chunk.inputs + 1)
        assert chunk.fresh == (index == 0)
        seen += chunk.targets[0].tolist()
    assert seen == list(range(1, 20))


def test_items_are_grouped_by_length_padded_and_cut_into_chunks():
    items = [torch.tensor([1, 5, 6, 7, 2]), torch.tensor([1, 8, 2]),
             torch.tensor([1, 9, 9, 9, 9, 9, 9, 2]), torch.tensor([1, 4, 4, 2])]
    labels = torch.tensor([0, 1, 2, 3])
    batches = item_batches(items, batch_size=2, seq_len=3, pad=0, labels=labels)
    # sorted by length: [1, 3] then [0, 2]; the second group is 7 wide: chunks of 3, 3, 1
    assert [c.inputs.shape for c in batches.chunks] == [(2, 3), (2, 3), (2, 3), (2, 1)]
    assert [c.fresh for c in batches.chunks] == [True, True, False, False]
    first = batches.chunk(0)
    assert first.inputs.tolist() == [[1, 8, 0], [1, 4, 4]]
    assert first.targets.tolist() == [[8, 2, IGNORE], [4, 4, 2]]
    assert first.labels.tolist() == [1, 3]
    second = torch.cat([c.targets for c in batches.chunks[1:]], 1)
    assert second.tolist() == [[5, 6, 7, 2, IGNORE, IGNORE, IGNORE], [9, 9, 9, 9, 9, 9, 2]]
    assert batches.num_targets == 2 + 3 + 4 + 7
    assert padding_fraction(batches) == pytest.approx(1 - 16 / 20)


def test_shuffled_short_items_keep_every_item_once():
    items = [torch.tensor([1] + [5] * n + [2]) for n in range(1, 30)]
    batches = item_batches(items, 4, 32, 0, generator=torch.Generator().manual_seed(3))
    fresh = [c for c in batches.chunks if c.fresh]
    assert len(fresh) == len(batches) == 8  # 29 items in groups of 4, one chunk each
    assert sum(c.inputs.size(0) for c in fresh) == len(items)
    assert batches.num_targets == sum(i.numel() - 1 for i in items)


def test_long_items_are_packed_into_rows_starting_on_chunk_boundaries():
    items = [torch.tensor([1] + [7] * n + [2]) for n in (20, 3, 9, 14, 30)]
    labels = torch.tensor([0, 1, 2, 3, 4])
    batches = item_batches(items, 2, 8, 0, labels)  # median 16 > 8: packed
    assert all(c.inputs.shape == (2, 8) for c in batches.chunks)
    # longest first onto the row with the fewest chunks: 30 (4 chunks) -> row 0,
    # 20 (3) -> row 1, 14 (2) -> row 1, 9 (2) -> row 0, 3 (1) -> row 1
    starts = [c.reset.tolist() for c in batches.chunks]
    assert starts == [[True, True], [False, False], [False, False], [False, True],
                      [True, False], [False, True]]
    assert [c.labels.tolist() for c in batches.chunks] == [
        [4, 0], [4, 0], [4, 0], [4, 3], [2, 3], [2, 1]]
    assert batches.num_targets == sum(i.numel() - 1 for i in items)
