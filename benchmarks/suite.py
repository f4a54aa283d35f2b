"""The core benchmark rows: each measures seqgen and a reference side by side in this process.

Every row returns a ``Row`` (``benchmarks.common``): what was measured, seqgen's figure, the
reference's, their ratio, the target and whether it was reached. Figures are medians of
interleaved repetitions. ``quick`` is the smoke size: tiny models, one repetition, a few steps
and megabytes, so a test can run every row in seconds (its figures mean nothing). The training
and sampling rows take a ``device`` (``python -m benchmarks gpu`` runs them on a GPU).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from benchmarks.common import (
    CPU,
    SHAKESPEARE,
    PlainModel,
    Row,
    median_interleaved,
    plain_step,
    seqgen_step,
    timed,
    train_rate,
)
from seqgen.config import ModelConfig, TrainConfig
from seqgen.data.batching import Batches
from seqgen.data.corpus import load_corpus
from seqgen.nn.build import build_model
from seqgen.nn.sampling import SamplingOptions, generate, sample_next
from seqgen.training.devices import autocast, bf16_native
from seqgen.training.evaluation import evaluate_batches
from seqgen.training.trainer import make_optimizer

# ---- training ----------------------------------------------------------------------------------


def training_rows(quick: bool, device: torch.device = CPU, precision: str = "fp32") -> list[Row]:
    """seqgen's training step against the plain PyTorch loop, each cell, the same chunks on
    ``device`` in ``precision``; in fp32 also the fraction of the matmul peak reached."""
    corpus = load_corpus(SHAKESPEARE)
    train_data, _ = corpus.split(0.1)
    chunks = [c.to(device) for c in list(train_data.batches(64, 128))[: 2 if quick else 10]]
    sizes = (32,) if quick else (256, 512)
    cells = (("lstm", nn.LSTM), ("gru", nn.GRU), ("vanilla", nn.RNN))
    where = "" if device.type == "cpu" else f" on {device.type}"
    rows = []
    for hidden in sizes:
        for cell, rnn_class in cells:
            torch.manual_seed(0)
            ours = build_model(ModelConfig(corpus.codec.size, cell, hidden, 2, dropout=0.0))
            ours.to(device)
            our_opt = make_optimizer(ours, TrainConfig())

            def our_step(chunk, state, model=ours, opt=our_opt):
                return seqgen_step(model, opt, chunk, state, precision)

            plain = PlainModel(rnn_class, corpus.codec.size, hidden).to(device)
            plain_opt = torch.optim.AdamW(plain.parameters(), lr=2e-3)
            ours_rate, plain_rate = median_interleaved(
                [train_rate(our_step, chunks),
                 train_rate(plain_step(plain, plain_opt, precision), chunks)],
                1 if quick else 3)
            ratio = ours_rate / plain_rate
            rows.append(Row(f"train {cell} 2x{hidden}{where}, {precision} (vs plain PyTorch "
                            "loop)", ours_rate, plain_rate, "tokens/s", ">= 0.95", ratio,
                            ratio >= 0.95))
            if precision == "fp32":
                flops = training_flops_per_token(cell, hidden, corpus.codec.size)
                rows.append(hardware_row(cell, hidden, ours_rate * flops, quick, device))
    return rows


_peak: dict[tuple[bool, str], float] = {}


def matmul_peak(quick: bool, device: torch.device = CPU) -> float:
    """fp32 matrix-multiply FLOP/s of ``device`` (1024^3 products, best of a few)."""
    key = (quick, str(device))
    if key not in _peak:
        n = 256 if quick else 1024
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        a @ b
        best = min(timed(lambda: a @ b, device) for _ in range(3 if quick else 20))
        _peak[key] = 2 * n**3 / best
    return _peak[key]


def training_flops_per_token(cell: str, hidden: int, vocab: int) -> float:
    """Matrix-multiply FLOPs of one training token (forward x 3 for forward + backward)."""
    gates = {"lstm": 4, "gru": 3, "vanilla": 1}[cell]
    recurrent = 2 * 2 * gates * hidden * (hidden + hidden)  # 2 layers, input + hidden weights
    head = 2 * hidden * vocab
    return 3 * (recurrent + head)


def hardware_row(cell: str, hidden: int, achieved: float, quick: bool,
                 device: torch.device = CPU) -> Row:
    peak = matmul_peak(quick, device)
    return Row(f"train {cell} 2x{hidden}: fraction of fp32 matmul peak", achieved / 1e9,
               peak / 1e9, "GFLOP/s", "report", achieved / peak, True)


def precision_rows(quick: bool) -> list[Row]:
    """bf16 autocast vs fp32: speed, and validation loss after the same training steps; not
    measured on a CPU without native bf16 (PyTorch's LSTM refuses bf16 there)."""
    if not bf16_native("cpu"):
        print("precision: not measured, this CPU has no native bf16", file=sys.stderr)
        return []
    corpus = load_corpus(SHAKESPEARE)
    train_data, val_data = corpus.split(0.1)
    hidden, steps = (32, 5) if quick else (512, 150)
    chunks = list(train_data.batches(64, 128))
    val = list(val_data.batches(64, 128))[: 2 if quick else 10]
    results = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = build_model(ModelConfig(corpus.codec.size, "lstm", hidden, 2))
        optimizer = make_optimizer(model, TrainConfig())
        state, seconds = None, 0.0
        for i in range(steps):
            chunk = chunks[i % len(chunks)]
            start = time.perf_counter()
            state = seqgen_step(model, optimizer, chunk, state, precision)
            if i >= 2:  # the first steps warm up
                seconds += time.perf_counter() - start
        rate = (steps - 2) * 64 * 128 / seconds
        with autocast(CPU, precision):
            results[precision] = (rate, evaluate_batches(model, Batches(val)).loss)
    (fp32_rate, fp32_loss), (bf16_rate, bf16_loss) = results["fp32"], results["bf16"]
    speedup, loss_change = bf16_rate / fp32_rate, bf16_loss / fp32_loss - 1
    torch.manual_seed(0)
    plain = PlainModel(nn.LSTM, corpus.codec.size, hidden)
    optimizer = torch.optim.AdamW(plain.parameters(), lr=2e-3)
    plain_fp32, plain_bf16 = median_interleaved(
        [train_rate(plain_step(plain, optimizer, precision), chunks[: 2 if quick else 12])
         for precision in ("fp32", "bf16")], 1 if quick else 3)
    return [Row(f"train lstm 2x{hidden}, bf16 autocast vs fp32", bf16_rate, fp32_rate,
                "tokens/s", ">= 1.8", speedup, speedup >= 1.8),
            Row("  the same in the plain PyTorch loop (what the kernels give here)",
                plain_bf16, plain_fp32, "tokens/s", "report", plain_bf16 / plain_fp32, True),
            Row(f"validation loss after {steps} steps, bf16 vs fp32", bf16_loss, fp32_loss,
                "nats", "within 2%", 1 + loss_change, abs(loss_change) <= 0.02)]


# ---- sampling ----------------------------------------------------------------------------------


def sampling_rows(quick: bool, device: torch.device = CPU) -> list[Row]:
    """seqgen's sampling against an ``nn.LSTMCell`` loop sharing its weights, on ``device``, and
    how sampling time grows with the length."""
    corpus = load_corpus(SHAKESPEARE)
    hidden, length = (32, 50) if quick else (512, 2000)
    torch.manual_seed(0)
    model = build_model(ModelConfig(corpus.codec.size, "lstm", hidden, 2)).to(device).eval()
    options = SamplingOptions(top_p=0.95)
    prompt = corpus.codec.encode("\n")
    where = "" if device.type == "cpu" else f" on {device.type}"
    rows = []
    for batch in (1, 64):
        def ours(batch=batch) -> float:
            return batch * length / timed(
                lambda: generate(model, prompt, length, batch, options, seed=1), device)

        def plain(batch=batch) -> float:
            return batch * length / timed(
                lambda: lstmcell_sampling(model, prompt, length, batch, options), device)

        ours_rate, plain_rate = median_interleaved([ours, plain], 1 if quick else 3)
        ratio = ours_rate / plain_rate
        rows.append(Row(f"sample lstm 2x{hidden}{where}, batch {batch}, {length} tokens "
                        "(vs nn.LSTMCell loop)", ours_rate, plain_rate, "tokens/s", ">= 0.9",
                        ratio, ratio >= 0.9))
    short, long = (50, 200) if quick else (1000, 4000)
    t_short, t_long = median_interleaved(
        [lambda: timed(lambda: generate(model, prompt, short, 1, options, seed=1), device),
         lambda: timed(lambda: generate(model, prompt, long, 1, options, seed=1), device)],
        1 if quick else 7)
    growth = t_long / t_short
    rows.append(Row(f"sampling time{where}, {long} vs {short} tokens", t_long, t_short, "s",
                    "<= 4.4", growth, growth <= 4.4))
    return rows


@torch.inference_mode()
def lstmcell_sampling(model, prompt, length: int, batch: int, options: SamplingOptions):
    """The plain reference: nn.LSTMCell layers sharing the model's weights, the same top-p."""
    rnn = model.stack.rnn
    device = model.head.weight.device
    cells = []
    for layer in range(rnn.num_layers):
        cell = nn.LSTMCell(rnn.input_size if layer == 0 else rnn.hidden_size, rnn.hidden_size)
        cell.weight_ih, cell.weight_hh = (getattr(rnn, f"weight_ih_l{layer}"),
                                          getattr(rnn, f"weight_hh_l{layer}"))
        cell.bias_ih, cell.bias_hh = (getattr(rnn, f"bias_ih_l{layer}"),
                                      getattr(rnn, f"bias_hh_l{layer}"))
        cells.append(cell)
    state = [(torch.zeros(batch, rnn.hidden_size, device=device),
              torch.zeros(batch, rnn.hidden_size, device=device)) for _ in cells]
    generator = torch.Generator(device=device).manual_seed(1)
    token = prompt[-1].to(device).expand(batch)
    for _ in range(length):
        x = model.embedding(token)
        for i, cell in enumerate(cells):
            state[i] = cell(x, state[i])
            x = state[i][0]
        token = sample_next(model.head(x), options, generator)
    return token


# ---- encoding ----------------------------------------------------------------------------------


def encoding_rows(quick: bool) -> list[Row]:
    text = (SHAKESPEARE / "input.txt").read_text(encoding="utf-8")
    megabytes = 1 if quick else 50
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "big.txt"
        corpus.write_text(text * (megabytes * 2**20 // len(text) + 1), encoding="utf-8")
        size = corpus.stat().st_size
        cache = Path(folder) / "cache"
        first = timed(lambda: load_corpus(corpus, cache_dir=cache))
        again = timed(lambda: load_corpus(corpus, cache_dir=cache))
    rate = size / first / 2**20
    return [Row(f"encode a {size / 2**20:.0f} MB text", rate, 100.0, "MB/s", ">= 100",
                rate / 100, rate >= 100),
            Row("cached reload vs encoding", again, first, "s", ">= 20x faster", first / again,
                first / again >= 20)]


# ---- memory ------------------------------------------------------------------------------------

TRAIN_AND_REPORT_RSS = """
import sys
from seqgen.config import TrainConfig
from seqgen.training.runs import train
hidden, steps = int(sys.argv[3]), int(sys.argv[4])
train(sys.argv[1], TrainConfig(hidden=hidden, steps=steps, eval_interval=10**9,
                               max_val_tokens=20000, device="cpu"), sys.argv[2])
status = open("/proc/self/status").read()
# VmHWM, not getrusage's ru_maxrss: that one keeps the parent's peak across fork and exec
print(*(int(status.split(key)[1].split()[0]) for key in ("VmHWM:", "RssAnon:")))
"""


def memory_rows(quick: bool) -> list[Row]:
    """Peak RSS of a training process on a small and on a large (already cached) corpus; the
    two train at the same time, each process's peak its own."""
    text = (SHAKESPEARE / "input.txt").read_text(encoding="utf-8")
    large_mb, hidden, steps = (4, 16, 2) if quick else (200, 128, 10)
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder) / "cache"
        runs = {}
        for name, megabytes in (("small", 1), ("large", large_mb)):
            corpus = Path(folder) / f"{name}.txt"
            corpus.write_text(text * max(1, megabytes * 2**20 // len(text)), encoding="utf-8")
            load_corpus(corpus, cache_dir=cache)  # encoded and cached before the measured run
            runs[name] = subprocess.Popen(
                [sys.executable, "-c", TRAIN_AND_REPORT_RSS, str(corpus),
                 str(Path(folder) / f"run-{name}"), str(hidden), str(steps)],
                env={**os.environ, "SEQGEN_CACHE_DIR": str(cache)}, stdout=subprocess.PIPE,
                text=True)
        peaks = {name: reported_memory(run) for name, run in runs.items()}
    growth = peaks["large"][0] - peaks["small"][0]
    anon_growth = peaks["large"][1] - peaks["small"][1]
    return [Row(f"peak RSS training on {large_mb} MB vs 1 MB of text", peaks["large"][0],
                peaks["small"][0], "MB", "< 50 MB more", growth, growth < 50),
            Row(f"anonymous memory at the end of training, {large_mb} MB vs 1 MB of text",
                peaks["large"][1], peaks["small"][1], "MB", "report", anon_growth, True)]


def reported_memory(run: subprocess.Popen) -> tuple[float, float]:
    """The peak RSS and the anonymous memory, in MB, that a ``TRAIN_AND_REPORT_RSS`` process
    printed once it ended."""
    out, _ = run.communicate()
    if run.returncode:
        raise subprocess.CalledProcessError(run.returncode, run.args, out)
    peak_kib, anon_kib = map(int, out.split()[-2:])  # KiB on Linux
    return peak_kib / 1024, anon_kib / 1024


# ---- corpora larger than memory -----------------------------------------------------------------

LOAD_AND_REPORT = """
import sys, time
from pathlib import Path
from seqgen.data.corpus import load_corpus
from seqgen.data.codecs.base import codecs
codecs()  # the plugins load before the clock starts
start = time.perf_counter()
load_corpus(sys.argv[1], cache_dir=Path(sys.argv[2]))
seconds = time.perf_counter() - start
status = open("/proc/self/status").read()
print(seconds, int(status.split("VmHWM:")[1].split()[0]))  # KiB
"""


def write_text_corpus(path: Path, megabytes: int) -> float:
    """Tiny Shakespeare repeated to at least ``megabytes``, written copy by copy; its size in MB."""
    text = (SHAKESPEARE / "input.txt").read_bytes()
    with open(path, "wb") as f:
        for _ in range(-(-megabytes * 2**20 // len(text))):
            f.write(text)
    return path.stat().st_size / 2**20


def load_in_fresh_process(corpus: Path, cache: Path) -> tuple[float, float]:
    """Seconds to load ``corpus`` (encoding it unless ``cache`` holds it) in a new process, and
    that process's peak RSS in MB."""
    out = subprocess.run([sys.executable, "-c", LOAD_AND_REPORT, str(corpus), str(cache)],
                         check=True, capture_output=True, text=True).stdout
    seconds, peak_kib = map(float, out.split()[-2:])
    return seconds, peak_kib / 1024


def check_free_space(folder: str, megabytes: float) -> None:
    free = shutil.disk_usage(folder).free / 2**20
    if free < megabytes:
        raise SystemExit(f"the scaling suite needs {megabytes:,.0f} MB free in {folder} and "
                         f"{free:,.0f} MB are; set TMPDIR to a larger disk")


def scaling_rows(quick: bool) -> list[Row]:
    """Encoding time (median) and peak RSS (the largest of the repeats) of text corpora 16x
    apart in size (4x at the smoke size), each loaded in a fresh process (so its VmHWM is its
    own): the time should grow linearly, the memory not at all."""
    sizes = (1, 4) if quick else (50, 200, 800)
    repeats = 1 if quick else 3
    small, big = sizes[0], sizes[-1]
    with tempfile.TemporaryDirectory() as folder:
        check_free_space(folder, 2.2 * sum(sizes))  # each corpus and its cache (uint8 ids)
        corpora = {mb: Path(folder) / f"{mb}mb.txt" for mb in sizes}
        size = {mb: write_text_corpus(path, mb) for mb, path in corpora.items()}
        caches = {mb: Path(folder) / f"cache-{mb}mb" for mb in sizes}
        peaks: dict[int, list[float]] = {mb: [] for mb in sizes}

        def encode(mb: int) -> Callable[[], float]:
            def run() -> float:
                shutil.rmtree(caches[mb], ignore_errors=True)
                seconds, peak = load_in_fresh_process(corpora[mb], caches[mb])
                peaks[mb].append(peak)
                return seconds
            return run

        def reload(mb: int) -> Callable[[], float]:
            return lambda: load_in_fresh_process(corpora[mb], caches[mb])[0]

        encoding = dict(zip(sizes, median_interleaved([encode(mb) for mb in sizes], repeats),
                            strict=True))
        reloading = dict(zip(sizes, median_interleaved([reload(mb) for mb in sizes], repeats),
                             strict=True))
    peak = {mb: max(p) for mb, p in peaks.items()}
    rows = []
    for mb in sizes:
        linear = encoding[small] * size[mb] / size[small]
        rate, small_rate = size[mb] / encoding[mb], size[small] / encoding[small]
        rows += [
            Row(f"encode {size[mb]:.0f} MB of text (vs linear from {size[small]:.0f} MB)",
                encoding[mb], linear, "s", "report", encoding[mb] / linear, True),
            Row(f"  encoding rate, {size[mb]:.0f} MB (vs {size[small]:.0f} MB)", rate,
                small_rate, "MB/s", "report", rate / small_rate, True),
            Row(f"  peak RSS encoding {size[mb]:.0f} MB (vs {size[small]:.0f} MB)", peak[mb],
                peak[small], "MB", "report", peak[mb] - peak[small], True),
            Row(f"  cached reload of {size[mb]:.0f} MB (vs encoding)", reloading[mb],
                encoding[mb], "s", "report", encoding[mb] / reloading[mb], True),
        ]
    growth, size_ratio = encoding[big] / encoding[small], size[big] / size[small]
    extra = peak[big] - peak[small]
    return rows + [
        Row(f"encoding time, {size[big]:.0f} vs {size[small]:.0f} MB (vs the size ratio)", growth,
            size_ratio, "x", "within 25%", growth / size_ratio,
            abs(growth / size_ratio - 1) <= 0.25),
        Row(f"peak RSS encoding {size[big]:.0f} vs {size[small]:.0f} MB", peak[big], peak[small],
            "MB", "< 50 MB more", extra, extra < 50)]


# ---- command line ------------------------------------------------------------------------------


HELP_IMPORTS_TORCH = """
import sys
from seqgen.cli import main
sys.argv = ["seqgen", "--help"]
try:
    main()
except SystemExit:
    pass
print("torch" in sys.modules)
"""


def startup_rows(quick: bool) -> list[Row]:
    """Time of ``seqgen --help`` and ``seqgen cells`` in a fresh interpreter, and whether the
    help imports torch."""
    rows = []
    repeats = 1 if quick else 5
    bare = median_interleaved([lambda: timed(lambda: subprocess.run(
        [sys.executable, "-c", "pass"], check=True))], 1 if quick else 3)[0]
    for args in (["--help"], ["cells"]):
        seconds = median_interleaved([lambda args=args: timed(lambda: subprocess.run(
            [sys.executable, "-m", "seqgen", *args], capture_output=True, check=True))],
            repeats)[0]
        rows.append(Row(f"seqgen {' '.join(args)}: start-up", seconds, bare, "s",
                        "report", seconds / bare, True))
    probe = subprocess.run([sys.executable, "-c", HELP_IMPORTS_TORCH], capture_output=True,
                           text=True, check=True)
    imports_torch = probe.stdout.strip().endswith("True")
    rows.append(Row("seqgen --help imports torch (1 = yes)", float(imports_torch), 0.0, "",
                    "no torch", float(imports_torch), not imports_torch))
    return rows
