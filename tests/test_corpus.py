"""The character codec, text corpora, their cache, and batching for truncated BPTT."""

import pytest
import torch

from seqgen.batching import batchify, get_chunk, num_chunks
from seqgen.codec import CharCodec
from seqgen.corpus import load_text_corpus, split_stream
from seqgen.errors import UsageError


def test_codec_round_trip_and_sorted_vocabulary():
    text = "héllo wörld\n✓"
    codec, ids = CharCodec.fit(text)
    assert codec.vocab == "".join(sorted(set(text)))
    assert codec.decode(ids) == text
    assert torch.equal(codec.encode(text).int(), ids)
    assert CharCodec.from_json(codec.to_json()).vocab == codec.vocab


def test_encoding_unknown_characters_names_them():
    codec, _ = CharCodec.fit("abc")
    with pytest.raises(UsageError, match="the primer has characters .*'z', 'é'"):
        codec.encode("abzé", what="the primer")


def test_folder_corpus_reads_txt_files_recursively_in_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.txt").write_text("aaa\n")
    (tmp_path / "b" / "c.txt").write_text("ccc\n")
    (tmp_path / "notes.md").write_text("ignored")
    corpus = load_text_corpus(tmp_path)
    assert [f.name for f in corpus.files] == ["a.txt", "c.txt"]
    assert corpus.codec.decode(corpus.ids) == "aaa\nccc\n"


def test_second_load_comes_from_the_cache_and_edits_invalidate_it(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("to be or not to be")
    first = load_text_corpus(path)
    second = load_text_corpus(path)
    assert not first.from_cache and second.from_cache
    assert torch.equal(first.ids, second.ids) and first.codec.vocab == second.codec.vocab
    path.write_text("to be or not to be?")
    third = load_text_corpus(path)
    assert not third.from_cache and "?" in third.codec.vocab


def test_a_damaged_cache_is_ignored(tmp_path, cache_dir):
    path = tmp_path / "c.txt"
    path.write_text("some unique text for the damaged cache test")
    load_text_corpus(path)
    for cached in cache_dir.glob("*.safetensors"):
        cached.write_bytes(b"garbage")
    again = load_text_corpus(path)
    assert not again.from_cache and again.codec.decode(again.ids).startswith("some unique")


def test_invalid_utf8_is_replaced_and_counted_in_a_warning(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok \xff\xfe then \xc3 end \xef\xbf\xbd")  # 3 bad sequences, 1 real U+FFFD
    with pytest.warns(UserWarning, match="3 invalid UTF-8 byte sequences"):
        corpus = load_text_corpus(path)
    assert corpus.invalid_bytes == 3
    assert corpus.codec.decode(corpus.ids).count("\ufffd") == 4


def test_missing_empty_and_txt_less_corpora_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="corpus not found"):
        load_text_corpus(tmp_path / "nope")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(UsageError, match="is empty"):
        load_text_corpus(tmp_path / "empty.txt")
    (tmp_path / "folder").mkdir()
    with pytest.raises(UsageError, match="no .txt files"):
        load_text_corpus(tmp_path / "folder")


def test_validation_split_is_the_last_fraction():
    ids = torch.arange(100)
    train, val = split_stream(ids, 0.1)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))
    with pytest.raises(UsageError):
        split_stream(ids, 1.5)


def test_batchify_makes_contiguous_parallel_streams():
    data = batchify(torch.arange(26), 4)
    assert data.shape == (4, 6) and data.dtype == torch.int64
    assert data[1].tolist() == [6, 7, 8, 9, 10, 11]


def test_chunks_cover_every_target_once_with_next_token_targets():
    data = batchify(torch.arange(40), 2)  # rows of 20 tokens
    seen = []
    for index in range(num_chunks(data, 6)):
        x, y = get_chunk(data, index, 6)
        assert torch.equal(y, x + 1)
        seen += y[0].tolist()
    assert seen == list(range(1, 20))
