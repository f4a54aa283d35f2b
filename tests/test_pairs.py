"""Corpora of pairs: text pairs (.tsv, .csv, a declared folder), MIDI tracks as pairs, their
bad input, splits, batches and augmentation."""

import json
import shutil

import pytest
import torch

from seqgen.data.codecs.base import Augmentation
from seqgen.data.codecs.midi import MidiCodec
from seqgen.data.corpus import load_corpus
from seqgen.data.pairs import load_pairs
from seqgen.data.splits import PairData
from seqgen.errors import UsageError
from tests.conftest import ROOT

CHORALES = ROOT / "corpora" / "bach-chorales"
PAIRS = "".join(f"{n}\t{' '.join(['one', 'two', 'three'][int(d) - 1] for d in str(n))}\n"
                for n in (1, 12, 3, 21, 23, 32, 13, 31, 2, 11, 33, 22))


@pytest.fixture
def pairs_file(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text(PAIRS, encoding="utf-8")
    return path


@pytest.fixture
def chorale_pairs(tmp_path):
    """Six chorales in a folder of their own."""
    folder = tmp_path / "chorales"
    folder.mkdir()
    for number in range(1, 7):
        shutil.copy(CHORALES / f"riemenschneider00{number}.mid", folder)
    return folder


def test_a_tsv_file_is_pairs_with_a_vocabulary_per_side(pairs_file, tmp_path):
    corpus = load_pairs(pairs_file, cache_dir=tmp_path / "cache")
    assert corpus.format == "char" and len(corpus.sources) == 12
    assert corpus.source_codec.vocab == "123" and corpus.codec.vocab == " ehnortw"
    assert corpus.source_codec.decode(corpus.sources[1]) == "12"
    assert corpus.codec.decode(corpus.targets[1]) == "one two"
    again = load_pairs(pairs_file, cache_dir=tmp_path / "cache")
    assert again.from_cache and not corpus.from_cache
    shared = load_pairs(pairs_file, shared_vocab=True, cache_dir=tmp_path / "cache")
    assert shared.source_codec is shared.codec and shared.codec.vocab == " 123ehnortw"


def test_a_csv_file_and_a_declared_folder(tmp_path):
    (tmp_path / "a.csv").write_text('"1, one",un\n2,deux\n', encoding="utf-8")
    corpus = load_pairs(tmp_path / "a.csv")
    assert [corpus.source_codec.decode(s) for s in corpus.sources] == ["1, one", "2"]
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "x.txt").write_text("a\tb\nc\td\n", encoding="utf-8")
    (folder / "seqgen.json").write_text(json.dumps({"items": "pairs", "shared_vocab": True}))
    declared = load_pairs(folder)
    assert declared.source_codec is declared.codec and len(declared.targets) == 2
    with pytest.raises(UsageError, match="is a corpus of pairs .* --arch encoder-decoder"):
        load_corpus(folder)


@pytest.mark.parametrize(("line", "message"), [
    ("12 one two", r"line 2: a pair is a source and a target with a tab between them"),
    ("\tone", r"line 2: the source is empty"),
    ("12\t ", r"line 2: the target is empty"),
])
def test_a_bad_pair_line_is_an_error_naming_it(tmp_path, line, message):
    path = tmp_path / "bad.tsv"
    path.write_text(f"1\tone\n{line}\n3\tthree\n", encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        load_pairs(path, cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.safetensors"))  # nothing half-written


def test_pairs_split_last_tenth_and_batch_by_length(pairs_file):
    train, val = load_pairs(pairs_file).split(0.25)
    assert len(train.targets) == 9 and len(val.targets) == 3
    assert train.layout(None, None).rows == 9
    assert train.layout(None, None).note == \
        "9 rows per batch, not 64: the training split has 9 pairs"
    assert train.layout(4, None).note == ""  # the rows asked for: nothing to explain
    chunks = list(train.batches(3, 100, train=True))
    assert len(chunks) == 3
    for chunk in chunks:
        assert chunk.fresh and chunk.source.size(0) == 3
        assert chunk.source_lengths.tolist() == [(row != 0).sum().item() for row in chunk.source]
        assert (chunk.inputs[:, 0] == train.codec.BOS).all()


def test_midi_tracks_become_pairs(chorale_pairs, tmp_path):
    by_name = load_pairs(chorale_pairs, source_track="soprano", cache_dir=tmp_path / "cache")
    by_index = load_pairs(chorale_pairs, source_track="1", cache_dir=tmp_path / "cache")
    assert len(by_index.sources) == 6 and by_index.source_codec is by_index.codec
    # riemenschneider006.mid names none of its tracks: skipped by name, read by index
    assert len(by_name.sources) == 5 and by_name.skipped == [
        ("riemenschneider006.mid", "no track 'soprano'; tracks with notes: 1, 2, 3, 4")]
    named = [by_index.files.index(f) for f in by_name.files]
    assert all(torch.equal(a, by_index.sources[i]) for a, i in zip(by_name.sources, named,
                                                                    strict=True))
    codec = MidiCodec()
    soprano, voices, stats = codec.read_pair(chorale_pairs / "riemenschneider001.mid", "Soprano")
    assert torch.equal(by_name.sources[0].long(), soprano)
    assert torch.equal(by_name.targets[0].long(), voices)
    assert stats["notes"] == len(codec.decode_notes(soprano)) + len(codec.decode_notes(voices))


def test_a_missing_source_track_lists_the_tracks(chorale_pairs):
    # the files' reasons counted together, their tracks gathered: one short line
    with pytest.raises(UsageError, match=r"with --source-track Sopran: 6 skipped \(6 no track "
                                         "'Sopran'; tracks with notes include: 1 'Soprano', "
                                         r"2 'Alto', 3 'Tenor', 4 'Bass', 1, 2, 3, 4\); give "
                                         "--source-track NAME or INDEX, a track these files "
                                         "have$"):
        load_pairs(chorale_pairs, source_track="Sopran")
    with pytest.raises(UsageError, match="give --source-track NAME or INDEX"):
        load_pairs(chorale_pairs)


def test_a_declared_harmony_corpus_reads_another_folders_files(tmp_path, chorale_pairs):
    folder = tmp_path / "harmony"
    folder.mkdir()
    (folder / "seqgen.json").write_text(json.dumps({"files": "../chorales",
                                                    "source_track": "Soprano"}))
    corpus = load_pairs(folder)
    assert len(corpus.sources) == 5 and corpus.source_track == "Soprano"


def test_augmentation_moves_both_sides_of_a_pair_together(chorale_pairs):
    corpus = load_pairs(chorale_pairs, source_track="Soprano")
    codec = corpus.codec
    pair = PairData(corpus.sources[:1], corpus.targets[:1], codec, codec,
                    Augmentation(transpose=5, stretch=0.0))
    melody, voices = (codec.decode_notes(side[0]) for side in (corpus.sources, corpus.targets))
    shifts = set()
    for epoch in range(4):
        chunk = next(iter(pair.batches(1, 10_000, epoch=epoch, seed=1, train=True)))
        source = codec.decode_notes(chunk.source[0])
        target = codec.decode_notes(chunk.targets[0][chunk.targets[0] >= 0])
        shift = source[0].pitch - melody[0].pitch
        assert [n.pitch - shift for n in source] == [n.pitch for n in melody]
        assert [n.pitch - shift for n in target] == [n.pitch for n in voices]
        shifts.add(shift)
    assert len(shifts) > 1
