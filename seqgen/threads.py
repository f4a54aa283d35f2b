"""How many threads torch computes with on the CPU, and giving cores back to a busy machine.

PyTorch computes with one OpenMP thread per core, and its threads spin while they wait for each
other. Beside one other busy process on 2 cores that costs three quarters of the speed: a
thread that is not running holds the others up at every parallel step. One thread fewer
runs at full speed there. So, unless the number is fixed (``--threads N`` or
``OMP_NUM_THREADS``), seqgen watches how much of its cores other processes use (Linux's
``/proc/stat`` less its own CPU time, about once a second, between steps) and computes with the
cores they leave free: all of them on an idle machine, one fewer for each core kept busy.

On some CPUs a kernel splits its sums by the thread count, so a run that computed with another
count rounds a few last bits differently: an interrupted run resumed while the count differs
follows the uninterrupted one closely, not bit for bit. ``--threads N`` fixes the count where
that matters. No torch at import.
"""

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from seqgen.errors import UsageError

PROC_STAT = Path("/proc/stat")
CHECK_SECONDS = 1.0  # how often the load is looked at
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user, nice, system, irq, softirq, steal (not idle, iowait)


def usable_cores() -> set[int]:
    """The CPUs this process may run on."""
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return set(range(os.cpu_count() or 1))


def busy_seconds(cores: set[int]) -> float | None:
    """CPU seconds spent busy so far on ``cores``, by every process (None without
    ``/proc/stat``)."""
    try:
        lines = PROC_STAT.read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    ticks = 0
    for line in lines:
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
            ticks += sum(int(values[i]) for i in BUSY_FIELDS if i < len(values))
    return ticks / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    """CPU seconds this process has used, every thread of it."""
    times = os.times()
    return times.user + times.system


@dataclass
class Threads:
    """The thread count: fixed, or following the cores other processes leave free."""

    most: int  # threads on an idle machine
    fixed: str | None = None  # why the count is fixed ("--threads", "OMP_NUM_THREADS"), or None
    cores: set[int] = field(default_factory=usable_cores)
    current: int = 0
    last: tuple[float, float, float] | None = None  # wall clock, busy, own seconds

    def describe(self) -> str:
        """The choice, for the line that starts training."""
        count = f"{self.most} thread{'s' if self.most != 1 else ''}"
        if self.fixed:
            return f"{count} ({self.fixed})"
        return f"{count}, fewer while other processes keep its cores busy (--threads fixes it)"

    def adapt(self) -> None:
        """Between steps: about once a second, compute with the cores other processes leave
        free (a fixed count, or a machine without ``/proc/stat``: nothing to do)."""
        if self.fixed:
            return
        now = time.monotonic()
        if self.last is not None and now - self.last[0] < CHECK_SECONDS:
            return
        busy = busy_seconds(self.cores)
        if busy is None:
            self.fixed = "this system does not say how busy its cores are"
            return
        reading = (now, busy, own_seconds())
        if self.last is not None:
            wall, others = reading[0] - self.last[0], (
                (reading[1] - self.last[1]) - (reading[2] - self.last[2]))
            self.use(free_threads(len(self.cores), others / wall, self.most))
        self.last = reading

    def use(self, count: int) -> None:
        import torch

        if count != self.current:
            torch.set_num_threads(count)
            self.current = count


def free_threads(cores: int, others_busy: float, most: int) -> int:
    """The threads to compute with when other processes keep ``others_busy`` cores busy: one
    fewer than ``most`` for each core they hold (rounded), at least one."""
    return max(1, min(most, cores - math.floor(max(others_busy, 0.0) + 0.5)))


_threads: Threads | None = None
_torch_threads: int | None = None  # what torch computed with before seqgen set a count


def configure(count: int | None = None) -> Threads:
    """Set how torch computes on the CPU for this process: ``count`` threads (``--threads``),
    else ``OMP_NUM_THREADS`` where it is set, else as many as torch would use, fewer while
    other processes keep the cores busy."""
    import torch

    global _threads, _torch_threads
    if count is not None and count < 1:
        raise UsageError(f"--threads must be at least 1, not {count}")
    if _torch_threads is None:
        _torch_threads = torch.get_num_threads()
    if count is not None:
        _threads = Threads(count, "--threads")
    elif (omp := os.environ.get("OMP_NUM_THREADS", "")).isdigit() and int(omp) > 0:
        _threads = Threads(int(omp), "OMP_NUM_THREADS")
    else:
        _threads = Threads(_torch_threads)
    torch.set_num_threads(_threads.most)
    _threads.current = _threads.most
    return _threads


def current() -> Threads:
    """This process's thread setting (``configure``'s defaults until it is called)."""
    return _threads or configure()


def adapt() -> None:
    """Between steps of a long computation: follow the cores other processes leave free."""
    current().adapt()
