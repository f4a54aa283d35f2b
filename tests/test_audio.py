"""MIDI to WAV with FluidSynth: a real render where it is installed, and the error messages."""

import array
import shutil
import wave
from pathlib import Path

import pytest

from seqgen.data.codecs.midi import notes_to_midi
from seqgen.data.notes import Note
from seqgen.errors import SeqgenError, UsageError
from seqgen.media import audio
from seqgen.media.audio import find_fluidsynth, find_soundfont, render

needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None,
                                      reason="the fluidsynth program is not installed")


@pytest.fixture
def midi_file(tmp_path) -> Path:
    """Two seconds: a C major chord, then a C5."""
    notes = [Note(p, 0.0, 1.5, 100) for p in (60, 64, 67)] + [Note(72, 1.0, 2.0, 100)]
    path = tmp_path / "chord.mid"
    notes_to_midi(notes).save(path)
    return path


@pytest.fixture
def no_soundfonts(monkeypatch, tmp_path):
    monkeypatch.delenv("SOUNDFONT", raising=False)
    monkeypatch.setattr(audio, "SOUNDFONT_DIRS", (tmp_path / "fonts",))


@needs_fluidsynth
def test_render_writes_a_wav_of_the_piece(midi_file, tmp_path):
    wav_path = tmp_path / "chord.wav"
    seconds = render(midi_file, wav_path, sample_rate=22050)
    assert 2.0 <= seconds <= 6.0  # the piece, then the notes' release
    with wave.open(str(wav_path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 22050)
        assert wav.getnframes() / 22050 == seconds
        samples = array.array("h", wav.readframes(wav.getnframes()))
    assert max(map(abs, samples)) > 1000  # not silence
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chord.mid", "chord.wav"]


@needs_fluidsynth
def test_a_failed_render_leaves_nothing(midi_file, tmp_path):
    bad_font = tmp_path / "bad.sf2"
    bad_font.write_bytes(b"not a soundfont")
    with pytest.raises(SeqgenError, match="fluidsynth failed: .*not a SoundFont"):
        render(midi_file, tmp_path / "out.wav", soundfont=bad_font)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.sf2", "chord.mid"]


def test_missing_fluidsynth_says_how_to_install_it(monkeypatch, midi_file, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(UsageError, match="apt-get install fluidsynth .*brew install fluid-synth"):
        find_fluidsynth()
    with pytest.raises(UsageError, match="needs the fluidsynth program"):
        render(midi_file, tmp_path / "out.wav")


def test_missing_soundfont_says_what_to_install(no_soundfonts):
    with pytest.raises(UsageError, match="no SoundFont found .*timgm6mb-soundfont.*--soundfont"):
        find_soundfont()


def test_a_named_soundfont_must_exist(monkeypatch, tmp_path):
    with pytest.raises(UsageError, match="SoundFont not found: .*missing.sf2$"):
        find_soundfont(tmp_path / "missing.sf2")
    monkeypatch.setenv("SOUNDFONT", str(tmp_path / "gone.sf2"))
    with pytest.raises(UsageError, match=r"gone.sf2 \(from \$SOUNDFONT\)"):
        find_soundfont()


def test_soundfont_search_order(monkeypatch, no_soundfonts, tmp_path):
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    (fonts / "default-GM.sf2").symlink_to(tmp_path / "uninstalled.sf2")  # a broken link
    for name in ("aaa.sf2", "TimGM6mb.sf2"):
        (fonts / name).write_bytes(b"RIFF")
    assert find_soundfont() == fonts / "TimGM6mb.sf2"
    (fonts / "TimGM6mb.sf2").unlink()
    assert find_soundfont() == fonts / "aaa.sf2"
    mine = tmp_path / "mine.sf2"
    mine.write_bytes(b"RIFF")
    monkeypatch.setenv("SOUNDFONT", str(mine))
    assert find_soundfont() == mine
    assert find_soundfont(fonts / "aaa.sf2") == fonts / "aaa.sf2"  # an explicit one first


def test_bad_arguments_are_usage_errors(midi_file, tmp_path):
    with pytest.raises(UsageError, match="sample rate"):
        render(midi_file, tmp_path / "out.wav", sample_rate=200_000)
    with pytest.raises(UsageError, match="no folder"):
        render(midi_file, tmp_path / "missing" / "out.wav")
