"""docs/make_figures.py draws every picture of the user guide, at its quick size: real PNG
files, not blank, and the same pixels when drawn again."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "docs" / "make_figures.py"
FIGURES = ["controls.png", "harmonization.png", "loss-curves.png", "numbers-attention.png",
           "sample-pianoroll.png"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def make_figures():
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("make_figures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def drawn(make_figures, tmp_path_factory):
    """The figures drawn twice, into two folders."""
    folders = [tmp_path_factory.mktemp(f"figures-{run}") for run in (1, 2)]
    for folder in folders:
        written = make_figures.main(["--out", str(folder), "--quick"])
        assert sorted(path.name for path in written) == FIGURES
    return folders


def test_every_figure_is_a_png_with_something_drawn(drawn):
    from matplotlib.image import imread

    for name in FIGURES:
        path = drawn[0] / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE, name
        pixels = imread(path)
        height, width = pixels.shape[:2]
        assert height >= 200 and width >= 200, name
        colours = {tuple(p) for p in pixels.reshape(-1, pixels.shape[2])[::7].tolist()}
        assert len(colours) > 10, f"{name} is (nearly) one colour"
    assert sorted(p.name for p in drawn[0].iterdir()) == FIGURES  # nothing else left there


def test_a_second_run_draws_the_same_pixels(drawn):
    import numpy as np
    from matplotlib.image import imread

    for name in FIGURES:
        first, second = (imread(folder / name) for folder in drawn)
        assert first.shape == second.shape, name
        assert np.array_equal(first, second), f"{name} differs between two runs"


def test_quick_figures_are_drawn_at_the_quick_size(make_figures, drawn):
    from matplotlib.image import imread

    size = make_figures.QUICK
    for name in ("sample-pianoroll.png", "harmonization.png", "loss-curves.png"):
        assert imread(drawn[0] / name).shape[:2] == (size.height_px, size.width_px), name


def test_the_script_says_what_it_takes(make_figures, capsys):
    with pytest.raises(SystemExit, match="0"):
        make_figures.main(["--help"])
    assert "--quick" in capsys.readouterr().out
