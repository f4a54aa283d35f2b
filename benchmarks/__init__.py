"""seqgen's benchmark suite: ``python -m benchmarks all [--quick] [--json]``."""
