"""Classifiers for the pipeline's tests: the packaged default model (skip when absent) and a
random-weights model written at test time (for contract tests that do not need accuracy)."""
from __future__ import annotations

from pathlib import Path

import pytest

from anpr.network import DEFAULT_CLASSES, INPUT_SIZE, Architecture, init_params
from anpr.weights import FORMAT_VERSION, Weights, default_weights_path, save_weights


def default_model_or_skip() -> Path:
    path = default_weights_path()
    if not path.exists():
        pytest.skip(f"default model {path} not trained yet (training_host train writes it)")
    return path


def random_weights_file(tmp_path: Path) -> Path:
    """An untrained but valid weights file: the pipeline runs end to end, reading garbage."""
    params = init_params(Architecture(), seed=1)
    w = Weights(FORMAT_VERSION, DEFAULT_CLASSES, INPUT_SIZE, params, {"note": "random, for tests"})
    path = tmp_path / "random.pkl"
    save_weights(w, path)
    return path
