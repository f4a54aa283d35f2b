"""The user guide: the command reference matches ``--help``, the site builds with every link
resolved, and the README stays a front door."""

import os
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "cli.md"
EXAMPLE_PLUGINS = ("seqgen-mgu", "seqgen-mingru", "seqgen-abc", "seqgen-miditok")
# The command that writes the reference; the test runs the same one.
REGENERATE = ("typer", "seqgen.cli", "utils", "docs", "--name", "seqgen",
              "--title", "Command reference")
WIDTH = "100"


def example_plugins_installed() -> bool:
    try:
        for name in EXAMPLE_PLUGINS:
            distribution(name)
    except PackageNotFoundError:
        return False
    return os.environ.get("SEQGEN_LOAD_PLUGINS") is None


def written_reference(out: Path) -> str:
    """The reference as the Typer app writes it now, at the fixed width."""
    env = {**os.environ, "COLUMNS": WIDTH, "TERM": "dumb"}
    subprocess.run([sys.executable, "-m", *REGENERATE, "--output", str(out)], cwd=ROOT,
                   env=env, check=True, capture_output=True, text=True)
    return out.read_text(encoding="utf-8")


@pytest.mark.skipif(not example_plugins_installed(),
                    reason="the reference lists the example plugins' options: install them")
def test_command_reference_is_current(tmp_path):
    fresh = written_reference(tmp_path / "cli.md")
    assert fresh == REFERENCE.read_text(encoding="utf-8"), (
        "docs/cli.md is out of date with --help; regenerate it with: COLUMNS=100 python -m "
        + " ".join(REGENERATE) + " --output docs/cli.md")


def test_site_builds_strictly(tmp_path):
    """``mkdocs build --strict``: a broken link, anchor or a page left out of the nav fails."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "cli" / "index.html").exists()


def test_readme_is_a_front_door():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert links, "the README links into the guide"
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"README links to missing pages: {missing}"
