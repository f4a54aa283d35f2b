"""The CPU thread count: fixed by --threads or OMP_NUM_THREADS, else following the cores other
processes leave free; results that do not depend on it."""

import pytest
import torch
from typer.testing import CliRunner

from seqgen import threads
from seqgen.cli import app
from tests.conftest import one_line_error

runner = CliRunner()
TINY = ["--hidden", "32", "--batch-size", "4", "--seq-len", "16", "--steps", "4",
        "--eval-interval", "4", "--device", "cpu", "--no-curves"]


@pytest.fixture(autouse=True)
def thread_count():
    """Every test starts from, and leaves, torch's own thread count and no setting."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
    threads._threads = threads._torch_threads = None


@pytest.mark.parametrize(("others", "expected"), [(0.0, 2), (0.3, 2), (0.67, 1), (1.0, 1),
                                                  (1.6, 1), (3.0, 1), (-0.1, 2)])
def test_one_thread_fewer_for_each_core_other_processes_keep_busy(others, expected):
    assert threads.free_threads(2, others, 2) == expected
    assert threads.free_threads(8, others, 4) == min(4, 8 - round(max(others, 0)))


def stat_line(ticks: list[int]) -> str:
    return "cpu  0 0 0 0 0 0 0 0 0 0\n" + "".join(
        f"cpu{i} {t} 0 0 1000 0 0 0 0 0 0\n" for i, t in enumerate(ticks))


def test_the_count_follows_the_load_it_reads(monkeypatch, tmp_path):
    stat = tmp_path / "stat"
    monkeypatch.setattr(threads, "PROC_STAT", stat)
    clock, own = [100.0], [5.0]
    monkeypatch.setattr(threads.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(threads, "own_seconds", lambda: own[0])
    ticks_per_second = threads.os.sysconf("SC_CLK_TCK")
    setting = threads.Threads(2, cores={0, 1})
    setting.current = 2

    ticks = [0, 0]

    def after(seconds: float, ours: float, others: float) -> int:
        """Let ``seconds`` pass with this process and the others busy as given (in cores)."""
        clock[0] += seconds
        own[0] += ours * seconds
        for core in (0, 1):
            ticks[core] += int((ours + others) * seconds * ticks_per_second / 2)
        stat.write_text(stat_line(ticks))
        setting.adapt()
        return setting.current

    stat.write_text(stat_line(ticks))
    setting.adapt()  # the first reading
    assert after(2.0, ours=1.3, others=0.0) == 2  # alone
    assert after(2.0, ours=1.4, others=0.6) == 1  # one busy process beside it
    assert after(0.5, ours=1.0, others=0.0) == 1  # too soon to look again
    assert after(2.0, ours=1.0, others=1.0) == 1  # still there
    assert after(2.0, ours=1.0, others=0.05) == 2  # gone: every core again


def test_a_system_without_proc_stat_keeps_the_count(monkeypatch, tmp_path):
    monkeypatch.setattr(threads, "PROC_STAT", tmp_path / "missing")
    setting = threads.Threads(2)
    setting.adapt()
    assert setting.fixed and "does not say" in setting.fixed


def test_threads_and_omp_num_threads_fix_the_count(monkeypatch):
    assert threads.configure(1).describe() == "1 thread (--threads)"
    assert torch.get_num_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.configure().describe() == "1 thread (OMP_NUM_THREADS)"
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert "fewer while other processes keep its cores busy" in threads.configure().describe()


def test_train_says_how_many_threads_it_computes_with(tiny_corpus, tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    for given, said in ((["--threads", "1"], "1 thread (--threads)"),
                        ([], "fewer while other processes keep its cores busy")):
        result = runner.invoke(app, ["train", str(tiny_corpus), *TINY, *given, "--out",
                                     str(tmp_path / f"run{len(given)}")])
        assert result.exit_code == 0, result.output
        assert said in " ".join(result.output.split())


@pytest.mark.parametrize("command", [["train", "CORPUS"], ["sample", "RUN"], ["eval", "RUN"]])
def test_threads_below_one_is_a_usage_error(command, tiny_corpus, trained_run):
    where = {"CORPUS": str(tiny_corpus), "RUN": str(trained_run)}
    result = runner.invoke(app, [where.get(arg, arg) for arg in command] + ["--threads", "0"])
    assert result.exit_code == 2
    assert "--threads must be at least 1, not 0" in one_line_error(result.output)
