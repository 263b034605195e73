"""Split touching characters by what the CNN reads in the pieces (segmentation by recognition).

On small or blurred plates neighbouring characters touch (a 78, a 6M) and connected components give
one wide blob for them, which the CNN rejects or misreads, so the line reads badly or not at all.
`segment.split_wide` only cuts at a thin neck; here every blob of the line wider than a character is
offered cuttings into two or three pieces at the valleys of its column ink profile (a lighter column
is left between blurred characters even where their ink joins), the CNN reads every piece, and the
cutting whose pieces read best, at a width like the line's other characters, replaces the blob. The
line's other characters are kept as they were found: the CNN is confident on junk too often to let it
re-cut a whole line (borders and emblems become characters).
"""
from __future__ import annotations

from itertools import combinations
from typing import Callable

import numpy as np

from .charcrop import INPUT_SIZE, normalize_chars, percentiles
from .network import character_columns
from .params import Params
from .segment import ink_box, middle

Box = tuple[int, int, int, int]
# reads (N, 28, 28) normalized crops -> (N, C) probabilities over the classifier's classes
Reader = Callable[[np.ndarray], np.ndarray]


def ink_profile(gray: np.ndarray, ink_dark: bool) -> np.ndarray:
    """Mean ink per column of a gray patch, 0..1 after a robust contrast stretch."""
    g = gray.astype(np.float32)
    if ink_dark:
        g = 255.0 - g
    lo, hi = percentiles(g, 0.05, 0.95)
    if hi - lo < 1.0:
        return np.zeros(g.shape[1], np.float32)
    return np.clip((g - lo) / (hi - lo), 0.0, 1.0).mean(axis=0)


def valleys(profile: np.ndarray, ch: float, params: Params) -> list[int]:
    """Columns of `profile` that are its lowest point within reseg_valley_window character heights
    and lower than reseg_valley_depth of that window's highest, away from the ends."""
    n = len(profile)
    k = max(1, int(round(params.reseg_smooth * ch)))
    smooth = np.convolve(profile, np.ones(k) / k, mode="same") if k > 1 else profile
    r = max(1, int(round(params.reseg_valley_window * ch)))
    margin = int(params.reseg_min_width * ch)
    out: list[int] = []
    for c in range(max(1, margin), min(n - 1, n - margin)):
        window = smooth[max(0, c - r) : c + r + 1]
        if smooth[c] <= window.min() and smooth[c] < params.reseg_valley_depth * window.max():
            # of valleys closer than a piece's least width (a flat gap), keep the lowest
            if out and c - out[-1] < margin:
                if smooth[c] < smooth[out[-1]]:
                    out[-1] = c
                continue
            out.append(c)
    return out


def resegment(gray: np.ndarray, binary: np.ndarray, boxes: list[Box], ink_dark: bool, read: Reader,
              classes: str, params: Params, size: int = INPUT_SIZE) -> list[Box] | None:
    """The line with its wide blobs split where the CNN reads the pieces best (crop pixels), or None
    when no blob was split. `read` is the CNN, `classes` its classes (a reject class `#` counts
    against a piece), `size` the side of its square input."""
    if len(boxes) < 2:
        return None
    ch = middle([b[3] for b in boxes])
    narrow = [b[2] for b in boxes if params.reseg_thin_width * ch <= b[2] < params.reseg_wide * ch]
    # the width the line's characters share: its single characters', else a plate font's usual one
    guess = middle(narrow) if len(narrow) >= 2 else params.reseg_default_width * ch
    # wide: more than a character in any plate font, or than this line's characters (condensed fonts)
    limit = min(params.reseg_wide * ch, params.reseg_wide_ratio * guess)
    wide = [i for i, b in enumerate(boxes) if b[2] >= limit]
    if not wide:
        return None
    H = gray.shape[0]
    pad = int(round(params.char_pad_fracs[0] * ch))
    # every cutting of every wide blob (the whole blob is cutting 0), as lists of piece boxes
    options: dict[int, list[list[Box]]] = {}
    crops: list[np.ndarray] = []
    index: dict[Box, int] = {}
    for i in wide:
        x, y, w, h = boxes[i]
        prof = ink_profile(gray[y : y + h, x : x + w], ink_dark)
        cuts = valleys(prof, ch, params)
        cuttings = [[boxes[i]]]
        for n_cuts in range(1, params.reseg_max_pieces):
            for chosen in combinations(cuts, n_cuts):
                edges = (0,) + chosen + (w,)
                if min(b - a for a, b in zip(edges[:-1], edges[1:])) < params.reseg_min_width * ch:
                    continue
                pieces = [ink_box(binary, x + a, y, x + b, y + h) for a, b in zip(edges[:-1], edges[1:])]
                if all(p is not None and p[3] >= params.reseg_min_height * ch for p in pieces):
                    cuttings.append(pieces)
        options[i] = cuttings
        for pieces in cuttings:
            for px, py, pw, ph in pieces:
                if (px, py, pw, ph) not in index:
                    index[(px, py, pw, ph)] = len(crops)
                    # no padding sideways: the neighbour's ink begins right at the cut
                    crops.append(gray[max(0, py - pad) : min(H, py + ph + pad), px : px + pw])
    if all(len(c) == 1 for c in options.values()):
        return None
    probs = read(normalize_chars(crops, ink_dark=ink_dark, size=size, ink_threshold=params.char_ink_threshold))
    best_real = probs[:, character_columns(classes)].max(axis=1)

    def score(pieces: list[Box]) -> float:
        s = 0.0
        for p in pieces:
            s += np.log(max(float(best_real[index[p]]), 1e-6)) + params.reseg_char_bonus
            s -= params.reseg_width_cost * abs(np.log(p[2] / guess))
        return s

    out: list[Box] = []
    changed = False
    for i, b in enumerate(boxes):
        if i not in options:
            out.append(b)
            continue
        best = max(options[i], key=score)
        changed |= len(best) > 1
        out.extend(best)
    if not changed or len(out) > params.max_chars:
        return None
    return out
