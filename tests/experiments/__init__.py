"""Tests of experiments/: the run pipeline, sweeps, the ablation ladder and table, the MLflow project."""

import os

# As the graphrec console script does: OpenMP threads sleep instead of spinning (2 shared cores).
# Only effective when this package is imported before torch (e.g. pytest tests/experiments).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
