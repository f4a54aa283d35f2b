"""The benchmark suite runs (quick sizes) so its scripts cannot rot; figures are not judged."""

import json
import math
import os
import subprocess
import sys

import pytest

from seqgen.training.devices import bf16_native
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_quick_benchmarks_print_every_row():
    result = subprocess.run([sys.executable, "-m", "benchmarks", "all", "--quick", "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    names = " ".join(row["name"] for row in rows)
    precision = ("bf16 autocast vs fp32",) if bf16_native("cpu") else ()  # else not measured
    for expected in ("train lstm", "train gru", "train vanilla", "fraction of fp32 matmul peak",
                     *precision, "sample lstm", "batch 1", "batch 64",
                     "sampling time", "encode a", "cached reload", "start-up",
                     "vs a plain loop", "word_language_model", "seqgen --time",
                     "nanoGPT's CPU recipe", "vs fp32: the",
                     "train encoder-decoder", "input feeding", "beam 5 vs greedy",
                     "bpe 512", "words (", "characters of text per second",
                     "defaults: BPE 1024", "defaults: words"):
        assert expected in names, expected
    for row in rows:
        assert math.isfinite(row["seqgen"]) and math.isfinite(row["reference"]), row
        if row["unit"] in ("tokens/s", "chars/s", "MB/s", "GFLOP/s", "s", "nats/char",
                           "bits/char"):
            assert row["seqgen"] > 0 and row["reference"] > 0, row


def test_music_quality_compares_samples_and_a_floor_with_the_corpus():
    result = subprocess.run([sys.executable, "-m", "benchmarks.music_quality", "--quick"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "samples (4 pieces) against" in result.stdout
    assert "shuffled tokens (4 pieces) against" in result.stdout
    assert result.stdout.count("polyphony") == 2


def test_names_quality_compares_samples_with_real_names_at_the_same_weighting():
    result = subprocess.run([sys.executable, "-m", "benchmarks.names_quality", "--per-label",
                             "2"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "each language counted equally: real held-out names" in result.stdout
    assert "weighted by held-out names: real held-out names" in result.stdout
    assert result.stdout.count(" (real ") == 18  # a line per language
    assert "nats apart" in result.stdout


def test_harmony_quality_compares_harmonised_melodies_with_bach():
    result = subprocess.run([sys.executable, "-m", "benchmarks.harmony_quality", "--quick",
                             "--seeds", "2"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("harmonised 3 held-out melodies in") == 2
    for seed in (1, 2):  # the bundled model has learnt rule weights: the default uses them
        assert f"(sampled at temperature 1, rules weighed as learnt, seed {seed})" in \
            " ".join(result.stdout.split())
    for feature in ("pitch_class_histogram", "polyphony", "consonant_onsets",
                    "parallel_octaves_per_bar"):
        assert f"{feature}: OA " in result.stdout, feature
    assert "within its spread in" in result.stdout and "in 2 runs)" in result.stdout
