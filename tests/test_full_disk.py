"""A full disk: a write that fails for want of space is one line that names the folder (for a
snapshot, also the space it needs and the snapshot kept), exit code 1, and leaves nothing
half-written; the earlier snapshot stays whole and samples."""

import errno
import os
import re
from pathlib import Path

import mido
import pytest
from safetensors import SafetensorError
from typer.testing import CliRunner

from seqgen import files
from seqgen.cli import app
from seqgen.files import NoSpaceLeft, append_text
from seqgen.training import checkpoint, trainer
from seqgen.training.checkpoint import load_checkpoint, write_rule_fit
from tests.conftest import BACH, CHORALES, one_line_error

runner = CliRunner()
NO_SPACE = os.strerror(errno.ENOSPC)  # "No space left on device"
SMALL = ["--hidden", "128", "--batch-size", "4", "--seq-len", "8", "--steps", "10",
         "--eval-interval", "5", "--device", "cpu", "--no-curves"]


def half_then_full(path: str | Path, error: Exception | None = None) -> None:
    """Write the start of a file at ``path``, then fail as a full disk does."""
    Path(path).write_bytes(b"the start of a file")
    raise error or OSError(errno.ENOSPC, NO_SPACE, str(path))


def leftovers(folder: Path) -> list[Path]:
    """Temporary files and folders of unfinished writes under ``folder``."""
    return [path for path in folder.rglob("*") if ".tmp" in path.name]


@pytest.mark.parametrize("error", [
    SafetensorError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, "
                    f'message: "{NO_SPACE}" }})'),
    OSError(errno.ENOSPC, NO_SPACE),
], ids=["safetensors", "os"])
def test_training_and_resuming_onto_a_full_disk_keep_the_last_snapshot(error, tiny_corpus,
                                                                       tmp_path, monkeypatch):
    saved = []

    def filling_up(path: Path, tensors: dict) -> None:
        saved.append(path)
        if len(saved) > 2:  # the first snapshot's two files fit, then the disk is full
            half_then_full(path, error)
        checkpoint.save_tensors(path, tensors)

    monkeypatch.setattr(trainer, "save_tensors", filling_up)
    run_dir = tmp_path / "run"
    run = re.escape(str(run_dir))
    for args in (["train", str(tiny_corpus), *SMALL, "--out", str(run_dir)],
                 ["train", "--resume", str(run_dir)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        line = one_line_error(result.output)
        assert re.fullmatch(
            rf"error: no space left in {run}: the snapshot of step 10 needs about (\S+) MB; "
            rf"the last snapshot kept is {run}/last \(step 5\): free some space, then resume "
            rf"with: seqgen train --resume {run}", line), line
        needed = float(re.search(r"needs about (\S+) MB", line).group(1))
        written = sum(path.stat().st_size for path in (run_dir / "last").glob("*.safetensors"))
        assert needed == pytest.approx(written / 1e6, abs=0.06)
        assert leftovers(run_dir) == []
    assert load_checkpoint(run_dir, prefer="last").trainer["step"] == 5
    sampled = runner.invoke(app, ["sample", str(run_dir / "last"), "--length", "20",
                                  "--device", "cpu"])
    assert sampled.exit_code == 0 and sampled.stdout.strip(), sampled.output


def test_sampling_text_onto_a_full_disk(trained_run, tmp_path, monkeypatch):
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_text", lambda path, *args, **kwargs: half_then_full(path))
        result = runner.invoke(app, ["sample", str(trained_run), "--length", "50",
                                     "--num-samples", "2", "--out", f"{out}/"])
    assert result.exit_code == 1
    assert one_line_error(result.output) == (f"error: no space left in {out} to write "
                                             "sample-1.txt: free some space there, or write "
                                             "elsewhere")
    assert list(out.iterdir()) == []


def test_sampling_midi_onto_a_full_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(mido.MidiFile, "save", lambda midi, filename=None, **_: half_then_full(
        filename))
    result = runner.invoke(app, ["sample", str(BACH), "--length", "50", "--quiet", "--out",
                                 str(tmp_path / "piece.mid")])
    assert result.exit_code == 1
    assert one_line_error(result.output) == (f"error: no space left in {tmp_path} to write "
                                             "piece.mid: free some space there, or write "
                                             "elsewhere")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [
    ["show", str(CHORALES / "riemenschneider001.mid"), "--png"],
    ["plot", str(BACH), "-o"],
])
def test_drawing_onto_a_full_disk(command, tmp_path, monkeypatch):
    figure = pytest.importorskip("matplotlib.figure")
    monkeypatch.setattr(figure.Figure, "savefig", lambda self, path, **_: half_then_full(path))
    result = runner.invoke(app, [*command, str(tmp_path / "picture.png")])
    assert result.exit_code == 1
    assert one_line_error(result.output) == (f"error: no space left in {tmp_path} to write "
                                             "picture.png: free some space there, or write "
                                             "elsewhere")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("error, raised, message", [
    (OSError(errno.ENOSPC, NO_SPACE), NoSpaceLeft, "no space left in .* to write rules.json"),
    (ValueError("any other failure"), ValueError, "any other failure"),
])
def test_a_failed_rules_json_write_leaves_no_temporary_file(error, raised, message, tmp_path,
                                                             monkeypatch):
    monkeypatch.setattr(checkpoint, "write_json", lambda path, data: half_then_full(path, error))
    with pytest.raises(raised, match=message):
        write_rule_fit(tmp_path, {"weights": {}, "network_weight": 1.0})
    assert list(tmp_path.iterdir()) == []


def test_a_metrics_line_onto_a_full_disk_names_the_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "open", lambda path, *args, **kwargs: half_then_full(path),
                        raising=False)
    with pytest.raises(NoSpaceLeft, match="no space left in .* to write metrics.jsonl: free"):
        append_text(tmp_path / "metrics.jsonl", '{"event": "train"}\n')
