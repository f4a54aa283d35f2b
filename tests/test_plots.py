"""PNG pictures: piano rolls and training curves, exact sizes, atomic writes, missing pieces."""

import json
import struct
import sys
from pathlib import Path

import pytest

from seqgen.data.codecs.midi import MidiOptions, read_notes
from seqgen.data.notes import Note
from seqgen.errors import UsageError
from seqgen.files import atomic_write
from seqgen.media.plots import curves_png, piano_roll_png, read_curves

ROOT = Path(__file__).resolve().parent.parent
CHORALE = ROOT / "corpora/bach-chorales/riemenschneider001.mid"
RUNS = [ROOT / "checkpoints" / name for name in ("bach", "shakespeare-lstm", "names")]


@pytest.fixture
def matplotlib():
    return pytest.importorskip("matplotlib")


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's signature and IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def write_run(folder: Path, events: list[dict], training: dict | None = None) -> Path:
    folder.mkdir()
    lines = [json.dumps({"time": 0.0, **event}) for event in events]
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if training is not None:
        (folder / "last").mkdir()
        (folder / "last" / "config.json").write_text(json.dumps({"training": training}))
    return folder


def train(step: int, loss: float) -> dict:
    return {"event": "train", "step": step, "loss": loss, "lr": 1e-3, "tokens_per_s": 1.0}


def val(step: int, loss: float) -> dict:
    return {"event": "val", "step": step, "val_loss": loss, "best_val_loss": loss}


def test_piano_roll_png_has_the_requested_size(matplotlib, tmp_path):
    notes = read_notes(CHORALE, MidiOptions())
    assert png_size(piano_roll_png(notes, tmp_path / "roll.png", 640, 360)) == (640, 360)
    one = [Note(60, 0.0, 0.0, 100)]  # one note of no length
    assert png_size(piano_roll_png(one, tmp_path / "one.png", 333, 217, title="x")) == (333, 217)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.png", "roll.png"]


def colours_in(path: Path) -> set[tuple[int, int, int]]:
    from matplotlib.image import imread

    pixels = imread(path)[..., :3]
    return {tuple(p) for p in (pixels.reshape(-1, 3) * 255).round().astype(int).tolist()}


def test_named_tracks_are_drawn_in_the_terminals_colours(matplotlib, tmp_path):
    from rich.color import Color

    from seqgen.data.codecs.midi import read_track_notes
    from seqgen.media.pianoroll import track_colour

    tracks = [(t.name, t.notes) for t in read_track_notes(CHORALE, MidiOptions())]
    assert [name for name, _ in tracks] == ["Soprano", "Alto", "Tenor", "Bass"]
    drawn = colours_in(piano_roll_png(tracks, tmp_path / "tracks.png", 640, 360))
    terminal = [Color.parse(track_colour(i)).get_truecolor() for i in range(4)]
    assert all(tuple(colour) in drawn for colour in terminal)
    by_velocity = colours_in(piano_roll_png(read_notes(CHORALE, MidiOptions()),
                                            tmp_path / "notes.png", 640, 360))
    assert not any(tuple(colour) in by_velocity for colour in terminal)
    with pytest.raises(ValueError, match="no notes"):
        piano_roll_png([("empty", [])], tmp_path / "none.png")


def test_curves_of_one_run_and_of_several(matplotlib, tmp_path):
    assert png_size(curves_png(RUNS[:1], tmp_path / "bach.png")) == (1200, 500)
    assert png_size(curves_png(RUNS, tmp_path / "all.png", 801, 403)) == (801, 403)


def test_tokens_come_from_the_run_settings(tmp_path):
    bach = read_curves(RUNS[0])
    settings = json.loads((RUNS[0] / "best/config.json").read_text())["training"]
    per_step = settings["batch_size"] * settings["seq_len"]
    assert bach.name == "bach" and bach.train_steps[0] == 10 and len(bach.val_steps) == 7
    assert bach.train_tokens[0] == 10 * per_step and per_step == 64 * 128
    assert bach.val_tokens[-1] == bach.val_steps[-1] * per_step == 1317 * per_step
    events = [train(10, 3.0), train(20, 2.0), val(20, 2.5)]
    logged = write_run(tmp_path / "logged", events, training={"batch_size": 5, "seq_len": 10})
    curves = read_curves(logged / "metrics.jsonl")
    assert curves.name == "logged"
    assert list(curves.train_tokens) == [500, 1000] and list(curves.val_tokens) == [1000]
    bare = read_curves(write_run(tmp_path / "bare", [train(10, 3.0), val(10, 2.9)]))
    assert bare.train_tokens is None and bare.val_tokens is None


def test_a_resumed_run_keeps_the_last_event_of_a_step_and_skips_a_torn_line(tmp_path):
    run = write_run(tmp_path / "resumed", [train(10, 3.0), train(20, 2.5), train(10, 2.9)])
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"event": "train", "st')
    curves = read_curves(run)
    assert list(curves.train_steps) == [10, 20] and list(curves.train_loss) == [2.9, 2.5]


def test_curves_without_tokens_draw_steps_only(matplotlib, tmp_path):
    run = write_run(tmp_path / "bare", [train(10, 3.0), train(20, 2.0), val(20, 2.5)])
    assert png_size(curves_png([run], tmp_path / "bare.png", 400, 300)) == (400, 300)


def test_folders_without_metrics_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="has no metrics.jsonl"):
        curves_png([tmp_path], tmp_path / "x.png")
    empty = write_run(tmp_path / "empty", [{"event": "start", "step": 0}])
    with pytest.raises(UsageError, match="no training events yet"):
        read_curves(empty)


def test_too_small_a_picture_is_a_usage_error(matplotlib, tmp_path):
    with pytest.raises(UsageError, match="200 to 16,000 pixels wide and high, not"):
        piano_roll_png([Note(60, 0, 1, 64)], tmp_path / "tiny.png", 100, 50)


def test_missing_matplotlib_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    with pytest.raises(UsageError, match=r"needs matplotlib: pip install 'seqgen\[plots\]'"):
        piano_roll_png([Note(60, 0, 1, 64)], tmp_path / "roll.png")
    with pytest.raises(UsageError, match="needs matplotlib"):
        curves_png(RUNS[:1], tmp_path / "curves.png")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "picture.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="^crash$"), atomic_write(target) as tmp:
        tmp.write_bytes(b"half a pic")
        raise RuntimeError("crash")
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]
    with atomic_write(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and list(tmp_path.iterdir()) == [target]
