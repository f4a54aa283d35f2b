"""The character codec, text corpora, their cache, and batching for truncated BPTT."""

import pytest
import torch

from seqgen.batching import IGNORE, item_batches, padding_fraction, stream_batches
from seqgen.codec import CharCodec
from seqgen.corpus import load_text_corpus
from seqgen.data import split_stream
from seqgen.errors import UsageError


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
