"""Devices: which one runs, and whether it computes bfloat16 natively."""

import pytest
import torch

from seqgen.training import devices
from seqgen.training.devices import bf16_native, cpu_features

X86 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f {extra}\nbugs\t\t: spectre_v1\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd {extra}\nCPU part\t: 0xd40\n"


@pytest.fixture
def cpuinfo(tmp_path, monkeypatch):
    """Pretend to be a CPU whose /proc/cpuinfo is the text given (torch's probe says no)."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)

    def pretend(text: str | None) -> None:
        path = tmp_path / "cpuinfo"
        if text is not None:
            path.write_text(text)
        monkeypatch.setattr(devices, "CPUINFO", path)

    return pretend


@pytest.mark.parametrize(("text", "native"), [
    (X86.format(extra=""), False),  # AVX-512 alone emulates bf16
    (X86.format(extra="avx512_bf16"), True),
    (X86.format(extra="amx_tile amx_bf16"), True),
    (ARM.format(extra=""), False),
    (ARM.format(extra="bf16 i8mm"), True),
    (None, False),  # no /proc/cpuinfo (not Linux): only torch's probe can tell
])
def test_a_cpu_is_bf16_native_when_it_has_bf16_instructions(cpuinfo, text, native):
    cpuinfo(text)
    assert bf16_native("cpu") is native
    assert bf16_native(torch.device("cpu")) is native


def test_torch_s_probe_counts_where_proc_cpuinfo_is_missing(cpuinfo, monkeypatch):
    cpuinfo(None)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert cpu_features() == {"avx512_bf16"} and bf16_native("cpu")


def test_the_flags_are_read_as_words(cpuinfo):
    cpuinfo(X86.format(extra="avx512_bf16x"))  # not a bf16 flag, though it contains one
    assert "avx512_bf16x" in cpu_features() and not bf16_native("cpu")


@pytest.mark.parametrize(("capability", "native"), [((7, 5), False), ((8, 0), True),
                                                    ((9, 0), True)])
def test_a_cuda_gpu_is_bf16_native_from_ampere_on(monkeypatch, capability, native):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert bf16_native("cuda:0") is native


def test_no_cuda_and_mps_are_not_bf16_native(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bf16_native("cuda") is False
    assert bf16_native("mps") is False


def test_this_machine_s_answer_agrees_with_its_kernel():
    if not devices.CPUINFO.exists():
        pytest.skip("no /proc/cpuinfo here")
    listed = set(devices.CPUINFO.read_text().split()) & devices.CPU_BF16_FEATURES
    if not listed:
        pytest.skip("this CPU lists no bf16 instructions")
    assert bf16_native("cpu"), listed
