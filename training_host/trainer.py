"""Train the character CNN: mini-batch Adam over the compiled PyTensor graph, early stopping on the
validation set, the best epoch's parameters returned as `Weights` ready for `save_weights`.

Data loading and the recipe live in `training_host.train`; this module only sees arrays:
X (N, S, S) float32 from `normalize_char`, y int indices into `classes`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import numpy as np

from anpr.classify import blas_limiter
from anpr.network import Architecture, init_params
from anpr.weights import FORMAT_VERSION, Weights

DEFAULT_LEARNING_RATE = 1e-3
DEFAULT_BATCH_SIZE = 128
EVAL_BATCH_SIZE = 512
LR_DECAY_ON_PLATEAU = 0.5  # learning rate factor after an epoch without validation improvement
MIN_LEARNING_RATE = 1e-5
# BLAS threads while training (None: the library's default, all cores). PyTensor's C backend runs one
# op at a time and its GEMMs are small: on the 2-core dev machine, when busy, one OpenBLAS thread trained
# 1.2-1.4x faster than two (bench_training: "CVM 1 BLAS thread" vs "CVM"); when idle, neither won clearly.
TRAIN_BLAS_THREADS: int | None = None


@dataclass
class TrainResult:
    weights: Weights
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0


def _check_xy(X: np.ndarray, y: np.ndarray, n_classes: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    X = np.ascontiguousarray(X, np.float32)
    y = np.asarray(y)
    if X.ndim != 3 or X.shape[1] != X.shape[2]:
        raise ValueError(f"{what}: images must be (N, S, S) float32 from normalize_char, got shape {X.shape}")
    if y.shape != (len(X),):
        raise ValueError(f"{what}: {len(X)} images but labels of shape {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{what}: labels must be class indices 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    return X, y.astype(np.int32)


class Trainer:
    """Trains the CNN for `classes` (one character per class) in PyTensor `mode` (CVM|NUMBA|JAX).
    `blas_threads` caps BLAS threads while training (None: the library's default)."""

    def __init__(self, classes: str, mode: str = "CVM", batch_size: int = DEFAULT_BATCH_SIZE,
                 learning_rate: float = DEFAULT_LEARNING_RATE, seed: int = 0,
                 blas_threads: int | None = TRAIN_BLAS_THREADS) -> None:
        from anpr.graph import check_mode  # imports pytensor (after configuring its cache)

        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ValueError(f"classes={classes!r}: need at least 2 distinct characters")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: must be >= 1")
        if not 0 < learning_rate < 1:
            raise ValueError(f"learning_rate={learning_rate}: must be in (0, 1)")
        self.classes = classes
        self.mode = check_mode(mode)
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.seed = seed
        self.blas_threads = blas_threads

    def fit(self, X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
            epochs: int, patience: int, progress: bool = True,
            on_epoch: Callable[[dict], None] | None = None, metadata: dict | None = None) -> TrainResult:
        """Train up to `epochs`, stop after `patience` epochs without a better validation accuracy,
        return the best epoch's weights. `on_epoch(record)` sees each history record; `metadata`
        (data sets, counts, recipe) is stored in the weights beside the trainer's own."""
        from anpr.graph import compile_training

        n_classes = len(self.classes)
        X_train, y_train = _check_xy(X_train, y_train, n_classes, "training set")
        X_val, y_val = _check_xy(X_val, y_val, n_classes, "validation set")
        if len(X_train) == 0:
            raise ValueError("training set is empty")
        if len(X_val) and X_val.shape[1:] != X_train.shape[1:]:
            raise ValueError(f"validation images {X_val.shape[1:]} differ from training images {X_train.shape[1:]}")
        if epochs < 1 or patience < 1:
            raise ValueError(f"epochs={epochs}, patience={patience}: both must be >= 1")

        arch = Architecture(n_classes=n_classes, input_size=X_train.shape[1])
        fixed = self.batch_size if self.mode == "JAX" else None
        t0 = time.perf_counter()
        fns = compile_training(init_params(arch, self.seed), arch, self.mode, self.learning_rate, fixed)
        compile_s = time.perf_counter() - t0

        with blas_limiter(self.blas_threads)():  # after compiling: PyTensor's BLAS is loaded by then
            history, best, best_params, best_epoch = self._train(
                fns, X_train, y_train, X_val, y_val, epochs, patience, progress, on_epoch)

        meta = {
            "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seed": self.seed, "mode": self.mode, "batch_size": self.batch_size,
            "learning_rate": self.learning_rate, "epochs_run": len(history), "best_epoch": best_epoch,
            "val_accuracy": best[0], "val_loss": -best[1], "n_train": len(X_train), "n_val": len(X_val),
            "compile_seconds": round(compile_s, 1),
        }
        meta.update(metadata or {})
        weights = Weights(FORMAT_VERSION, self.classes, arch.input_size, best_params, meta)
        return TrainResult(weights, history, best_epoch)

    def _train(self, fns, X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
               epochs: int, patience: int, progress: bool, on_epoch: Callable[[dict], None] | None
               ) -> tuple[list[dict], tuple[float, float], dict[str, np.ndarray], int]:
        """The epoch loop: train, validate, keep the best parameters, stop after `patience` stale epochs."""
        rng = np.random.default_rng(self.seed)
        history: list[dict] = []
        best = (-1.0, -np.inf)  # (val accuracy, -val loss)
        best_params, best_epoch, stale = fns.params(), 0, 0
        lr = self.learning_rate
        for epoch in range(1, epochs + 1):
            t_epoch = time.perf_counter()
            train_loss, train_acc = self._run_epoch(fns, X_train, y_train, rng, epoch, epochs, progress)
            train_s = time.perf_counter() - t_epoch
            if len(X_val):
                val_loss, val_acc = self._evaluate(fns, X_val, y_val)
            else:
                val_loss, val_acc = train_loss, train_acc
            record = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss,
                      "val_acc": val_acc, "learning_rate": lr, "seconds": round(time.perf_counter() - t_epoch, 2),
                      "samples_per_s": round(len(X_train) / max(train_s, 1e-9), 1)}
            history.append(record)
            if progress:
                print(f"epoch {epoch}: loss {train_loss:.4f} acc {train_acc:.4f} | "
                      f"val loss {val_loss:.4f} acc {val_acc:.4f} | {record['seconds']} s", flush=True)
            if on_epoch is not None:
                on_epoch(record)
            if (val_acc, -val_loss) > best:
                best, best_params, best_epoch, stale = (val_acc, -val_loss), fns.params(), epoch, 0
            else:
                stale += 1
                if stale >= patience:
                    break
                lr = max(lr * LR_DECAY_ON_PLATEAU, MIN_LEARNING_RATE)
                fns.learning_rate.set_value(np.float32(lr))
        return history, best, best_params, best_epoch

    def _run_epoch(self, fns, X: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                   epoch: int, epochs: int, progress: bool) -> tuple[float, float]:
        order = rng.permutation(len(X))
        bs = self.batch_size
        starts = range(0, len(X), bs)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(X), desc=f"epoch {epoch}/{epochs}", unit="img", leave=False)
        loss_sum = acc_sum = 0.0
        for s in starts:
            idx = order[s : s + bs]
            xb, yb, mb = self._batch(fns, X, y, idx)
            loss, acc = fns.step(xb, yb, mb)
            loss_sum += loss * len(idx)
            acc_sum += acc * len(idx)
            if bar is not None:
                bar.update(len(idx))
                bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.3f}")
        if bar is not None:
            bar.close()
        return loss_sum / len(X), acc_sum / len(X)

    def _batch(self, fns, X: np.ndarray, y: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from anpr.graph import pad_batch

        xb, yb, mb = X[idx], y[idx], np.ones(len(idx), np.float32)
        if fns.batch_size is not None:  # JAX: fixed shapes, so pad the tail and mask the padding out
            (xb, _), (yb, _), (mb, _) = (pad_batch(a, fns.batch_size) for a in (xb, yb, mb))
        return xb, yb, mb

    def _evaluate(self, fns, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        bs = fns.batch_size or EVAL_BATCH_SIZE
        loss_sum = acc_sum = 0.0
        for s in range(0, len(X), bs):
            idx = np.arange(s, min(s + bs, len(X)))
            loss, acc = fns.evaluate(*self._batch(fns, X, y, idx))
            loss_sum += loss * len(idx)
            acc_sum += acc * len(idx)
        return loss_sum / len(X), acc_sum / len(X)
