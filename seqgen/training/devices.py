"""Choosing the device a model runs on, and what it can hold and compute natively."""

import os
from pathlib import Path

import torch

from seqgen.config import ModelConfig
from seqgen.errors import SeqgenError, UsageError
from seqgen.nn.build import build_model


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` (a GPU when there is one), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise UsageError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SeqgenError(f"device {spec!r} was asked for but this torch sees no CUDA GPU; "
                              "use --device cpu (or auto)")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise SeqgenError(f"device {spec!r} was asked for but there are only {count} CUDA "
                              f"GPUs (cuda:0 to cuda:{count - 1})")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise SeqgenError(f"device {spec!r} was asked for but MPS is not available; "
                          "use --device cpu (or auto)")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"unsupported device {spec!r}; use auto, cpu, cuda, cuda:N or mps")
    return device


AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16}


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """The autocast context of a precision (fp32: none): every forward pass of training and of a
    figure seqgen reports (validation, the rule fit, ``seqgen eval``, benchmarks) runs in it."""
    dtype = AUTOCAST_DTYPES[precision]
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def memory_bytes(device: torch.device) -> int | None:
    """The memory of a device (this machine's RAM for the CPU), or None when unknown."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    if device.type == "cpu":
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return None


# Linux's names (/proc/cpuinfo) of the CPU features that compute bfloat16 natively: x86's
# AVX512-BF16 and AMX-BF16, Arm's BF16 extension.
CPU_BF16_FEATURES = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
CPUINFO = Path("/proc/cpuinfo")


def cpu_features() -> set[str]:
    """The CPU's feature flags as Linux names them in ``/proc/cpuinfo``; where that cannot be
    read (another system), ``avx512_bf16`` if torch's own CPU probe finds it; else empty."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)  # a private torch helper
        return {"avx512_bf16"} if probe is not None and probe() else set()
    features: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86, Arm
            features.update(value.split())
    return features


def bf16_native(device: str | torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively, so ``--precision bf16`` is faster there
    rather than emulated: a CPU with AVX512-BF16, AMX-BF16 or Arm BF16, or a CUDA GPU of
    compute capability 8.0 (Ampere) or later. False where it cannot be told (MPS)."""
    device = torch.device(device)
    if device.type == "cpu":
        return bool(CPU_BF16_FEATURES & cpu_features())
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: bf16 autocast where the device computes bfloat16 natively, else fp32. bf16
    asked for on a CPU without it is a usage error: emulated, it is slower than fp32, and
    PyTorch's fused LSTM refuses it there."""
    if precision == "auto":
        return "bf16" if bf16_native(device) else "fp32"
    if precision == "bf16" and device.type == "cpu" and not bf16_native(device):
        raise UsageError("--precision bf16: this CPU does not compute bfloat16 natively (no "
                         "AVX512-BF16, AMX-BF16 or Arm BF16), where bf16 is slower than fp32 "
                         "and PyTorch's LSTM refuses it; use --precision fp32 or auto")
    return precision


def evaluation_precision(recorded: str, device: torch.device) -> str:
    """The precision to compute a run's figures in on ``device``: the one the run recorded
    (so a figure is the same wherever it is computed), or fp32 where the device does not
    compute it natively (a bf16 run on a CPU without bf16, where PyTorch's LSTM refuses it)."""
    return "bf16" if recorded == "bf16" and bf16_native(device) else "fp32"


TRAINING_BYTES_PER_PARAMETER = 16  # fp32 weight, gradient and two AdamW moments


def check_fits(config: ModelConfig, device: torch.device) -> None:
    """Refuse, before allocating it, a model whose training state (weights, gradients and
    AdamW moments) is larger than the device's memory. The model is built on the meta device
    to count its parameters; a cell that cannot be built there is not checked."""
    memory = memory_bytes(device)
    try:
        with torch.device("meta"):
            count = sum(p.numel() for p in build_model(config).parameters())
    except Exception:  # a plugin cell that needs real tensors to build: building will tell
        return
    needed = count * TRAINING_BYTES_PER_PARAMETER
    if memory is not None and needed > memory:
        raise UsageError(f"the model has {count:,} parameters: training it needs about "
                         f"{needed / 2**30:,.1f} GiB (weights, gradients and AdamW moments), "
                         f"more than the {memory / 2**30:,.1f} GiB of {device.type}; use a "
                         "smaller --hidden, --embedding or --layers")
