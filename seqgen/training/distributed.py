"""Data-parallel training across processes, through PyTorch's own engine (torchrun + DDP).

``torchrun --nproc-per-node N -m seqgen train ...`` starts N copies of seqgen with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and a rendezvous address in their environment; ``current_world``
sees them and joins the process group (NCCL on GPUs, gloo on CPUs), and ``joined_world`` has
them leave it together. A ``World`` is what the trainer needs from it: which rows of each
global batch are this process's, sums across processes, and whether this process is the one
that prints and writes.

Rows are dealt out interleaved (rank r takes rows r, r + N, ...), so every row of the global
batch belongs to exactly one process, any batch size works with any number of processes, and
a run's data position means the same thing whatever the world size: a resumed run re-shards it.
"""

import logging
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from seqgen.errors import SeqgenError, UsageError
from seqgen.signals import SIGUSR1, stop_exit_code

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class World:
    """This process's place among the processes of a run; one process: rank 0 of 1."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: str = "cpu"  # where collective operations' tensors live (NCCL: this GPU)

    @property
    def is_main(self) -> bool:
        """The process that shows progress and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def rows(self) -> slice:
        """This process's rows of a global batch."""
        return slice(self.rank, None, self.size)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of ``tensor`` over every process (a new tensor; no host synchronisation)."""
        total = tensor.clone()
        if self.distributed:
            dist.all_reduce(total)
        return total

    def min(self, tensor: torch.Tensor) -> torch.Tensor:
        """The smallest ``tensor`` over every process (a new tensor)."""
        low = tensor.clone()
        if self.distributed:
            dist.all_reduce(low, op=dist.ReduceOp.MIN)
        return low

    def latest(self, value: float) -> float:
        """The largest of a number over every process (a synchronisation point): what the
        processes agree on when their clocks differ."""
        if not self.distributed:
            return value
        return float(self.max(torch.tensor(value, dtype=torch.float64, device=self.device)))

    def max(self, tensor: torch.Tensor) -> torch.Tensor:
        """The largest ``tensor`` over every process (a new tensor)."""
        high = tensor.clone()
        if self.distributed:
            dist.all_reduce(high, op=dist.ReduceOp.MAX)
        return high

    def highest(self, number: int) -> int:
        """The largest of a whole number over every process (a synchronisation point)."""
        if not self.distributed:
            return number
        return int(self.max(torch.tensor(number, device=self.device)).item())

    def total(self, number: int) -> int:
        """The sum of a number over every process (a synchronisation point)."""
        if not self.distributed:
            return number
        return int(self.sum(torch.tensor(number, device=self.device)).item())

    def gather(self, obj: object) -> list[object]:
        """Every process's ``obj``, in rank order (pickled: for small things like states)."""
        if not self.distributed:
            return [obj]
        gathered: list[object] = [None] * self.size
        dist.all_gather_object(gathered, obj)
        return gathered

    @contextmanager
    def main_first(self) -> Iterator[None]:
        """Run the block on the main process first, then on the others: the main one
        encodes and caches a corpus, the others read its cache. If it fails on the main
        process, the others stop too, with its exit code and without a word of their own."""
        if not self.distributed:
            yield
            return
        if not self.is_main:
            if code := self.total(0):
                raise MainProcessFailed(code)
            yield
            return
        try:
            yield
        except BaseException as exc:
            self.total(getattr(exc, "exit_code", 1))
            raise
        self.total(0)


class MainProcessFailed(SeqgenError):
    """The main process stopped with an error (which it reports); this one stops with it."""

    def __init__(self, exit_code: int) -> None:
        super().__init__("the main process stopped with an error")
        self.exit_code = exit_code


ONE_PROCESS = World()


def launched_by_torchrun() -> bool:
    return all(name in os.environ for name in TORCHRUN_VARIABLES)


_world: World | None = None


def current_world(device: str = "auto") -> World:
    """The world of this process: joins the process group on first call under torchrun, even
    a world of one (so a one-GPU torchrun run starts NCCL as a larger one does; ``joined_world``
    leaves it).

    ``device`` picks the backend: NCCL where the processes train on GPUs, gloo otherwise.
    """
    global _world
    if _world is not None:
        return _world
    if not launched_by_torchrun():
        _world = ONE_PROCESS
        return _world
    use_cuda = on_gpus(device)
    local_rank = int(os.environ["LOCAL_RANK"])
    world = World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), local_rank,
                  f"cuda:{local_rank}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if use_cuda else "gloo")
    _world = world
    return world


def on_gpus(device: str) -> bool:
    """Whether the processes of a run on ``device`` train on CUDA GPUs, one each."""
    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())


def check_nproc(nproc: int, device: str = "auto") -> None:
    """Before launching: at least one process, and on GPUs no more processes than there are
    GPUs (each process trains on its own)."""
    if nproc < 1:
        raise UsageError(f"--nproc must be at least 1, not {nproc}")
    if on_gpus(device) and nproc > (count := torch.cuda.device_count()):
        raise UsageError(f"--nproc {nproc} trains on {nproc} GPUs, one per process, and this "
                         f"machine has {count}: give --nproc {count} or fewer, or --device cpu "
                         "to train in processes on the CPU")


def is_main_process() -> bool:
    """Whether this process is the one that speaks: the main process of the world it joined,
    or, before it joins one, of the run torchrun launched it into (any other process)."""
    if _world is not None:
        return _world.is_main
    return os.environ.get("RANK", "0") == "0"


def process_device(device: str, world: World) -> str:
    """The device a process trains on: its own GPU (``LOCAL_RANK``) in a run on GPUs,
    whatever ``cuda:N`` was asked for."""
    return world.device if world.device.startswith("cuda") else device


@contextmanager
def joined_world(device: str = "auto", joined: World | None = None) -> Iterator[World]:
    """This process's world (``current_world``) for the block, left with the other processes
    at its end: on a normal end, and on a SeqgenError, which every process meets at the same
    point (a mistake each one finds, the main process's error it told them of, Ctrl-C they
    agreed on). Any other exception is this process's own crash: the others may never come to
    the barrier, so it leaves at once, and the launcher stops them. A world the caller has
    ``joined`` already is used as it is, and left by the caller."""
    if joined is not None:
        yield joined
        return
    world = current_world(device)
    try:
        yield world
    except SeqgenError:
        leave_world(world)
        raise
    leave_world(world)


def leave_world(world: World) -> None:
    """Leave the process group together: every process waits for the others at a barrier,
    then leaves (with gloo, a process that leaves while another still works with the group
    can abort: ``terminate called without an active exception``)."""
    global _world
    if dist.is_available() and dist.is_initialized():
        gpu = world.device.startswith("cuda")
        dist.barrier(device_ids=[world.local_rank] if gpu else None)
        dist.destroy_process_group()
    _world = None


def launch_here(nproc: int, seqgen_args: list[str], device: str = "auto") -> int:
    """Run ``seqgen seqgen_args`` in ``nproc`` processes on this machine through PyTorch's
    elastic launcher, as ``torchrun --standalone`` does, and return their exit code.

    ``device``: the run's (``--device``); on GPUs, ``nproc`` is at most their number
    (``check_nproc``). The processes report their own errors (the main one, in one line), so
    a failed or interrupted run ends here with its exit code and without the launcher's
    traceback.

    A stop signal to this process (Ctrl-C, SIGTERM, SIGUSR1) is passed on by the launcher to
    every process, which saves and stops at its next logging step (``Trainer.run``); the
    launcher waits 30 s for them (recent PyTorch: ``TORCH_ELASTIC_SHUTDOWN_TIMEOUT`` sets
    another wait), then kills them.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    check_nproc(nproc, device)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    for name in list(logging.root.manager.loggerDict):  # see above; some set their own level
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc,
                          run_id=str(uuid.uuid4()), rdzv_backend="c10d",
                          rdzv_endpoint="localhost:0", max_restarts=0, **forwarded_signals())
    try:
        elastic_launch(config, sys.executable)("-m", "seqgen", *seqgen_args)
    except ChildFailedError as exc:
        return exc.get_first_failure()[1].exitcode
    except SignalException as exc:
        return stop_exit_code(exc.sigval)
    return 0


def forwarded_signals() -> dict[str, str]:
    """The launcher's setting that passes SIGUSR1 on to the processes too, beside the signals
    it passes on by default (SIGTERM, SIGINT, SIGHUP, SIGQUIT), where it has one (PyTorch 2.9
    and later) and the system has SIGUSR1."""
    from torch.distributed.launcher.api import LaunchConfig

    if SIGUSR1 is None or not hasattr(LaunchConfig, "signals_to_handle"):
        return {}
    return {"signals_to_handle": f"{LaunchConfig.signals_to_handle},SIGUSR1"}
