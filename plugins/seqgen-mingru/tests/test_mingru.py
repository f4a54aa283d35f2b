"""minGRU: the parallel scan against the step loop, the entry point, and the CLI end to end."""

import json
from pathlib import Path

import pytest
import torch
from seqgen_mingru import mingru
from seqgen_mingru.mingru import MinGRU
from typer.testing import CliRunner

from seqgen import StepCell
from seqgen.cli import app
from seqgen.nn.cells import cells

runner = CliRunner()

VERSE = (
    "Shall I compare thee to a summer's day?\n"
    "Thou art more lovely and more temperate:\n"
    "Rough winds do shake the darling buds of May,\n"
    "And summer's lease hath all too short a date.\n\n"
)

# float32: the log-space scan cancels numbers as large as |log A_t| within a block (see `scan`)
TOLERANCES = {torch.float64: dict(rtol=1e-10, atol=1e-12),
              torch.float32: dict(rtol=2e-4, atol=1e-5)}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """Keep the corpus cache out of the home folder, and the output plain."""
    monkeypatch.setenv("SEQGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_COLOR", "1")


def make_cell(dtype: torch.dtype, input_size: int = 5, hidden_size: int = 7,
              scale: float = 1.0) -> MinGRU:
    """A cell with random weights; ``scale`` > 1 saturates the gates."""
    torch.manual_seed(0)
    cell = MinGRU(input_size, hidden_size).to(dtype)
    with torch.no_grad():
        for p in cell.parameters():
            p.normal_(0.0, scale)
    return cell


def step_loop(cell: MinGRU, x: torch.Tensor, h: torch.Tensor):
    """The reference: seqgen's default unroll of ``step`` (what ``parallel=False`` trains with)."""
    return StepCell.forward(cell, x, h)


def initial_state(kind: str, batch: int, hidden: int, dtype: torch.dtype) -> torch.Tensor:
    if kind == "zero":
        return torch.zeros(batch, hidden, dtype=dtype)
    return 3 * torch.randn(batch, hidden, dtype=dtype)  # negative values included


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("h0", ["zero", "random"])
@pytest.mark.parametrize("scale", [1.0, 4.0], ids=["plain", "saturated"])
def test_the_parallel_scan_matches_the_step_loop(dtype, h0, scale):
    cell = make_cell(dtype, scale=scale)
    x = torch.randn(3, 150, 5, dtype=dtype)  # three scan blocks, the last one short
    h = initial_state(h0, 3, 7, dtype)
    if h0 == "random":
        assert (h < 0).any()
    with torch.no_grad():
        y_scan, h_scan = cell(x, h)
        y_loop, h_loop = step_loop(cell, x, h)
    assert y_scan.shape == (3, 150, 7) and h_scan.shape == (3, 7)
    torch.testing.assert_close(y_scan, y_loop, **TOLERANCES[dtype])
    torch.testing.assert_close(h_scan, h_loop, **TOLERANCES[dtype])
    torch.testing.assert_close(h_scan, y_scan[:, -1])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_consecutive_chunks_carry_the_state_as_truncated_bptt_does(dtype):
    cell = make_cell(dtype)
    chunks = torch.randn(2, 5 * 16, 5, dtype=dtype).split(16, dim=1)
    h_scan = h_loop = cell.init_state(2, dtype=dtype)
    for chunk in chunks:
        y_scan, h_scan = cell(chunk, h_scan.detach())
        y_loop, h_loop = step_loop(cell, chunk, h_loop.detach())
        torch.testing.assert_close(y_scan, y_loop, **TOLERANCES[dtype])
    torch.testing.assert_close(h_scan, h_loop, **TOLERANCES[dtype])
    # and chunking changes nothing: one pass over the whole sequence ends in the same state
    with torch.no_grad():
        _, h_whole = cell(torch.cat(chunks, dim=1), cell.init_state(2, dtype=dtype))
    torch.testing.assert_close(h_scan, h_whole, **TOLERANCES[dtype])


def test_a_long_float32_chunk_stays_as_close_as_a_short_one():
    # one scan over 2000 saturated steps would be ~1e-3 off in float32; blocks keep it ~1e-4
    cell = make_cell(torch.float32, scale=4.0)
    x, h = torch.randn(2, 2000, 5), initial_state("random", 2, 7, torch.float32)
    with torch.no_grad():
        y_scan, _ = cell(x, h)
        y_loop, _ = step_loop(cell, x, h)
    torch.testing.assert_close(y_scan, y_loop, **TOLERANCES[torch.float32])


def test_step_is_the_minGRU_update():
    cell = make_cell(torch.float64)
    x, h = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 7, dtype=torch.float64)
    k_z, k_h = cell.input(x).chunk(2, dim=-1)
    z = torch.sigmoid(k_z)
    candidate = torch.where(k_h >= 0, k_h + 0.5, torch.sigmoid(k_h))
    y, state = cell.step(x, h)
    torch.testing.assert_close(y, (1 - z) * h + z * candidate)
    assert state is y


@pytest.mark.parametrize("h0", ["zero", "random"])
def test_gradients_of_the_scan_match_the_step_loop(h0):
    cell = make_cell(torch.float64)
    cell.scan_block = 5  # gradients must also flow from block to block
    x = torch.randn(2, 12, 5, dtype=torch.float64, requires_grad=True)
    h = initial_state(h0, 2, 7, torch.float64).requires_grad_()
    weights = torch.randn(2, 12, 7, dtype=torch.float64)  # a loss that sees every output
    inputs = [x, h, *cell.parameters()]

    def grads(run):
        y, last = run(cell, x, h)
        return torch.autograd.grad((weights * y).sum() + last.square().sum(), inputs)

    for g_scan, g_loop in zip(grads(MinGRU.forward), grads(StepCell.forward), strict=True):
        torch.testing.assert_close(g_scan, g_loop, rtol=1e-9, atol=1e-11)


def test_the_scan_passes_gradcheck():
    cell = make_cell(torch.float64, input_size=3, hidden_size=4)
    x = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, h: cell(x, h), (x, h))


def test_parallel_false_trains_through_the_step_loop(monkeypatch):
    def no_scan(*args):
        raise AssertionError("the scan ran")

    monkeypatch.setattr(mingru, "scan", no_scan)
    x, h = torch.randn(2, 6, 5), torch.zeros(2, 7)
    y, state = MinGRU(5, 7, parallel=False)(x, h)
    assert y.shape == (2, 6, 7) and state.shape == (2, 7)
    with pytest.raises(AssertionError, match="the scan ran"):
        MinGRU(5, 7)(x, h)


def test_the_cell_is_registered_from_the_installed_entry_point():
    spec = cells()["mingru"]
    assert spec.cls is MinGRU
    assert (spec.distribution, spec.version, spec.plugin) == ("seqgen-mingru", "0.1.0", "mingru")
    assert spec.options == {"parallel": True}
    listing = runner.invoke(app, ["cells"])
    assert listing.exit_code == 0 and "seqgen-mingru 0.1.0" in listing.stdout


def train_sample_and_evaluate(corpus: Path, run: Path, cell_opts: list[str]) -> list[float]:
    """Train a tiny minGRU through the CLI, sample it twice and evaluate it; its train losses."""
    result = runner.invoke(app, [
        "train", str(corpus), "--cell", "mingru", "--layers", "2", "--hidden", "16",
        "--batch-size", "4", "--seq-len", "16", "--steps", "20", "--eval-interval", "10",
        "--device", "cpu", "--precision", "fp32", "--out", str(run), *cell_opts])
    assert result.exit_code == 0, result.output

    config = json.loads((run / "best" / "config.json").read_text())
    assert config["cell"]["distribution"] == "seqgen-mingru"
    assert config["model"]["cell_options"] == ({"parallel": False} if cell_opts else {})
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [e["loss"] for e in events if e["event"] == "train"]
    assert len(losses) >= 2 and losses[-1] < losses[0], losses

    sample = ["sample", str(run), "--length", "30", "--seed", "1"]
    first, second = runner.invoke(app, sample), runner.invoke(app, sample)
    assert first.exit_code == 0, first.output
    assert len(first.stdout) >= 30
    assert first.stdout == second.stdout

    evaluation = runner.invoke(app, ["eval", str(run)])
    assert evaluation.exit_code == 0, evaluation.output
    return losses


def test_the_cli_trains_samples_and_evaluates_a_mingru_with_either_path(tmp_path):
    corpus = tmp_path / "sonnet.txt"
    corpus.write_text(VERSE * 4, encoding="utf-8")
    scan_losses = train_sample_and_evaluate(corpus, tmp_path / "scan", [])
    loop_losses = train_sample_and_evaluate(corpus, tmp_path / "loop",
                                            ["--cell-opt", "parallel=false"])
    # the same seed and the same function (in fp32): the two paths train the same model
    assert scan_losses == pytest.approx(loop_losses, rel=1e-4)
