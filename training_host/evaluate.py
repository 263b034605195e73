"""Accuracy of a trained model per data source, its confusion matrix, and the report plots.

Predictions use the plain-numpy forward pass of the network (`anpr.network.forward`), the same
arithmetic as the device's lean engine, so the figures need no compile.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from anpr.network import logits, softmax
from anpr.regions import GLYPH_TWINS
from anpr.weights import Weights

from .datasets.charset import CharSet, class_indices

PREDICT_BATCH = 1024
TOP_CONFUSIONS = 12


def predict_proba(weights: Weights, images: np.ndarray, batch: int = PREDICT_BATCH) -> np.ndarray:
    """Class probabilities (N, C) for normalized images (N, S, S)."""
    return softmax(_logits(weights, images, batch)).astype(np.float32)


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


def twins_merged_accuracy(cm: np.ndarray, classes: str, twins: tuple[str, ...] = GLYPH_TWINS) -> float:
    """Accuracy counting a confusion inside a glyph-twin pair (e.g. O read as 0) as right."""
    right = int(np.trace(cm))
    for pair in twins:
        idx = [classes.index(c) for c in pair if c in classes]
        for a in idx:
            for b in idx:
                if a != b:
                    right += int(cm[a, b])
    total = int(cm.sum())
    return right / total if total else float("nan")


def evaluate_sets(weights: Weights, sets: Mapping[str, CharSet]) -> dict:
    """Accuracy per source and overall on `sets` (labels outside the model's classes are skipped),
    with the overall confusion matrix and its most common mistakes."""
    classes = weights.classes
    n = len(classes)
    total = np.zeros((n, n), np.int64)
    per_source = {}
    for name, cs in sets.items():
        keep = np.isin(cs.labels, list(classes))
        if not keep.any():
            continue
        y = class_indices(cs.labels[keep], classes, np.int64)
        pred = predict_proba(weights, cs.images[keep]).argmax(axis=1)
        cm = confusion_matrix(y, pred, n)
        total += cm
        per_source[name] = {"n": int(keep.sum()), "accuracy": float((pred == y).mean()),
                            "accuracy_twins_merged": twins_merged_accuracy(cm, classes),
                            "groups": int(len(np.unique(cs.groups[keep]))),
                            "top_confusions": top_confusions(cm, classes, 5)}
    count = int(total.sum())
    return {
        "per_source": per_source,
        "n": count,
        "accuracy": float(np.trace(total) / count) if count else float("nan"),
        "accuracy_twins_merged": twins_merged_accuracy(total, classes) if count else float("nan"),
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


TEMPERATURES = np.exp(np.linspace(np.log(0.5), np.log(4.0), 61))
ECE_BINS = 15


def degraded_copies(cs: CharSet, copies: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The clean images of `cs` plus `copies` photo-like degradations of each raw crop (held-out
    plates seen the way the camera sees them): images and labels."""
    from anpr.charcrop import normalize_char

    from .datasets.augment import augment_char

    images, labels = [cs.images], [cs.labels]
    if cs.crops and copies > 0:
        rng = np.random.default_rng([seed, 11])
        extra = []
        for _ in range(copies):
            for crop in cs.crops:
                c, dark = augment_char(crop, rng, cs.ink_dark)
                extra.append(normalize_char(c, ink_dark=dark))
        images.append(np.stack(extra))
        labels.append(np.tile(cs.labels, copies))
    return np.concatenate(images).astype(np.float32), np.concatenate(labels)


def _logits(weights: Weights, images: np.ndarray, batch: int = PREDICT_BATCH) -> np.ndarray:
    """The network's logits (N, C), `batch` images at a time."""
    if not len(images):
        return np.zeros((0, len(weights.classes)), np.float32)
    return np.concatenate([logits(weights.params, images[i: i + batch]) for i in range(0, len(images), batch)])


def _nll(z: np.ndarray, y: np.ndarray) -> float:
    z = z - z.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |confidence - accuracy| over equal-width confidence bins, weighted by bin size."""
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == y
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(conf[m].mean() - right[m].mean())
    return float(ece)


def fit_temperature(weights: Weights, images: np.ndarray, labels: np.ndarray) -> tuple[float, dict]:
    """The softmax temperature T minimizing the negative log-likelihood on (images, labels), and
    the NLL/ECE before and after. Dividing the logits by T changes no prediction, only confidences."""
    keep = np.isin(labels, list(weights.classes))
    y = class_indices(labels[keep], weights.classes, np.int64)
    z = _logits(weights, images[keep]).astype(np.float64)
    if not len(y):
        return 1.0, {}
    nlls = [_nll(z / t, y) for t in TEMPERATURES]
    t = float(TEMPERATURES[int(np.argmin(nlls))])

    return t, {"temperature": round(t, 3), "n": int(len(y)), "nll_before": _nll(z, y), "nll_after": min(nlls),
               "ece_before": expected_calibration_error(softmax(z), y),
               "ece_after": expected_calibration_error(softmax(z / t), y)}


def with_temperature(weights: Weights, t: float) -> Weights:
    """The same network with its logits divided by `t` (folded into the last dense layer)."""
    import dataclasses

    params = dict(weights.params)
    params["dense2_w"] = (params["dense2_w"] / t).astype(np.float32)
    params["dense2_b"] = (params["dense2_b"] / t).astype(np.float32)
    return dataclasses.replace(weights, params=params, metadata={**weights.metadata, "temperature": t})
