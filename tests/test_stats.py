"""Music and text statistics: features with known answers, set comparisons, text overlap."""

import json
import math
from statistics import NormalDist

import numpy as np
import pytest

from seqgen.data.codecs.midi import notes_to_midi
from seqgen.data.notes import Note
from seqgen.errors import SeqgenError, UsageError
from seqgen.media.music_stats import (
    FEATURES,
    PIECE_FEATURES,
    compare_music,
    music_stats,
    overlap_and_kl,
    piece_features,
    pieces_stats,
)
from seqgen.media.text_stats import (
    read_text_corpus,
    read_text_samples,
    text_set_stats,
    text_stats,
)

C4, E4, G4 = 60, 64, 67


def scalar(features: dict[str, np.ndarray], name: str) -> float:
    return float(features[name][0])


def melody(rng: np.random.Generator, lowest: int, notes: int = 12) -> list[Note]:
    """Notes one after another, pitches among the 8 from ``lowest``, random lengths."""
    result, time = [], 0.0
    for _ in range(notes):
        length = float(rng.choice([0.25, 0.5, 1.0]))
        result.append(Note(int(rng.integers(lowest, lowest + 8)), time, time + length,
                           int(rng.integers(60, 100))))
        time += length
    return result


def melodies(seed: int, lowest: int, pieces: int = 40) -> list[list[Note]]:
    rng = np.random.default_rng(seed)
    return [melody(rng, lowest) for _ in range(pieces)]


# ---- features of a piece ---------------------------------------------------------------------


def test_three_notes_in_turn_have_exact_features():
    notes = [Note(C4, 0.0, 0.5, 60), Note(E4, 0.5, 1.0, 80), Note(G4, 1.0, 1.5, 100)]
    features = piece_features(notes)
    histogram = np.zeros(12)
    histogram[[0, 4, 7]] = 1 / 3
    assert features["pitch_class_histogram"] == pytest.approx(histogram)
    assert scalar(features, "pitch_count") == 3
    assert scalar(features, "pitch_range") == 7
    assert scalar(features, "mean_pitch") == pytest.approx((C4 + E4 + G4) / 3)
    assert scalar(features, "note_density") == pytest.approx(2.0)  # 3 notes in 1.5 s
    assert scalar(features, "polyphony") == pytest.approx(1.0)
    assert scalar(features, "inter_onset_interval") == pytest.approx(0.5)
    assert scalar(features, "note_duration") == pytest.approx(0.5)
    assert scalar(features, "velocity") == pytest.approx(80)


def test_polyphony_is_time_weighted_and_leaves_rests_out():
    # A triad for 1 s, a note for 3 s, a rest of 1 s, a note for 1 s: 7 note-seconds over
    # 5 sounding seconds (at onsets it would be (3 + 1 + 1) / 3).
    notes = [Note(p, 0.0, 1.0, 64) for p in (C4, E4, G4)]
    notes += [Note(C4, 1.0, 4.0, 64), Note(G4, 5.0, 6.0, 64)]
    features = piece_features(notes)
    assert scalar(features, "polyphony") == pytest.approx(7 / 5)
    assert scalar(features, "note_density") == pytest.approx(5 / 6)
    assert scalar(features, "inter_onset_interval") == pytest.approx((1 + 4) / 2)
    assert scalar(features, "note_duration") == pytest.approx(7 / 5)
    assert scalar(features, "pitch_count") == 3


def test_a_single_chord_has_no_inter_onset_interval():
    features = piece_features([Note(p, 0.0, 2.0, 64) for p in (C4, E4, G4)])
    assert math.isnan(scalar(features, "inter_onset_interval"))
    assert scalar(features, "polyphony") == pytest.approx(3.0)


# ---- sets of files ---------------------------------------------------------------------------


def test_midi_files_are_found_recursively_read_and_bad_ones_skipped(tmp_path):
    triad = [Note(C4, 0.0, 0.5, 60), Note(E4, 0.5, 1.0, 80), Note(G4, 1.0, 1.5, 100)]
    low = [Note(40, 0.0, 1.0, 70), Note(52, 1.0, 3.0, 70)]
    (tmp_path / "deep").mkdir()
    notes_to_midi(triad).save(tmp_path / "a.mid")
    notes_to_midi(low).save(tmp_path / "deep" / "b.MIDI")
    (tmp_path / "broken.mid").write_bytes(b"not midi at all")
    (tmp_path / "notes.txt").write_text("ignored")
    calls = []
    stats = music_stats(tmp_path, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert stats.pieces == 2
    assert stats.skipped == [(str(tmp_path / "broken.mid"), "not a MIDI file (bad header)")]
    expected = pieces_stats([triad, low])
    for name in FEATURES:
        assert stats.values[name] == pytest.approx(expected.values[name], abs=1e-3,
                                                   nan_ok=True), name
    assert stats.mean("pitch_range") == pytest.approx((7 + 12) / 2)
    assert stats.std("pitch_range") == pytest.approx(2.5)
    assert len(stats.mean("pitch_class_histogram")) == 12
    assert music_stats(tmp_path / "a.mid").pieces == 1


def test_paths_without_midi_files_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="corpus not found: .*missing \\(give a file or a "
                                         "folder of .mid, .midi files\\)"):
        music_stats(tmp_path / "missing")
    with pytest.raises(UsageError, match="no .mid, .midi files in"):
        music_stats(tmp_path)
    (tmp_path / "song.txt").write_text("la la")
    with pytest.raises(SeqgenError, match="no usable MIDI file: 1 skipped \\(1 truncated file"):
        music_stats(tmp_path / "song.txt")
    (tmp_path / "bad.mid").write_bytes(b"")
    with pytest.raises(SeqgenError, match="no usable MIDI file: 1 skipped"):
        music_stats([tmp_path / "bad.mid"])


# ---- comparing sets --------------------------------------------------------------------------


def test_a_set_against_itself_overlaps_almost_fully():
    pieces = pieces_stats(melodies(seed=0, lowest=60))
    for row in compare_music(pieces, pieces):
        # The inter-set distances hold the 40 zero distances of each piece to itself.
        assert row.overlap_a == row.overlap_b > 0.9, row.feature
        assert row.kl_a == row.kl_b < 0.1, row.feature
        assert row.mean_a == row.mean_b


def test_two_sets_from_one_source_overlap_and_distant_registers_do_not():
    low = pieces_stats(melodies(seed=1, lowest=40))
    low_again = pieces_stats(melodies(seed=2, lowest=40))
    high = pieces_stats(melodies(seed=3, lowest=80))
    alike = {row.feature: row for row in compare_music(low, low_again)}
    apart = {row.feature: row for row in compare_music(low, high)}
    assert list(alike) == list(PIECE_FEATURES)  # one-track pieces have no harmony features
    for name in alike:
        assert alike[name].overlap_a > 0.8 and alike[name].kl_a < 0.2, name
    register = apart.pop("mean_pitch")
    assert register.overlap_a < 0.01 and register.overlap_b < 0.01
    assert register.kl_a > 10 and register.kl_b > 10
    assert register.mean_a < 48 < 80 < register.mean_b
    # Pitch classes 4-11 against 8-11 and 0-3: half shared.
    classes = apart.pop("pitch_class_histogram")
    assert classes.overlap_a < 0.6 and classes.kl_a > 1
    for name, row in apart.items():  # ranges, rhythms and velocities come from one source
        assert row.overlap_a > 0.8 and row.kl_a < 0.2, name


def test_kde_overlap_and_kl_of_shifted_gaussians():
    # Evenly spaced quantiles of N(0, 1), and the same shifted by 1: the estimates are
    # N(0, s2) and N(1, s2) with s2 the sample variance plus the squared bandwidth.
    n = 500
    x = np.array([NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)])
    s2 = np.var(x) + (np.std(x, ddof=1) * n ** -0.2) ** 2
    overlap, kl = overlap_and_kl(x, x + 1)
    assert overlap == pytest.approx(2 * NormalDist().cdf(-0.5 / math.sqrt(s2)), abs=0.005)
    assert kl == pytest.approx(1 / (2 * s2), abs=0.03)


def test_overlap_and_kl_limits():
    x = np.array([0.0, 1.0, 3.0])
    assert overlap_and_kl(x, x) == pytest.approx((1.0, 0.0))
    assert overlap_and_kl(np.full(4, 2.0), np.full(5, 2.0)) == (1.0, 0.0)
    overlap, kl = overlap_and_kl(np.zeros(4), np.full(4, 40.0))
    assert overlap < 1e-6 and kl > 100
    assert all(math.isnan(v) for v in overlap_and_kl(np.array([1.0]), x))


def test_sets_too_small_for_distances_give_null_in_json():
    two = pieces_stats(melodies(seed=4, lowest=60, pieces=2))
    rows = compare_music(two, pieces_stats(melodies(seed=5, lowest=60, pieces=5)))
    assert all(math.isnan(row.overlap_a) and not math.isnan(row.overlap_b) for row in rows)
    encoded = json.loads(json.dumps([row.to_json() for row in rows], allow_nan=False))
    assert encoded[0]["overlap_a"] is None and len(encoded[0]["mean_a"]) == 12
    assert json.dumps(two.to_json(), allow_nan=False)


# ---- text ------------------------------------------------------------------------------------


def test_ngram_overlap_counts_occurrences_within_each_sample():
    result = text_stats(["abx", "b"], "abcab")
    # 1-grams a b x b: 3 of 4; 2-grams ab bx: 1 of 2; 3-grams abx: 0 of 1; no 4-grams.
    assert result.char_overlap[1] == pytest.approx(3 / 4)
    assert result.char_overlap[2] == pytest.approx(1 / 2)
    assert result.char_overlap[3] == 0
    assert math.isnan(result.char_overlap[4])


def test_words_known_unknown_and_word_ngrams():
    corpus = "the cat sat on the mat\nthe dog ran\n"
    result = text_stats(["the cat ran", "the zorg sat on the blorp"], corpus)
    assert result.word_overlap[1] == pytest.approx(7 / 9)
    assert result.unknown_words == ["zorg", "blorp"]
    # bigrams: the cat / cat ran / the zorg / zorg sat / sat on / on the / the blorp
    assert result.word_overlap[2] == pytest.approx(3 / 7)
    # trigrams: the cat ran / the zorg sat / zorg sat on / sat on the / on the blorp
    assert result.word_overlap[3] == pytest.approx(1 / 5)


def test_verbatim_substrings_and_exact_items_count_as_copies():
    corpus = "the cat sat on the mat\nthe dog ran\n"
    result = text_stats(["cat sat on", "the dog flew", " ", "dog ran"], corpus)
    assert result.copies == 2
    assert result.item_copies is None
    items = text_stats(["Ann", "Bob", "Carl"], "Anna\nBob\n", corpus_items=["Anna", "Bob"])
    assert (items.copies, items.item_copies) == (2, 1)
    assert json.dumps(items.to_json(), allow_nan=False)


def test_text_set_stats():
    stats = text_set_stats(["ab ab", "cd"])
    assert (stats.samples, stats.distinct_characters, stats.words) == (2, 5, 3)
    assert stats.mean_length == pytest.approx(3.5)
    assert stats.type_token_ratio == pytest.approx(2 / 3)
    assert math.isnan(text_set_stats([]).type_token_ratio)


def test_reading_samples_from_files_and_folders(tmp_path):
    file = tmp_path / "samples.txt"
    file.write_text("First:\nline one\n\n  \nSecond\n\n\nThird\n")
    assert read_text_samples(file) == ["First:\nline one", "Second", "Third"]
    assert read_text_samples(file, items=True) == ["First:", "line one", "Second", "Third"]
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("one\n\ntwo\n")
    (folder / "sub" / "b.txt").write_text("three\n")
    (folder / "empty.txt").write_text("\n")
    assert read_text_samples(folder) == ["one\n\ntwo", "three"]
    with pytest.raises(UsageError, match="nope not found"):
        read_text_samples(tmp_path / "nope")
    with pytest.raises(UsageError, match="no text samples in"):
        read_text_samples(folder / "empty.txt")


def test_reading_a_corpus_of_lines_or_a_stream(tmp_path):
    (tmp_path / "names").mkdir()
    (tmp_path / "names" / "seqgen.json").write_text('{"items": "lines"}')
    (tmp_path / "names" / "a.txt").write_text("Anna\nBob\n")
    (tmp_path / "names" / "b.txt").write_text("Carl\n")
    text, items = read_text_corpus(tmp_path / "names")
    assert items == ["Anna", "Bob", "Carl"]
    assert "Bob\n" in text and "Carl" in text
    (tmp_path / "play.txt").write_text("A:\nSpeak.\n\nB:\nNo.\n")  # a blank line: a stream
    assert read_text_corpus(tmp_path / "play.txt") == ("A:\nSpeak.\n\nB:\nNo.\n", None)
