"""The CUDA path, where a GPU is present (skipped on CPU-only machines such as CI's)."""

import pytest
import torch

from seqgen.config import TrainConfig
from seqgen.nn.sampling import generate_text
from seqgen.training.checkpoint import load_checkpoint
from seqgen.training.runs import train
from tests.conftest import TINY_CONFIG

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_resume_and_sampling_on_cuda(tiny_corpus, tmp_path, precision):
    config = TrainConfig(**{**TINY_CONFIG, "device": "cuda", "precision": precision})
    result = train(tiny_corpus, config, tmp_path / "run")
    assert result.step == 12 and result.val_loss < 5
    ckpt = load_checkpoint(tmp_path / "run", "cuda")
    assert ckpt.model.head.weight.is_cuda
    texts = generate_text(ckpt.model, ckpt.codec, "Speak", 20, num_samples=4, seed=1)
    assert texts == generate_text(ckpt.model, ckpt.codec, "Speak", 20, num_samples=4, seed=1)
    cpu = load_checkpoint(tmp_path / "run", "cpu")
    for name, weight in cpu.model.state_dict().items():
        torch.testing.assert_close(weight, ckpt.model.state_dict()[name].cpu())
