"""Turn the CNN's per-character probabilities into plate text, with confidence and format rescoring.

The CNN reads each character crop on its own; the plate's confidence is the smallest character
probability (one doubtful character makes a doubtful plate). Region formats then rescore the
confusable letter/digit pairs: among the formats of the reading's length, the one whose required
swaps cost least probability wins; a reading that fits no format keeps its characters and loses
confidence (`format_miss_penalty`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import Params
from .regions import formats_for, partner, slot_accepts


@dataclass
class Reading:
    """Plate text from one segmentation hypothesis."""

    text: str
    confidence: float
    char_confidences: list[float]
    fits_format: bool


def apply_format(chars: list[str], probs: np.ndarray, classes: str, fmt: str, params: Params
                 ) -> tuple[list[str], list[float], list[float]] | None:
    """The characters, confidences and scoring probabilities under `fmt`; None when it cannot fit."""
    out, confs, scores = [], [], []
    for i, (slot, ch) in enumerate(zip(fmt, chars)):
        p = float(probs[i, classes.index(ch)]) if ch in classes else 0.0
        if slot_accepts(slot, ch):
            out.append(ch)
            confs.append(p)
            scores.append(p)
            continue
        alt = partner(ch)
        if alt is None or alt not in classes:
            return None
        pa = float(probs[i, classes.index(alt)])
        if pa < params.format_swap_ratio * p:
            return None
        out.append(alt)
        # formats compete on the CNN's own probability of what they chose; the reported confidence
        # of a swapped character is the pair's combined mass (the format decides within the pair)
        scores.append(pa)
        confs.append(min(1.0, pa + p))
    return out, confs, scores


def decode(probs: np.ndarray, classes: str, region: str = "auto", params: Params | None = None) -> Reading:
    """Plate text from (N, C) character probabilities, rescored by the region's formats."""
    params = params or Params()
    idx = probs.argmax(axis=1)
    chars = [classes[i] for i in idx]
    confs = [float(probs[k, i]) for k, i in enumerate(idx)]
    best: tuple[float, list[str], list[float]] | None = None
    for fmt in formats_for(region):
        if len(fmt) != len(chars):
            continue
        fitted = apply_format(chars, probs, classes, fmt, params)
        if fitted is None:
            continue
        score = float(np.sum(np.log(np.maximum(fitted[2], 1e-9))))
        if best is None or score > best[0]:
            best = (score, fitted[0], fitted[1])
    if best is not None:
        return Reading("".join(best[1]), float(min(best[2])) if best[2] else 0.0, best[2], True)
    conf = (float(min(confs)) if confs else 0.0) * params.format_miss_penalty
    return Reading("".join(chars), conf, confs, False)


def rank_score(reading: Reading, params: Params) -> float:
    """Ranking of hypotheses: geometric-mean character confidence, a bonus for format fit and length."""
    if not reading.char_confidences:
        return 0.0
    geo = float(np.exp(np.mean(np.log(np.maximum(reading.char_confidences, 1e-9)))))
    fit = 1.0 if reading.fits_format else params.format_miss_penalty
    return geo * fit + params.rank_per_char * min(len(reading.text), 7)
