"""Run by tests/test_distributed.py under torchrun, or in one process: build a Trainer, take
one optimizer step, compute the gradients of the next chunk, and (main process) save them.

A fourth argument, ``RANK:start`` or ``RANK:end``, makes that process fail (raise) as soon as
it has joined the run, or once its gradients are computed, while the others go on."""

import json
import sys
from pathlib import Path

from safetensors.torch import save_file

from seqgen.config import TrainConfig
from seqgen.training.distributed import ONE_PROCESS, World, joined_world
from seqgen.training.runs import load_run_corpus
from seqgen.training.trainer import Trainer


def gradients_after_one_step(corpus: str, config: dict, run_dir: Path,
                             world: World = ONE_PROCESS) -> dict:
    settings = TrainConfig(**config)
    trainer = Trainer(load_run_corpus(corpus, settings), settings, run_dir, world)
    trainer.train_step()
    trainer.compute_gradients(trainer.next_chunk())
    return {name: p.grad.detach().clone() for name, p in trainer.model.named_parameters()}


def fail_if(failing: str | None, rank: int, point: str) -> None:
    """Raise on the process asked to fail at this point (``failing`` is ``RANK:POINT``)."""
    if failing == f"{rank}:{point}":
        raise RuntimeError(f"probe: rank {rank} fails at the {point}")


if __name__ == "__main__":
    corpus, config, out = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
    failing = sys.argv[4] if len(sys.argv) > 4 else None
    out.parent.mkdir(parents=True, exist_ok=True)
    with joined_world(config["device"]) as world:
        fail_if(failing, world.rank, "start")
        grads = gradients_after_one_step(corpus, config, out.parent, world)
        if world.is_main:
            save_file(grads, out)
        fail_if(failing, world.rank, "end")
