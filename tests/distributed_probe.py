"""Run by tests/test_distributed.py under torchrun, or in one process: build a Trainer, take
one optimizer step, compute the gradients of the next chunk, and (main process) save them."""

import json
import sys
from pathlib import Path

from safetensors.torch import save_file

from seqgen.config import TrainConfig
from seqgen.data.corpus import load_corpus
from seqgen.training.trainer import Trainer


def gradients_after_one_step(corpus: str, config: dict, run_dir: Path) -> dict:
    trainer = Trainer(load_corpus(corpus, items=config.get("items")), run_dir,
                      TrainConfig(**config))
    trainer.train_step()
    trainer.compute_gradients(trainer.next_chunk())
    return {name: p.grad.detach().clone() for name, p in trainer.model.named_parameters()}


if __name__ == "__main__":
    corpus, config, out = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
    out.parent.mkdir(parents=True, exist_ok=True)
    grads = gradients_after_one_step(corpus, config, out.parent)
    from seqgen.training.distributed import current_world

    if current_world().is_main:
        save_file(grads, out)
