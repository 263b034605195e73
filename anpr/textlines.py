"""A second plate cue, independent of the edge closing: rows of character-like connected components.

The edge closing misses plates whose edge blob merges with a trunk panel, a frame or a bumper, and
small plates whose edges fall under the frame-wide edge threshold. Characters themselves are still
there: after a local (adaptive) threshold, 4 to 9 blobs of similar height, side by side on one line
with gaps smaller than a character height. Each such row becomes a candidate with the row's own
tilt and a height of the characters plus a margin, for the same segmentation and CNN as the rest.
"""
from __future__ import annotations

import cv2
import numpy as np

from .localize import Candidate, shrink, to_gray, working_scale
from .params import Params
from .rectify import deskew_angle
from .segment import component_stats


def char_blobs(small: np.ndarray, params: Params) -> np.ndarray:
    """Character-like components of both polarities as rows (x, y, w, h) in working pixels."""
    out = []
    for inv in (cv2.THRESH_BINARY_INV, cv2.THRESH_BINARY):
        binary = cv2.adaptiveThreshold(small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, inv,
                                       params.textline_block, params.textline_c)
        stats = component_stats(binary)
        x, y, w, h, area = stats[1:].T
        ok = ((h >= params.textline_min_char_h) & (h <= params.textline_max_char_h)
              & (w >= 2) & (w <= params.textline_max_aspect * h)
              & (w >= params.textline_min_aspect * h)
              & (area >= params.textline_min_fill * w * h) & (area <= params.textline_max_fill * w * h))
        out.append(stats[1:][ok, :4])
    return np.concatenate(out) if out else np.zeros((0, 4), int)


def rows_of_blobs(blobs: np.ndarray, params: Params) -> list[np.ndarray]:
    """Groups of blobs that form one text line: similar heights, centres on a line, small gaps."""
    n = len(blobs)
    if n < params.min_chars:
        return []
    order = np.argsort(blobs[:, 0])
    b = blobs[order].astype(np.float64)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    x, y, w, h = b.T
    cy = y + h / 2
    right = x + w
    for i in range(n):
        # neighbours to the right within one character height's gap
        for j in range(i + 1, n):
            gap = x[j] - right[i]
            if x[j] > right[i] + params.textline_max_gap * h[i]:
                break
            if gap < -0.2 * min(w[i], w[j]):
                continue  # overlapping blobs: a hole or the other polarity
            if max(h[i], h[j]) > params.textline_height_ratio * min(h[i], h[j]):
                continue
            if abs(cy[i] - cy[j]) > params.textline_max_dy * max(h[i], h[j]):
                continue
            parent[find(i)] = find(j)
            break  # chain to the nearest fitting neighbour only
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    rows = []
    for idx in groups.values():
        if params.min_chars <= len(idx) <= params.max_chars:
            g = b[idx]
            gaps = g[1:, 0] - (g[:-1, 0] + g[:-1, 2])
            if len(gaps) and np.std(gaps) > params.textline_gap_std * np.median(g[:, 3]):
                continue  # irregular spacing: text in a scene, not a plate
            rows.append(g)
    return rows


def text_line_candidates(image: np.ndarray, params: Params | None = None) -> list[Candidate]:
    """Plate candidates from rows of character-like components, the longest rows first."""
    params = params or Params()
    gray = to_gray(image)
    scale = working_scale(gray.shape, params)
    small = shrink(gray, scale)
    rows = rows_of_blobs(char_blobs(small, params), params)
    inv = 1.0 / scale
    found = []
    for g in rows:
        x, y, w, h = g.T
        ch = float(np.median(h))
        cx = x + w / 2
        cy = y + h / 2
        ang = deskew_angle(np.column_stack([cx, cy]))
        x0, x1 = float(x.min()), float((x + w).max())
        width = (x1 - x0) + params.textline_pad_x * ch
        height = ch * params.textline_height_frac
        centre = ((x0 + x1) / 2 * inv, float(np.mean(cy)) * inv)
        rect = (centre, (width * inv, height * inv), ang)
        bx0, by0 = x0 - 0.5 * params.textline_pad_x * ch, float(cy.mean()) - height / 2
        box = (int(bx0 * inv), int(by0 * inv), int(round(width * inv)), int(round(height * inv)))
        found.append(Candidate(rect, box, float(len(g))))
    found.sort(key=lambda c: -c.score)
    return found[: params.textline_max_candidates]
