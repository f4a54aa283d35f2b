"""Every ``seqgen`` line of the README runs as written, each fenced block in order in a fresh
folder beside the bundled corpora and models, with training times cut short.

Lines left out, and why:
- the two set-up commands (they build the environment these tests run in: CI runs the second);
- ``seqgen render`` where FluidSynth or a SoundFont is missing (CI installs both).
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from seqgen.errors import UsageError
from seqgen.media.audio import find_fluidsynth, find_soundfont

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"```bash\n(.*?)```", re.S)
OUTPUT_OPTIONS = ("--out", "--png", "--attention-png", "-o")


def readme_blocks() -> list[list[str]]:
    """The fenced blocks' ``seqgen`` lines, comments dropped (set-up lines are not ``seqgen``
    lines: they start with the virtual environment's path or with apt-get)."""
    blocks = []
    for block in BLOCK.findall(README.read_text(encoding="utf-8")):
        lines = [line.split("  #")[0].strip() for line in block.splitlines()]
        lines = [line for line in lines if line.startswith("seqgen ")]
        if lines:
            blocks.append(lines)
    return blocks


def shortened(words: list[str]) -> list[str]:
    """The line with each training time cut from minutes to as many seconds (the order of two
    budgets, a run and its resumption, kept) and each step count to 3."""
    out = list(words)
    for i, word in enumerate(out[:-1]):
        if word == "--time":
            out[i + 1] = re.sub(r"^(\d+)m$", r"\1s", out[i + 1])
        elif word == "--steps":
            out[i + 1] = "3"
    return out


def can_render() -> bool:
    try:
        find_fluidsynth(), find_soundfont()
    except UsageError:
        return False
    return True


def written_paths(words: list[str]) -> list[str]:
    return [words[i + 1] for i, word in enumerate(words[:-1]) if word in OUTPUT_OPTIONS]


@pytest.mark.slow
@pytest.mark.parametrize("lines", readme_blocks(), ids=lambda lines: lines[0][:48])
def test_readme_block_runs_as_written(lines, tmp_path):
    for name in ("corpora", "checkpoints"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {**os.environ, "COLUMNS": "100"}
    for line in lines:
        words = shortened(shlex.split(line))
        if words[1] == "render" and not can_render():
            continue
        done = subprocess.run([sys.executable, "-m", *words], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        for path in written_paths(words):
            assert (tmp_path / path).exists(), f"{line} did not write {path}"
        if words[1] == "render":
            assert (tmp_path / words[2]).with_suffix(".wav").exists()


def test_readme_lines_are_found():
    """The parser above sees the README's tour (a README reshaped past it would skip it)."""
    lines = [line for block in readme_blocks() for line in block]
    assert any(line.startswith("seqgen train") for line in lines)
    assert any(line.startswith("seqgen sample checkpoints/harmonizer") for line in lines)


def test_what_the_readme_writes_is_ignored_by_git():
    """Run from the repository, the README's lines leave nothing for git to pick up."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    written = {path for block in readme_blocks() for line in block
               for path in written_paths(shlex.split(line))}
    assert written
    done = subprocess.run(["git", "check-ignore", "--no-index", *sorted(written)], cwd=ROOT,
                          capture_output=True, text=True)
    assert sorted(done.stdout.split()) == sorted(written)
