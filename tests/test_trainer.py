"""Trainer: learns a learnable task, returns the best epoch's weights, is reproducible by seed,
stops early, and trains under JAX with a padded last batch."""
from __future__ import annotations

import numpy as np
import pytest

from anpr import network
from anpr.weights import load_weights, save_weights
from training_host.trainer import Trainer

CLASSES = "ABCD"


def quadrant_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise images where the class says which quadrant holds a bright blob: easy, but only learnable
    through the convolutions (the blob's position within the quadrant varies)."""
    rng = np.random.default_rng(seed)
    X = (rng.random((n, 28, 28)) * 0.3).astype(np.float32)
    y = rng.integers(0, len(CLASSES), n)
    for i, c in enumerate(y):
        r0, c0 = (c // 2) * 14 + rng.integers(0, 7), (c % 2) * 14 + rng.integers(0, 7)
        X[i, r0 : r0 + 7, c0 : c0 + 7] += 0.7
    return X, y


def accuracy(weights, X: np.ndarray, y: np.ndarray) -> float:
    return float((network.forward(weights.params, X).argmax(axis=1) == y).mean())


@pytest.mark.slow
def test_fit_learns_reproducibly_and_returns_the_best_epoch(tmp_path):
    X, y = quadrant_data(600, 0)
    Xv, yv = quadrant_data(200, 1)
    seen = []
    res = Trainer(CLASSES, batch_size=50, seed=3).fit(X, y, Xv, yv, epochs=3, patience=3, progress=False,
                                                       on_epoch=seen.append, metadata={"datasets": {"toy": 600}})
    assert [r["epoch"] for r in res.history] == [1, 2, 3] and seen == res.history
    assert res.weights.classes == CLASSES
    best = res.history[res.best_epoch - 1]
    assert best["val_acc"] == max(r["val_acc"] for r in res.history)
    assert accuracy(res.weights, Xv, yv) == pytest.approx(best["val_acc"], abs=1e-6)  # the best epoch's weights
    assert best["val_acc"] >= 0.95, res.history
    assert res.weights.metadata["datasets"] == {"toy": 600} and res.weights.metadata["seed"] == 3
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]

    path = tmp_path / "toy.pkl"
    save_weights(res.weights, path)  # what training_host train does with the result
    assert load_weights(path).classes == CLASSES

    again = Trainer(CLASSES, batch_size=50, seed=3).fit(X, y, Xv, yv, epochs=1, patience=1, progress=False)
    first_epoch = Trainer(CLASSES, batch_size=50, seed=3).fit(X, y, Xv, yv, epochs=1, patience=1, progress=False)
    for name, arr in again.weights.params.items():
        np.testing.assert_array_equal(arr, first_epoch.weights.params[name])
    assert again.history[0]["train_loss"] == res.history[0]["train_loss"]


@pytest.mark.slow
def test_stops_early_when_validation_does_not_improve():
    X, y = quadrant_data(300, 2)
    Xv = quadrant_data(100, 3)[0]
    yv = np.random.default_rng(4).integers(0, len(CLASSES), 100)  # unlearnable: labels unrelated to images
    res = Trainer(CLASSES, batch_size=100, seed=0).fit(X, y, Xv, yv, epochs=12, patience=2, progress=False)
    assert len(res.history) < 12
    assert len(res.history) - res.best_epoch == 2  # stopped exactly `patience` epochs after the best
    assert res.history[-1]["learning_rate"] < res.history[0]["learning_rate"]  # decayed on the plateau


@pytest.mark.slow
def test_jax_mode_trains_with_a_padded_last_batch():
    pytest.importorskip("jax", reason="jax not installed (pip install '.[jax]')")
    X, y = quadrant_data(230, 5)  # 230 = 3 full batches of 64 + 38 padded rows
    Xv, yv = quadrant_data(70, 6)
    res = Trainer(CLASSES, mode="JAX", batch_size=64, seed=1).fit(X, y, Xv, yv, epochs=3, patience=3, progress=False)
    assert res.weights.metadata["mode"] == "JAX"
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert accuracy(res.weights, Xv, yv) == pytest.approx(res.history[res.best_epoch - 1]["val_acc"], abs=1e-6)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="distinct"):
        Trainer("AA")
    with pytest.raises(ValueError, match="mode='TURBO'"):
        Trainer(CLASSES, mode="TURBO")
    t = Trainer(CLASSES)
    X, y = quadrant_data(10, 0)
    with pytest.raises(ValueError, match="labels must be class indices"):
        t.fit(X, y + 4, X, y, epochs=1, patience=1)
    with pytest.raises(ValueError, match=r"images must be \(N, S, S\)"):
        t.fit(X.reshape(10, -1), y, X, y, epochs=1, patience=1)
