"""Non-character crops for the reject class (`#`): what a segmenter cuts out of a plate candidate
that is not a character, so the CNN can say "not a character" instead of a confident letter.

Kinds (each its own group id, so a split holds out whole blocks of one kind):
texture (blurred noise), grille (several parallel bars), frame (plate-border edges and corners),
fragment (the top or bottom slice of a glyph), pair (two glyphs touching), screw (a filled disc
with a slot), band (the EU blue band: a dark block with a ring of light stars), scribble (a random
curved stroke). Every sample is then degraded like the characters (`augment.augment_char`).
Deliberately absent: single vertical bars and rings, which are what I, 1, O and 0 look like.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from anpr.charcrop import INPUT_SIZE, normalize_char
from anpr.network import REJECT

from .augment import DEFAULT_AUGMENT, AugmentParams, augment_char
from .charset import CharSet
from .synthetic import available_fonts, render_glyph, resolve_font

REJECT_CHAR = REJECT  # the class the pipeline drops
KINDS = ("texture", "grille", "frame", "fragment", "pair", "screw", "band", "scribble")
GROUP_BLOCK = 50
CANVAS = 64
SOURCE = "reject"
GLYPHS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"


def _blank(h: int = CANVAS, w: int = CANVAS) -> np.ndarray:
    return np.full((h, w), 255, np.uint8)


def _texture(rng, glyph) -> np.ndarray:
    noise = rng.random((CANVAS // 4, CANVAS // 4)).astype(np.float32)
    big = cv2.resize(noise, (int(CANVAS * rng.uniform(0.5, 1.2)), CANVAS), interpolation=cv2.INTER_CUBIC)
    return (np.clip(big, 0, 1) * 255).astype(np.uint8)


def _grille(rng, glyph) -> np.ndarray:
    img = _blank()
    n = int(rng.integers(2, 5))
    vertical = rng.random() < 0.5
    t = int(rng.integers(3, 9))
    for i in range(n):
        p = 6 + i * (CANVAS - 12) // n
        if vertical:
            img[4:-4, p: p + t] = 0
        else:
            img[p: p + t, 4:-4] = 0
    return img


def _frame(rng, glyph) -> np.ndarray:
    img = _blank()
    t = int(rng.integers(3, 8))
    img[8: 8 + t, 8:-8] = 0              # top edge
    if rng.random() < 0.7:
        img[8:-8, 8: 8 + t] = 0          # and a side: a corner
    return img


def _fragment(rng, glyph) -> np.ndarray:
    h = glyph.shape[0]
    cut = int(h * rng.uniform(0.22, 0.42))
    return glyph[:cut].copy() if rng.random() < 0.5 else glyph[h - cut:].copy()


def _pair(rng, glyph, other) -> np.ndarray:
    h = max(glyph.shape[0], other.shape[0])
    a = cv2.resize(glyph, (glyph.shape[1] * h // glyph.shape[0], h))
    b = cv2.resize(other, (other.shape[1] * h // other.shape[0], h))
    overlap = int(rng.integers(0, max(1, min(a.shape[1], b.shape[1]) // 5)))
    img = np.full((h, a.shape[1] + b.shape[1] - overlap), 255, np.uint8)
    img[:, : a.shape[1]] = a
    img[:, a.shape[1] - overlap:] = np.minimum(img[:, a.shape[1] - overlap:], b)
    return img


def _screw(rng, glyph) -> np.ndarray:
    img = _blank()
    c, r = CANVAS // 2, int(rng.integers(14, 26))
    cv2.circle(img, (c, c), r, 0, -1)
    ang = rng.uniform(0, np.pi)
    d = np.array([np.cos(ang), np.sin(ang)]) * r * 0.8
    cv2.line(img, tuple(int(v) for v in (c - d[0], c - d[1])), tuple(int(v) for v in (c + d[0], c + d[1])),
             int(rng.integers(120, 255)), int(rng.integers(2, 5)))
    return img


def _band(rng, glyph) -> np.ndarray:
    w = int(CANVAS * rng.uniform(0.45, 0.8))
    img = np.zeros((CANVAS, w), np.uint8) + int(rng.integers(0, 60))
    cy, cx, r = CANVAS * 0.35, w / 2, w * 0.3
    for k in range(12):
        a = 2 * np.pi * k / 12
        cv2.circle(img, (int(cx + r * np.cos(a)), int(cy + r * np.sin(a))), 2, 255, -1)
    if rng.random() < 0.6:  # the country letter under the stars
        small = cv2.resize(255 - glyph, (int(w * 0.4), int(CANVAS * 0.25)))
        y0, x0 = int(CANVAS * 0.68), (w - small.shape[1]) // 2
        img[y0: y0 + small.shape[0], x0: x0 + small.shape[1]] = np.maximum(
            img[y0: y0 + small.shape[0], x0: x0 + small.shape[1]], small)
    return img


def _scribble(rng, glyph) -> np.ndarray:
    img = _blank()
    pts = (rng.random((int(rng.integers(7, 12)), 2)) * (CANVAS - 16) + 8).astype(np.int32)
    cv2.polylines(img, [pts.reshape(-1, 1, 2)], False, 0, int(rng.integers(3, 8)))
    return img


def make_reject(count: int, fonts: Sequence[str | Path] | None = None, seed: int = 0,
                params: AugmentParams = DEFAULT_AUGMENT) -> CharSet:
    """`count` degraded non-character crops, labelled `REJECT_CHAR`, kinds in turn."""
    rng = np.random.default_rng([seed, 7])
    paths = [resolve_font(f) for f in fonts] if fonts else available_fonts()
    glyphs = [render_glyph(p, c) for p in paths for c in GLYPHS]
    images = np.zeros((count, INPUT_SIZE, INPUT_SIZE), np.float32)
    groups = []
    makers = {"texture": _texture, "grille": _grille, "frame": _frame, "fragment": _fragment,
              "screw": _screw, "band": _band, "scribble": _scribble}
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        glyph = glyphs[int(rng.integers(len(glyphs)))]
        if kind == "pair":
            raw = _pair(rng, glyph, glyphs[int(rng.integers(len(glyphs)))])
        else:
            raw = makers[kind](rng, glyph)
        crop, ink_dark = augment_char(raw, rng, True, params)
        images[i] = normalize_char(crop, ink_dark=ink_dark)
        groups.append(f"{kind}:{i // (GROUP_BLOCK * len(KINDS))}")
    labels = np.full(count, REJECT_CHAR, "<U1")
    return CharSet(SOURCE, images, labels, np.asarray(groups, str), True)
