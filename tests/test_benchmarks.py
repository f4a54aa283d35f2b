"""Every benchmark runs at its smoke size (``--quick``) so a refactor cannot break one
silently. The tests check the rows and lines each prints, never a figure's value.

Most run in this process. Those that mostly wait for processes of their own (``WAITING``)
start in a thread with the first test of this module, so their processes use a core the tests
of this process leave idle (they compute on one thread meanwhile: two would stall each other's
work); their tests, last, take the results.
"""

import json
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

import pytest
import torch

import benchmarks.__main__ as runner
from benchmarks import cells, harmony_quality, midi_ingest, music_quality, names_quality
from benchmarks.common import ROOT, Row
from seqgen.data.codecs.base import codecs
from seqgen.training.devices import bf16_native

pytestmark = pytest.mark.slow


POSITIVE_UNITS = ("tokens/s", "chars/s", "MB/s", "GFLOP/s", "s", "nats", "nats/char",
                  "bits/char", "MB", "nats/s", "x real time")
SUITE_ROWS = {  # each suite's rows at the smoke size: a part of each name, in order
    "training": [f"train {cell} 2x32, fp32 (vs plain PyTorch loop)" if measured else
                 f"train {cell} 2x32: fraction of fp32 matmul peak"
                 for cell in ("lstm", "gru", "vanilla") for measured in (True, False)],
    "precision": ["train lstm 2x32, bf16 autocast vs fp32", "the same in the plain PyTorch loop",
                  "validation loss after 5 steps, bf16 vs fp32"] if bf16_native("cpu") else [],
    "sampling": ["sample lstm 2x32, batch 1, 50 tokens (vs nn.LSTMCell loop)",
                 "sample lstm 2x32, batch 64, 50 tokens", "sampling time, 200 vs 50 tokens"],
    "encoding": ["encode a 1 MB text", "cached reload vs encoding"],
    "memory": ["peak RSS training on 4 MB vs 1 MB of text", "anonymous memory at the end"],
    "scaling": [*(what for size in (1, 4) for what in (
                    f"encode {size} MB of text (vs linear from 1 MB)",
                    f"encoding rate, {size} MB (vs 1 MB)", f"peak RSS encoding {size} MB",
                    f"cached reload of {size} MB (vs encoding)")),
                "encoding time, 4 vs 1 MB", "peak RSS encoding 4 vs 1 MB"],
    "startup": ["seqgen --help: start-up", "seqgen cells: start-up",
                "seqgen --help imports torch"],
    "load": ["train 2x16 LSTM beside one busy process vs alone",
             "alone: seqgen's thread setting vs", "beside one busy process with"],
    "seq2seq": ["train encoder-decoder lstm 2x32, batch 64 (vs plain PyTorch loop)",
                "the plain loop with packed sequences", "input feeding (a step loop) vs none",
                "beam 5 vs greedy: 8 inputs, 10 steps",
                *(f"numbers model, exact match greedy (vs beam 5), {band}" for band in (
                    "1-9: 2 pairs, all in training", "10-99: 2 pairs, all in training",
                    "100: 2 pairs, all in training", "101-999: 2 pairs, held out",
                    "1000-9999: 2 pairs, held out",
                    "the validation split (as seqgen eval): 4 pairs"))],
    "classifier": ["names: classifier's macro accuracy (vs trigram naive Bayes, same split)",
                   "train many-to-one 1x16 gru on names (vs plain PyTorch loop)"],
    "composers": ["composers: classifier's macro accuracy (vs logistic regression on note "
                  "histograms, same split; 1x16 gru, 4 steps; 3 pieces each"],
    "controls": [*(f"controls: density, {what} (4 bins x 2 samples" for what in (
                     "Spearman of asked and measured", "samples in the asked bin")),
                 "controls: key, samples in the asked key (4 keys x 2 samples",
                 *(f"controls: register, {what} (4 bins x 2 samples" for what in (
                     "Spearman of asked and measured", "samples in the asked bin")),
                 *(f"controls: {control} left free, overlap with the training pieces' as "
                   "trained (8 samples" for control in ("density", "key", "register")),
                 "controls: validation loss, every control free, against a run without",
                 "controls: validation loss, the controls measured from each piece given",
                 "controls: training tokens per second, with controls against without"],
    "music-codecs": [what for codec in ("REMI", "TSD") for what in (
                         f"music codecs: miditok {codec} vs midi, validation nats per second "
                         "of music (3 steps", f"miditok {codec} vs midi, tokens per second",
                         f"miditok {codec} vs midi, encoding")] if "miditok" in codecs() else [],
    "codecs": [what for codec in ("char (", "bpe 512 (", "words (") for what in (
                   f"train lstm 2x32, {codec}", "characters of text per second",
                   f"sample lstm 2x32, batch 1, {codec[:-2]}: tokens/s vs char",
                   "characters of text per second")],
}


def ddp_exit_quick() -> subprocess.CompletedProcess:
    """``python -m benchmarks.ddp_exit --quick``."""
    return subprocess.run([sys.executable, "-m", "benchmarks.ddp_exit", "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


WAITING = {"ddp_exit": ddp_exit_quick,  # each runs when a selected test's name holds its key
           "memory": partial(runner.SUITES["memory"], True),
           "scaling": partial(runner.SUITES["scaling"], True)}


@pytest.fixture(autouse=True, scope="module")
def waiting(request) -> Iterator[dict[str, Future]]:
    """Each of ``WAITING`` whose test is selected, run in order in a thread beside the tests."""
    tests = [item.name for item in request.session.items if item.module is request.module]
    wanted = [name for name in WAITING if any(name in test for test in tests)]
    codecs()  # the registry loads here, not in two threads at once
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with ThreadPoolExecutor(1) as pool:
        yield {name: pool.submit(WAITING[name]) for name in wanted}
        pool.shutdown(cancel_futures=True)
    torch.set_num_threads(threads)


def checked(rows: list[dict]) -> list[dict]:
    """``rows``, each figure checked finite (and positive where its unit is a speed, a time or
    a size)."""
    for row in rows:
        assert math.isfinite(row["seqgen"]) and math.isfinite(row["reference"]), row
        if row["unit"] in POSITIVE_UNITS:
            assert row["seqgen"] > 0 and row["reference"] > 0, row
    return rows


def suite_rows(suite: str, capsys) -> list[dict]:
    """``python -m benchmarks SUITE --quick --json``: its rows, checked."""
    runner.main([suite, "--quick", "--json"])
    return checked(json.loads(capsys.readouterr().out))


def assert_names(rows: list[dict], expected: list[str]) -> None:
    assert len(rows) == len(expected), [row["name"] for row in rows]
    for row, part in zip(rows, expected, strict=True):
        assert part in row["name"], (part, row["name"])


@pytest.mark.parametrize("suite", [suite for suite in SUITE_ROWS if suite not in WAITING])
def test_each_suite_prints_every_row(suite, capsys):
    assert_names(suite_rows(suite, capsys), SUITE_ROWS[suite])


QUALITY_ROWS = [  # (a pattern of the name, the target) of each row at the smoke size
    (r"^5 steps, 1x16 LSTM, batch 32, seq 64: seqgen defaults vs a plain loop \(AdamW, "
     r"constant rate, best of 0\.002, 0\.005, 0\.008 by its validation loss: 0\.00[258]\)$",
     "ours <= 1.01 x reference"),
    (r"^one epoch, 2x16 LSTM, batch 64, seq 128: seqgen defaults vs an AdamW loop on "
     r"word_language_model's data layout .*best of .*: 0\.00[258]\)$", "ours <= 1.01 x reference"),
    (r"^  the same vs word_language_model's own recipe \(SGD, rate 20, clipping 0\.25",
     "ours <= 1.01 x reference"),
    (r"^0\.25 s of training: seqgen --time, defaults \(\d+ steps\) vs nanoGPT's CPU recipe "
     r"at equal time \(transformer, \d+ iterations\)$", "ours <= 1 x reference"),
    (r"^  the same 0\.25 s run vs nanoGPT's CPU recipe as its README runs it \(20 iterations, "
     r"its rate schedule over them: \d+\.\d s here\)$", "ours <= 1 x reference"),
    (r"^0\.5 s of training: seqgen --time, defaults \(\d+ steps\) vs nanoGPT's CPU recipe at "
     r"equal time", "ours <= 1 x reference"),
    (r"^precision (bf16|fp32) \(auto\) vs fp32: the 0\.5 s run above against the same model "
     r"trained its \d+ steps in fp32$", "ratio within 1%"),
    (r"^0\.25 s of training, defaults: BPE 1024 \(\d+ steps\) vs char", "report"),
    (r"^0\.25 s of training, defaults: words \(\d+ steps; .* unknown words", "report"),
]


def test_quality_compares_with_references_measured_in_the_same_run(capsys):
    rows = suite_rows("quality", capsys)
    assert len(rows) == len(QUALITY_ROWS), [row["name"] for row in rows]
    for row, (pattern, target) in zip(rows, QUALITY_ROWS, strict=True):
        assert re.search(pattern, row["name"]), (pattern, row["name"])
        assert row["target"] == target, row


def test_codec_quality_runs_alone(capsys):
    rows = suite_rows("codec-quality", capsys)
    assert len(rows) == 2
    for row, (pattern, _) in zip(rows, QUALITY_ROWS[-2:], strict=True):
        assert re.search(pattern, row["name"]), (pattern, row["name"])


def test_all_runs_every_suite_but_those_run_by_name(monkeypatch, capsys, tmp_path):
    ran = []

    def suite(name: str):
        def rows(quick: bool) -> list[Row]:
            ran.append((name, quick))
            return [Row(f"{name} row", 1.0, 2.0, "s", "report", 0.5, True)]
        return rows

    monkeypatch.setattr(runner, "SUITES", {name: suite(name) for name in runner.SUITES})
    runner.main(["all", "--quick", "--json-out", str(tmp_path / "rows.json")])
    expected = [name for name in runner.SUITES if name not in runner.BY_NAME]
    assert ran == [(name, True) for name in expected]
    assert "seqgen benchmarks (quick" in capsys.readouterr().out
    written = json.loads((tmp_path / "rows.json").read_text(encoding="utf-8"))
    assert [row["name"] for row in written] == [f"{name} row" for name in expected]


def test_gpu_check_without_a_gpu_says_so_in_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    runner.main(["gpu"])  # returns: exit code 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ("gpu: nothing measured, there is no CUDA GPU here "
                   "(torch.cuda.is_available() is False)\n")
    assert not (tmp_path / "gpu-results.json").exists()


def test_cells_compares_mingru_paths_with_the_gru(capsys):
    cells.main(["--quick"])
    out = capsys.readouterr().out
    assert "2 layers x 16, batch 64, seq-len 128" in out
    assert "median of 1 interleaved rounds of 2 steps" in out
    for name in ("gru", "mingru parallel", "mingru step loop"):
        assert f"  {name} " in out and "x gru" in out, name
    assert "compiled" not in out


def test_midi_ingest_compares_encoding_with_the_bare_parse(capsys):
    midi_ingest.main(["--quick"])
    out = capsys.readouterr().out
    assert "24 files from" in out and "median of 1 interleaved runs" in out
    for name in ("bare parse", "full encode", "encode, one process", "cached reload"):
        assert f"  {name} " in out, name
    for ratio in ("full encode / bare parse", "one-process encode / bare parse",
                  "full encode / cached reload"):
        assert ratio in out, ratio


def test_music_quality_compares_samples_and_a_floor_with_the_corpus(capsys):
    music_quality.main(["--quick"])
    out = capsys.readouterr().out
    assert "samples (4 pieces) against" in out
    assert "shuffled tokens (4 pieces) against" in out
    assert "(24 pieces)" in out
    assert out.count("polyphony") == 2


def test_names_quality_compares_samples_with_real_names_at_the_same_weighting(capsys):
    names_quality.main(["--quick"])
    out = capsys.readouterr().out
    assert "each language counted equally: real held-out names" in out
    assert "weighted by held-out names: real held-out names" in out
    assert "generated (2 per language)" in out
    assert out.count(" (real ") == 18  # a line per language
    assert "nats apart" in out


def test_harmony_quality_compares_harmonised_melodies_with_bach(capsys):
    harmony_quality.main(["--quick", "--seeds", "2"])
    out = capsys.readouterr().out
    assert out.count("harmonised 3 held-out melodies in") == 2
    for seed in (1, 2):  # the bundled model has learnt rule weights: the default uses them
        assert f"(sampled at temperature 1, rules weighed as learnt, seed {seed})" in \
            " ".join(out.split())
    for feature in ("pitch_class_histogram", "polyphony", "consonant_onsets",
                    "parallel_octaves_per_bar"):
        assert f"{feature}: OA " in out, feature
    assert "the reference: 2 sets of 3 training chorales (Bach)" in out
    assert "within its spread in" in out and "in 2 runs)" in out


@pytest.mark.parametrize("suite", [suite for suite in WAITING if suite in SUITE_ROWS])
def test_each_suite_waiting_on_processes_prints_every_row(suite, waiting):
    rows = waiting[suite].result()
    assert_names(checked([row.as_dict() for row in rows]), SUITE_ROWS[suite])


def test_ddp_exit_counts_crashed_runs(waiting):
    done = waiting["ddp_exit"].result()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "run 1/1: exit code 0\n" in done.stdout
    assert "0 of 1 runs crashed; exit codes seen (code: runs): 0: 1" in done.stdout
