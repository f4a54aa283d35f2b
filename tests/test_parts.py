"""The parts codec: tracks as parts on a grid, pairs of a source track and its voices, and a
corpus folder that declares its codec's options."""

import json
import shutil

import pytest
import torch

from seqgen.data.codecs.base import Augmentation, CodecFileError, get_codec
from seqgen.data.codecs.midi import MidiOptions, read_track_notes, tracks_to_midi
from seqgen.data.codecs.parts import HOLD, NOTE_BASE, REST, STEP, PartsCodec
from seqgen.data.corpus import load_corpus
from seqgen.data.notes import Note
from seqgen.data.pairs import load_pairs
from seqgen.errors import UsageError
from tests.conftest import ROOT

CHORALE = ROOT / "corpora/bach-chorales/riemenschneider001.mid"


def note(pitch: int, start: float, end: float) -> Note:
    return Note(pitch, start, end, 64)


def four_tracks(path, names=("Descant", "Soprano", "Alto", "Bass")):
    """A file of four one-note-per-beat tracks, a fifth apart from the top down."""
    tracks_to_midi([(name, [note(76 - 7 * i + beat, beat * 0.5, beat * 0.5 + 0.5)
                            for beat in range(4)]) for i, name in enumerate(names)]).save(path)
    return path


def test_a_step_is_a_token_per_part_then_step():
    codec = PartsCodec(step_ms=250)
    tokens = codec.encode_parts([[note(60, 0, 0.5), note(62, 0.5, 0.75)], [note(48, 0.25, 0.75)]])
    assert tokens.tolist() == [NOTE_BASE + 60, REST, STEP,
                               HOLD, NOTE_BASE + 48, STEP,
                               NOTE_BASE + 62, HOLD, STEP]
    assert [codec.token_name(t) for t in tokens[:3].tolist()] == ["NOTE_60", "REST", "STEP"]
    # only STEP moves time: the tokens' seconds add up to the grid
    assert float(codec.token_seconds()[tokens].sum()) == pytest.approx(0.75)


def test_a_chorale_decodes_to_its_parts_on_the_grid():
    codec = PartsCodec()
    tracks = read_track_notes(CHORALE, MidiOptions())
    tokens = codec.read(CHORALE)[0]
    parts = codec.decode_parts(tokens)
    assert len(parts) == len(tracks) == 4
    for part, track in zip(parts, tracks, strict=True):  # the chorale lies on the 1/8 s grid
        assert [(n.pitch, n.start, n.end) for n in part] == \
            [(n.pitch, round(n.start, 3), round(n.end, 3)) for n in track.notes]
    assert torch.equal(codec.encode_parts(parts), tokens)


def test_a_track_is_one_line():
    codec = PartsCodec(step_ms=250)
    # at one start the highest is kept; a later note cuts the one sounding
    tokens = codec.encode_parts([[note(60, 0, 1), note(64, 0, 0.5), note(67, 0.25, 1)]])
    assert [(n.pitch, n.start, n.end) for n in codec.decode_parts(tokens)[0]] == \
        [(64, 0, 0.25), (67, 0.25, 1.0)]


def test_decoding_ill_formed_tokens():
    codec = PartsCodec(step_ms=500)
    tokens = [codec.BOS, NOTE_BASE + 60, NOTE_BASE + 50, STEP,  # two parts
              HOLD, STEP,  # the second part left out: it rests
              HOLD, HOLD, STEP,  # a HOLD with nothing sounding is silent
              codec.EOS, NOTE_BASE + 70, STEP]
    parts = codec.decode_parts(torch.tensor(tokens))
    assert [[(n.pitch, n.start, n.end) for n in part] for part in parts] == \
        [[(60, 0.0, 1.5)], [(50, 0.0, 0.5)]]
    assert len(codec.decode_parts(torch.tensor(tokens), most=1)) == 1  # past it, none's


def test_any_number_of_parts_is_written(tmp_path):
    codec = PartsCodec()  # an untrained model may write a step of 20 parts
    codec.write(torch.tensor([NOTE_BASE + 40 + part for part in range(20)] + [STEP]),
                tmp_path / "many.mid")
    tracks = read_track_notes(tmp_path / "many.mid", MidiOptions())
    assert [t.notes[0].pitch for t in tracks] == list(range(40, 60))


def test_a_pair_is_the_source_track_and_the_voices_after_it(tmp_path):
    path = four_tracks(tmp_path / "four.mid")
    codec = PartsCodec(step_ms=500, voices=2)
    source, target, stats = codec.read_pair(path, "Soprano")
    assert stats == {"notes": 12, "seconds": 2.0}
    assert [n.pitch for n in codec.decode_parts(source)[0]] == [69, 70, 71, 72]
    alto, bass = codec.decode_parts(target)  # after the source, then from the start
    assert [n.pitch for n in alto] == [62, 63, 64, 65]
    assert [n.pitch for n in bass] == [55, 56, 57, 58]
    assert len(source) == 2 * 4 and len(target) == 3 * 4  # one grid for both sides
    wrapped = codec.decode_parts(PartsCodec(step_ms=500, voices=3).read_pair(path, "Alto")[1])
    assert [part[0].pitch for part in wrapped] == [55, 76, 69]  # bass, descant, soprano
    with pytest.raises(CodecFileError, match="3 tracks beside the source, fewer than the 4 "
                                             "voices wanted"):
        PartsCodec(voices=4).read_pair(path, "Soprano")
    with pytest.raises(CodecFileError, match="no track 'Tenor'; tracks with notes: 1 'Descant'"):
        codec.read_pair(path, "Tenor")


def test_write_pair_names_the_input_and_the_voices(tmp_path):
    codec = PartsCodec(voices=3)
    source, target, _ = codec.read_pair(CHORALE, "Soprano")
    codec.write_pair(source, target, tmp_path / "out.mid")
    tracks = read_track_notes(tmp_path / "out.mid", MidiOptions())
    assert [t.name for t in tracks] == ["input", "generated 1", "generated 2", "generated 3"]
    alto = read_track_notes(CHORALE, MidiOptions())[1]
    assert [n.pitch for n in tracks[1].notes] == [n.pitch for n in alto.notes]
    codec.write_pair(source, target, tmp_path / "named.mid", ("Alto", "", "Bass"))
    named = read_track_notes(tmp_path / "named.mid", MidiOptions())
    assert [t.name for t in named] == ["input", "Alto", "generated 2", "Bass"]


def test_target_names_are_the_tracks_a_pair_reads_as_its_target(tmp_path):
    assert PartsCodec(voices=3).target_names(CHORALE, "Soprano") == ("Alto", "Tenor", "Bass")
    assert PartsCodec(voices=2).target_names(CHORALE, "Tenor") == ("Bass", "Soprano")
    with pytest.raises(CodecFileError, match="no track 'Descant'; tracks with notes: 1 "
                                             "'Soprano'"):
        PartsCodec().target_names(CHORALE, "Descant")


def test_transposing_moves_notes_and_keeps_the_grid():
    codec = PartsCodec()
    tokens = torch.tensor([NOTE_BASE + 60, NOTE_BASE + 126, STEP, HOLD, HOLD, STEP])
    assert codec.transpose(tokens, 2).tolist() == \
        [NOTE_BASE + 62, REST, STEP, HOLD, HOLD, STEP]  # pushed out of 0..127: a rest
    source, target, _ = PartsCodec(voices=3).read_pair(CHORALE, "Soprano")
    moved = codec.augment_pair(source, target, Augmentation(transpose=5, stretch=0.5),
                               torch.Generator().manual_seed(3))
    shifts = {int(a - b) for new, old in zip(moved, (source, target), strict=True)
              for a, b in zip(new, old, strict=True) if b >= NOTE_BASE}
    assert len(shifts) == 1 and shifts != {0}  # both sides by the same semitones
    assert all(torch.equal(new < NOTE_BASE, old < NOTE_BASE)
               for new, old in zip(moved, (source, target), strict=True))


def test_a_relative_target_counts_from_the_source(tmp_path):
    path = four_tracks(tmp_path / "four.mid")  # alto a fifth, bass a ninth under the soprano
    codec = PartsCodec(step_ms=500, voices=2, relative=True)
    source, target, _ = codec.read_pair(path, "Soprano")
    assert [codec.token_name(t) for t in target[:3].tolist()] == ["NOTE_57", "NOTE_50", "STEP"]
    assert target.tolist() == target[:3].tolist() * 4  # the same intervals in every key
    codec.write_pair(source, target, tmp_path / "out.mid")
    alto, bass = read_track_notes(tmp_path / "out.mid", MidiOptions())[1:]
    assert [n.pitch for n in alto.notes] == [62, 63, 64, 65]
    assert [n.pitch for n in bass.notes] == [55, 56, 57, 58]
    moved_source, moved_target = codec.augment_pair(source, target, Augmentation(transpose=5),
                                                    torch.Generator().manual_seed(3))
    assert not torch.equal(moved_source, source) and torch.equal(moved_target, target)


def test_what_a_relative_target_counts_from():
    codec = PartsCodec(step_ms=500, relative=True)
    # steps: nothing yet, two parts (the highest counts), a rest, then a held note
    source = [REST, REST, STEP, NOTE_BASE + 60, NOTE_BASE + 67, STEP, REST, REST, STEP,
              NOTE_BASE + 55, REST, STEP, HOLD, REST, STEP]
    assert codec.references(torch.tensor(source)) == [67, 67, 67, 55, 55]
    assert codec.references(torch.tensor([REST, STEP])) == [60]  # no note: middle C
    assert PartsCodec().references(torch.tensor(source)) is None  # absolute targets
    voice = codec.decode_parts([NOTE_BASE + 61, STEP] * 5, references=[67, 67, 67, 55, 55])[0]
    assert [n.pitch for n in voice] == [64, 64, 64, 52, 52]
    assert codec.decode_parts([NOTE_BASE + 127, STEP], references=[100]) == [[]]  # off the top


@pytest.mark.parametrize("relative", [False, True])
def test_voice_leading_rules(relative):
    codec = PartsCodec(step_ms=500, voices=2, relative=relative)
    melody = codec.encode_parts([[note(72, 0, 0.5), note(74, 0.5, 1), note(60, 1, 1.5)]])
    refs = codec.references(melody)

    def tokens(*pitches, step):
        return {codec.token_of(p, step, refs) for p in pitches}

    def broken(rules):
        return {rule: set(found) for rule, found in rules.broken().items() if found}

    rules = codec.rules(melody).after(codec.BOS)
    assert broken(rules) == {"above the melody": tokens(*range(73, 128), step=0)}
    assert set(rules.forbidden()) == tokens(*range(73, 128), step=0)  # every rule's, as one
    for token in [*tokens(65, step=0), *tokens(60, step=0), STEP]:  # a fifth, an octave below
        rules = rules.after(token)
    # the melody steps up: the alto may not go up to a fifth below it again (nor to a fifth
    # and octaves, which is also above it), nor above it
    assert broken(rules) == {"parallel fifths": tokens(67, 81, 93, 105, 117, step=1),
                             "above the melody": tokens(*range(75, 128), step=1)}
    rules = rules.after(next(iter(tokens(69, step=1))))
    # nor the tenor to the octave below the melody, nor above the alto
    assert broken(rules) == {"parallel octaves": tokens(62, 74, 86, 98, 110, 122, step=1),
                             "above the voice before": tokens(*range(70, 75), step=1),
                             "above the melody": tokens(*range(75, 128), step=1)}
    rules = rules.after(HOLD).after(STEP)
    assert HOLD in rules.broken()["above the melody"]  # the melody fell below the alto's note
    assert rules.after(REST).after(NOTE_BASE + 3).broken() == {}  # a third voice: free


@pytest.mark.parametrize("options, message", [
    ({"step_ms": 0}, "parts option step_ms must be an integer of at least 1, not 0"),
    ({"voices": -1}, "parts option voices must be an integer of at least 0, not -1"),
    ({"voices": True}, "parts option voices must be an integer of at least 0, not True"),
    ({"relative": "yes"}, "parts option relative must be true or false, not 'yes'"),
])
def test_bad_options(options, message):
    with pytest.raises(UsageError, match=message):
        get_codec("parts").cls.from_options(**options)


def test_json_round_trip():
    codec = PartsCodec(step_ms=100, voices=3, relative=True)
    assert PartsCodec.from_json(codec.to_json()).to_json() == codec.to_json()
    # a checkpoint from before relative targets reads as absolute
    assert not PartsCodec.from_json({"name": "parts", "step_ms": 250, "voices": 3}).relative
    with pytest.raises(ValueError, match="unexpected keyword argument 'speed'"):
        PartsCodec.from_json({"name": "parts", "speed": 2})


def test_a_folder_declares_its_codec_options(tmp_path):
    folder = tmp_path / "chorales"
    folder.mkdir()
    for number in (1, 2):
        shutil.copy(ROOT / "corpora/bach-chorales" / f"riemenschneider00{number}.mid", folder)
    four_tracks(folder / "four.mid", names=("Soprano", "Alto", "Tenor", "Piano"))
    declaration = {"source_track": "Soprano", "format": "parts", "codec_options": {"voices": 3}}
    (folder / "seqgen.json").write_text(json.dumps(declaration))
    corpus = load_pairs(folder)
    assert corpus.codec.to_json() == {"name": "parts", "step_ms": 125, "voices": 3,
                                      "relative": False}
    assert len(corpus.targets) == 3
    # a flag overrides the declaration; the declared options belong to the declared format
    fewer = load_pairs(folder, codec_options={"voices": 2})
    assert len(fewer.codec.decode_parts(fewer.targets[0])) == 2
    assert load_pairs(folder, format="midi").codec.name == "midi"
    (folder / "seqgen.json").write_text(json.dumps({"format": "parts", "codec_options": 3}))
    with pytest.raises(UsageError, match="codec_options must be an object of the declared "
                                         "format's options, not 3"):
        load_corpus(folder)
