"""Turn the CNN's per-character probabilities into plate text, with confidence and format rescoring.

The CNN reads each character crop on its own; the plate's confidence combines the character
probabilities (geometric mean by default, or the minimum: `confidence_mode`). Region formats then rescore the
confusable letter/digit pairs, and any character whose other-kind alternative the CNN itself found
likely: among the formats of the reading's length, the one whose required swaps cost least
probability wins, weighed by how common the format is in the line's likely region
(`regions.format_prior`); a reading that fits no format keeps its characters and loses confidence
(`format_miss_penalty`). Before all that, characters the region hardly ever issues (a US Q) keep only
`rare_char_factor` of their probability.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .params import Params
from .regions import (format_prior, format_share, formats_of_length, partner, rare_char_prior, region_weights,
                      slot_accepts)


@dataclass
class Reading:
    """Plate text from one segmentation hypothesis."""

    text: str
    confidence: float
    char_confidences: list[float]
    fits_format: bool


def apply_format(chars: list[str], rows: list[list[float]], column: dict[str, int], fmt: str, params: Params,
                 kinds: dict[str, tuple[list[str], list[float]]]) -> tuple[list[str], list[float], list[float]] | None:
    """The characters, confidences and scoring probabilities under `fmt`; None when it cannot fit.
    `rows` are the CNN's probabilities as lists (one per character), `column` a class's index in them
    (`class_columns`), `kinds` the best_of_kinds of the same probabilities."""
    out, confs, scores = [], [], []
    for i, (slot, ch) in enumerate(zip(fmt, chars)):
        p = rows[i][column[ch]] if ch in column else 0.0
        if slot_accepts(slot, ch):
            out.append(ch)
            confs.append(p)
            scores.append(p)
            continue
        alt = partner(ch)
        pa = rows[i][column[alt]] if alt is not None and alt in column else -1.0
        other, po = kinds[slot][0][i], kinds[slot][1][i]
        if po > pa and po >= params.other_swap_ratio * p:
            # outside the look-alike pairs, the CNN's own second thought of the wanted kind
            alt, pa, factor = other, po, params.swap_factor * params.other_swap_factor
        elif pa >= 0 and pa >= params.format_swap_ratio * p:
            factor = params.swap_factor
        else:
            return None
        out.append(alt)
        # formats compete on the CNN's own probability of what they chose; the reported confidence
        # of a swapped character is the two candidates' combined mass (the format decides between them)
        scores.append(pa)
        confs.append(min(1.0, pa + p) * factor)
    return out, confs, scores


@lru_cache(maxsize=8)
def class_columns(classes: str) -> dict[str, int]:
    """Each class's column in the CNN's probabilities."""
    return {c: k for k, c in enumerate(classes)}


@lru_cache(maxsize=8)
def kind_columns(classes: str) -> tuple[np.ndarray, np.ndarray]:
    """Column indices of the letters and of the digits among `classes` (not the reject class)."""
    letters = np.array([k for k, c in enumerate(classes) if c.isalpha()], np.intp)
    digits = np.array([k for k, c in enumerate(classes) if c.isdigit()], np.intp)
    return letters, digits


def best_of_kinds(probs: np.ndarray, classes: str) -> dict[str, tuple[list[str], list[float]]]:
    """Per character, the most probable letter (slot "L") and digit (slot "D") and their probabilities
    (-1 where the model has no character of that kind)."""
    out = {}
    rows = np.arange(len(probs))
    for slot, cols in zip("LD", kind_columns(classes)):
        if cols.size == 0:
            out[slot] = ([""] * len(probs), [-1.0] * len(probs))
            continue
        arg = probs[:, cols].argmax(axis=1)
        out[slot] = ([classes[k] for k in cols[arg]], probs[rows, cols[arg]].tolist())
    return out


def decode(probs: np.ndarray, classes: str, region: str = "auto", params: Params | None = None,
           line_ratio: float | None = None) -> Reading:
    """Plate text from (N, C) character probabilities, rescored by the region's formats. Under `auto`
    the line's span in character heights (`line_ratio`) weighs the regions (`regions.region_weights`)."""
    params = params or Params()
    weights = region_weights(region, line_ratio, params)
    rare = rare_char_prior(classes, weights, params.rare_char_factor)
    if rare is not None:
        probs = probs * rare  # not renormalized: the mass a misread rare character had is lost
    idx = probs.argmax(axis=1).tolist()
    # plain lists: the format loop below reads single probabilities, which numpy makes slow
    rows = probs.tolist()
    chars = [classes[i] for i in idx]
    confs = [row[i] for row, i in zip(rows, idx)]
    best: tuple[float, list[str], list[float], str] | None = None
    formats = formats_of_length(region, len(chars))
    kinds = best_of_kinds(probs, classes) if formats else {}
    column = class_columns(classes)
    as_read = log_sum(confs)
    for fmt in formats:
        fitted = apply_format(chars, rows, column, fmt, params, kinds)
        if fitted is None:
            continue
        prior = format_prior(weights, fmt)
        if prior <= 0:  # a format only of regions the line cannot be from
            continue
        fit = log_sum(fitted[2])
        if as_read - fit > params.format_max_cost:  # the swaps overrule a CNN that was sure
            continue
        score = fit + math.log(prior)
        if best is None or score > best[0]:
            best = (score, fitted[0], fitted[1], fmt)
    if best is not None:
        # part of the miss penalty: as much as the line's region is unlikely to have this format
        # (none under a named region)
        penalty = params.format_miss_penalty + (1 - params.format_miss_penalty) * format_share(weights, best[3])
        return Reading("".join(best[1]), combine(best[2], params) * penalty, best[2], True)
    return Reading("".join(chars), combine(confs, params) * params.format_miss_penalty, confs, False)


def combine(confs: list[float], params: Params) -> float:
    """Plate confidence from character confidences: geometric mean (`geo`) or minimum (`min`)."""
    if not confs:
        return 0.0
    if params.confidence_mode == "min":
        return float(min(confs))
    return math.exp(log_sum(confs) / len(confs))


def log_sum(probs: list[float]) -> float:
    """Sum of the logs of a line's few probabilities, each floored at 1e-9. Plain `math` on a short
    list: numpy's per-call overhead made these sums most of `decode`'s own time."""
    return sum(math.log(max(p, 1e-9)) for p in probs)


def line_factor(boxes: list[tuple[int, int, int, int]], params: Params) -> float:
    """Confidence factor (0..1) for the line's shape: lines of mostly thin bars are grilles or fences."""
    if not boxes:
        return 0.0
    thin = sum(1 for b in boxes if b[2] < params.thin_char_aspect * b[3]) / len(boxes)
    return max(0.0, 1.0 - params.thin_line_penalty * max(0.0, thin - params.thin_line_allowance))
