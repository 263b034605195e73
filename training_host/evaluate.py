"""Accuracy of a trained model per data source, its confusion matrix, and the report plots.

Predictions use the plain-numpy forward pass of the network (`anpr.network.forward`), the same
arithmetic as the device's lean engine, so the figures need no compile.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from anpr.network import forward
from anpr.weights import Weights

from .datasets.charset import CharSet

PREDICT_BATCH = 1024
TOP_CONFUSIONS = 12


def predict_proba(weights: Weights, images: np.ndarray, batch: int = PREDICT_BATCH) -> np.ndarray:
    """Class probabilities (N, C) for normalized images (N, S, S)."""
    out = np.zeros((len(images), len(weights.classes)), np.float32)
    for i in range(0, len(images), batch):
        out[i: i + batch] = forward(weights.params, images[i: i + batch])
    return out


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts (true class, predicted class)."""
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return cm


def top_confusions(cm: np.ndarray, classes: str, k: int = TOP_CONFUSIONS) -> list[dict]:
    """The k most frequent (true -> predicted) mistakes."""
    off = cm.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(off, axis=None)[::-1][:k]
    out = []
    for f in flat:
        t, p = np.unravel_index(f, off.shape)
        if off[t, p] == 0:
            break
        out.append({"true": classes[t], "pred": classes[p], "count": int(off[t, p])})
    return out


def evaluate_sets(weights: Weights, sets: Mapping[str, CharSet]) -> dict:
    """Accuracy per source and overall on `sets` (labels outside the model's classes are skipped),
    with the overall confusion matrix and its most common mistakes."""
    classes = weights.classes
    index = {c: i for i, c in enumerate(classes)}
    n = len(classes)
    total = np.zeros((n, n), np.int64)
    per_source = {}
    for name, cs in sets.items():
        keep = np.isin(cs.labels, list(classes))
        if not keep.any():
            continue
        y = np.array([index[c] for c in cs.labels[keep]], np.int64)
        pred = predict_proba(weights, cs.images[keep]).argmax(axis=1)
        cm = confusion_matrix(y, pred, n)
        total += cm
        per_source[name] = {"n": int(keep.sum()), "accuracy": float((pred == y).mean()),
                            "groups": int(len(np.unique(cs.groups[keep]))),
                            "top_confusions": top_confusions(cm, classes, 5)}
    count = int(total.sum())
    return {
        "per_source": per_source,
        "n": count,
        "accuracy": float(np.trace(total) / count) if count else float("nan"),
        "confusion_matrix": total.tolist(),
        "top_confusions": top_confusions(total, classes),
    }


def plot_confusion(cm: np.ndarray, classes: str, path: Path, title: str = "confusion matrix") -> None:
    """PNG of the row-normalized confusion matrix (log colour scale shows the rare mistakes)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    cm = np.asarray(cm, np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig, ax = plt.subplots(figsize=(9, 8))
    im = ax.imshow(np.maximum(norm, 1e-4), norm=LogNorm(1e-4, 1), cmap="viridis")
    ax.set_xticks(range(len(classes)), list(classes), fontsize=7)
    ax.set_yticks(range(len(classes)), list(classes), fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="share of the true class")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(history: list[dict], path: Path) -> None:
    """PNG of loss and accuracy per epoch (training and validation), whatever keys the history has."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for key in sorted({k for h in history for k in h}):
        vals = [h.get(key) for h in history]
        if key == "epoch" or not all(isinstance(v, (int, float)) for v in vals):
            continue
        ax = a1 if "loss" in key else a2 if "acc" in key else None
        if ax is not None:
            ax.plot(epochs, vals, marker="o", label=key)
    a1.set_title("loss"); a1.set_xlabel("epoch"); a1.legend()
    a2.set_title("accuracy"); a2.set_xlabel("epoch"); a2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
