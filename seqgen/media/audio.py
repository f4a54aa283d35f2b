"""MIDI to WAV through the FluidSynth command-line program and a General MIDI SoundFont."""

import os
import shutil
import subprocess
import wave
from pathlib import Path

from seqgen.data.codecs.midi import load_midi
from seqgen.errors import SeqgenError, UsageError
from seqgen.files import atomic_write

INSTALL_FLUIDSYNTH = ("install it: sudo apt-get install fluidsynth timgm6mb-soundfont "
                      "(Debian/Ubuntu), brew install fluid-synth (macOS)")
INSTALL_SOUNDFONT = ("install one (sudo apt-get install timgm6mb-soundfont or fluid-soundfont-gm "
                     "on Debian/Ubuntu), set $SOUNDFONT or pass --soundfont PATH")
# Searched in order: the well-known General MIDI fonts first, then any font in these folders.
SOUNDFONT_DIRS = (
    Path("/usr/share/sounds/sf2"),  # Debian, Ubuntu (default-GM.sf2 is the chosen GM font)
    Path("/usr/share/soundfonts"),  # Arch, Fedora
    Path("/usr/share/sounds/sf3"),  # Debian's MuseScore fonts
    Path("/usr/local/share/soundfonts"),
    Path("/opt/homebrew/share/soundfonts"),
    Path.home() / ".local/share/soundfonts",
)
PREFERRED_SOUNDFONTS = ("default-GM.sf2", "default.sf2", "FluidR3_GM.sf2", "TimGM6mb.sf2")
RENDERED = (".mid", ".midi")  # the files rendered
AUDIO = ".wav"  # what they are rendered into
SAMPLE_RATES = range(8000, 96001)  # what FluidSynth accepts
DEFAULT_GAIN = 0.6  # loud enough for a chorale, no clipping for 15-note fortissimo chords


def find_fluidsynth() -> str:
    """The path of the fluidsynth program; a UsageError saying how to install it if none."""
    program = shutil.which("fluidsynth")
    if program is None:
        raise UsageError(f"rendering audio needs the fluidsynth program; {INSTALL_FLUIDSYNTH}")
    return program


def find_soundfont(explicit: str | Path | None = None) -> Path:
    """The SoundFont to use: ``explicit``, else $SOUNDFONT, else the first General MIDI font
    found in SOUNDFONT_DIRS; a UsageError if the one named is missing or none is found."""
    for named, source in ((explicit, ""), (os.environ.get("SOUNDFONT"), " (from $SOUNDFONT)")):
        if named:
            if not Path(named).is_file():
                raise UsageError(f"SoundFont not found: {named}{source}")
            return Path(named)
    for folder in SOUNDFONT_DIRS:
        found = [folder / name for name in PREFERRED_SOUNDFONTS] + sorted(
            p for pattern in ("*.sf2", "*.sf3") for p in folder.glob(pattern))
        for path in found:
            if path.is_file():  # a broken default-GM.sf2 link is not
                return path
    raise UsageError(f"no SoundFont found in {', '.join(map(str, SOUNDFONT_DIRS))}: "
                     f"{INSTALL_SOUNDFONT}")


def render(midi_path: str | Path, wav_path: str | Path, soundfont: str | Path | None = None,
           sample_rate: int = 44100, gain: float = DEFAULT_GAIN) -> float:
    """Render a MIDI file to a 16-bit stereo WAV file (written whole or not at all) and return
    its duration in seconds; FluidSynth adds a few seconds for the last notes to die away.
    A MIDI file that cannot be read is a MidiFileError."""
    midi_path, wav_path = Path(midi_path), Path(wav_path)
    load_midi(midi_path)  # its short reason beats fluidsynth's
    if not wav_path.parent.is_dir():
        raise UsageError(f"no folder {wav_path.parent} to write {wav_path.name} in")
    if sample_rate not in SAMPLE_RATES:
        raise UsageError(f"the sample rate must be 8000 to 96000 Hz, not {sample_rate}")
    program = find_fluidsynth()
    font = find_soundfont(soundfont)
    with atomic_write(wav_path) as tmp:
        run_fluidsynth([program, "-n", "-i", "-q", "-g", str(gain), "-r", str(sample_rate),
                        "-T", "wav", "-F", str(tmp), str(font), str(midi_path)])
        return wav_duration(tmp)


def run_fluidsynth(command: list[str]) -> None:
    """Run fluidsynth with no input; it reports some failures (an unusable SoundFont or output
    file) only with an error line and exit status 0, so such a line is a failure too."""
    done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace", check=False)
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or any(line.startswith("fluidsynth: error") for line in lines):
        reason = lines[-1].removeprefix("fluidsynth: ") if lines else f"exit {done.returncode}"
        raise SeqgenError(f"fluidsynth failed: {reason}")


def wav_duration(path: Path) -> float:
    """The length of a WAV file in seconds; a SeqgenError if it is missing or empty."""
    try:
        with wave.open(str(path), "rb") as wav:
            frames, rate = wav.getnframes(), wav.getframerate()
    except (OSError, EOFError, wave.Error) as exc:
        raise SeqgenError(f"fluidsynth wrote no usable WAV file: {exc}") from None
    if frames == 0:
        raise SeqgenError("fluidsynth wrote an empty WAV file")
    return frames / rate
