"""Classify normalized character crops with the CNN: labels and class probabilities.

Two engines compute the same network: "numpy" (default: no compile step, no PyTensor import,
~0.3 ms for a plate's 8 characters) and "pytensor" (the compiled graph, in mode CVM|NUMBA|JAX —
the path to a GPU through JAX). The compiled function is built once per classifier.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable

import numpy as np

from anpr import network
from anpr.weights import Weights, default_weights_path, load_weights

ENGINES = ("numpy", "pytensor")
# A plate's 8 characters make matrices too small to split across BLAS threads: one thread is ~2x
# faster at the median and cuts the tail (p90) from tens of ms to under 1 ms on a busy machine.
BLAS_THREADS = 1


def blas_limiter(threads: int | None) -> Callable[[], contextlib.AbstractContextManager]:
    """A context factory limiting the BLAS libraries loaded so far to `threads` (no-op if None or
    threadpoolctl is missing). Per call (~10 us), so the rest of the process keeps its threads."""
    if threads is None:
        return contextlib.nullcontext
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return contextlib.nullcontext
    controller = ThreadpoolController()
    return lambda: controller.limit(limits=threads, user_api="blas")


class CharClassifier:
    """One loaded model. `weights`: a Weights object, a path to a weights pickle, or None (the default).
    `blas_threads` caps BLAS threads during `classify` (None: leave them alone)."""

    def __init__(self, weights: Weights | str | Path | None = None, engine: str = "numpy", mode: str = "CVM",
                 cache_dir: Path | None = None, blas_threads: int | None = BLAS_THREADS) -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine={engine!r}: choose one of {', '.join(ENGINES)}")
        if weights is None:
            weights = default_weights_path()
        if not isinstance(weights, Weights):
            weights = load_weights(weights)
        self.weights = weights
        self.classes: str = weights.classes
        self.sha256: str = weights.sha256
        self.engine: str = engine
        self.input_size: int = weights.input_size
        self._arch = weights.architecture
        self._params = {k: np.ascontiguousarray(v, np.float32) for k, v in weights.params.items()}
        self._probs: Callable[[np.ndarray], np.ndarray]
        if engine == "numpy":
            self._probs = lambda x: network.forward(self._params, x, self._arch.pool)
        else:
            from anpr.compile_cache import configure_pytensor

            configure_pytensor(cache_dir)
            from anpr.graph import compile_inference

            self._probs = compile_inference(self._params, self._arch, mode)
        self._limit_blas = blas_limiter(blas_threads)  # after compiling: sees PyTensor's BLAS too

    def classify(self, chars: np.ndarray) -> tuple[list[str], np.ndarray]:
        """chars (N, S, S) float32 from `normalize_chars` -> (N labels, (N, C) probabilities)."""
        x = np.asarray(chars, np.float32)
        s = self.input_size
        if x.ndim == 2 and x.shape == (s, s):
            x = x[None]
        if x.ndim != 3 or x.shape[1:] != (s, s):
            raise ValueError(f"chars must be (N, {s}, {s}) float32 from normalize_chars, got shape {x.shape}")
        if len(x) == 0:
            return [], np.zeros((0, len(self.classes)), np.float32)
        with self._limit_blas():
            probs = np.asarray(self._probs(x), np.float32)
        return [self.classes[i] for i in probs.argmax(axis=1)], probs
