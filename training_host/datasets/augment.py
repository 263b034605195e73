"""Degrade a clean character the way a plate photo does, so the CNN learns real plates.

Plates in photos are small, blurred, tilted and seen at an angle, in fonts the training set lacks;
the segmenter's crops carry bits of the plate border or the neighbouring character; contrast ranges
from crisp to washed out and some plates are light-on-dark. `augment_char` applies a random mix of
these to one dark-on-light glyph and returns the degraded crop plus its polarity (for
`normalize_char(..., ink_dark)`).
Every knob is a field of `AugmentParams`.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from anpr.charcrop import to_gray_float


@dataclass(frozen=True)
class AugmentParams:
    rotation_deg: float = 7.0          # max |rotation|
    shear: float = 0.18                # max |horizontal shear| (slanted fonts, oblique views)
    width_scale: tuple[float, float] = (0.7, 1.15)  # horizontal squeeze/stretch
    perspective: float = 0.08          # max corner displacement, fraction of the glyph size
    # elastic distortion (a smooth random displacement field, as for handwritten digits): the same
    # character bends differently in each plate font (a 6's top stroke curved or straight)
    elastic_prob: float = 0.7
    elastic_alpha: float = 3.0         # largest displacement, pixels at the 48 px working glyph height
    elastic_sigma: float = 6.0         # smoothness of the field (Gaussian sigma, pixels)
    stroke_prob: float = 0.5           # chance of thinning or thickening the strokes
    low_res_height: tuple[int, int] = (10, 28)  # glyph height after the downscale (px)
    upscale: tuple[float, float] = (1.0, 3.0)  # factor back up after the downscale
    blur_sigma: tuple[float, float] = (0.0, 1.0)
    noise: tuple[float, float] = (0.0, 0.2)  # noise sigma, fraction of the contrast
    contrast: tuple[float, float] = (0.25, 1.0)  # |ink - background| after the remap
    jpeg_prob: float = 0.4
    jpeg_quality: tuple[int, int] = (25, 90)
    border_prob: float = 0.3           # plate border bar at the top/bottom of the crop
    neighbour_prob: float = 0.25       # a sliver of the neighbouring character at a side
    invert_prob: float = 0.15          # light-on-dark plate
    margin: tuple[float, float] = (0.0, 0.15)  # crop margin around the glyph, fraction of its size


DEFAULT_AUGMENT = AugmentParams()


def _ink_bbox(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(ink > 0.5)
    if ys.size == 0:
        return None
    return ys.min(), ys.max() + 1, xs.min(), xs.max() + 1


def elastic(ink: np.ndarray, rng: np.random.Generator, alpha: float, sigma: float) -> np.ndarray:
    """`ink` resampled through a random displacement field, smoothed by `sigma` and scaled so its
    largest shift is `alpha` pixels in each direction."""
    h, w = ink.shape
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma)
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma)
    dx *= alpha / max(1e-6, float(np.abs(dx).max()))
    dy *= alpha / max(1e-6, float(np.abs(dy).max()))
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(ink, gx + dx, gy + dy, cv2.INTER_LINEAR, borderValue=0.0)


def augment_char(glyph: np.ndarray, rng: np.random.Generator, ink_dark: bool = True,
                 params: AugmentParams = DEFAULT_AUGMENT) -> tuple[np.ndarray, bool]:
    """One degraded uint8 crop of `glyph` and whether its ink is dark."""
    p = params
    ink = to_gray_float(glyph)
    if ink_dark:
        ink = 1.0 - ink
    lo, hi = float(ink.min()), float(ink.max())
    ink = (ink - lo) / (hi - lo) if hi - lo > 1e-3 else ink * 0.0
    box = _ink_bbox(ink)
    if box is None:
        return (np.full((8, 8), 255, np.uint8), True)
    y0, y1, x0, x1 = box
    ink = ink[y0:y1, x0:x1]
    # work at a fixed glyph height so kernels and margins mean the same for every source
    work_h = 48
    scale = work_h / ink.shape[0]
    ink = cv2.resize(ink, (max(1, round(ink.shape[1] * scale * rng.uniform(*p.width_scale))), work_h),
                     interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    pad = work_h // 2
    ink = cv2.copyMakeBorder(ink, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0.0)
    if rng.random() < p.stroke_prob:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(rng.integers(2, 5)),) * 2)
        ink = cv2.dilate(ink, k) if rng.random() < 0.5 else cv2.erode(ink, k)
    h, w = ink.shape
    # rotation + shear + perspective as one homography about the centre
    c = np.array([w / 2, h / 2])
    a = np.deg2rad(rng.uniform(-p.rotation_deg, p.rotation_deg))
    sh = rng.uniform(-p.shear, p.shear)
    lin = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ np.array([[1, sh], [0, 1]])
    src = np.array([[pad, pad], [w - pad, pad], [w - pad, h - pad], [pad, h - pad]], np.float32)
    dst = (src - c) @ lin.T + c
    dst += rng.uniform(-p.perspective, p.perspective, dst.shape) * work_h
    ink = cv2.warpPerspective(ink, cv2.getPerspectiveTransform(src, dst.astype(np.float32)), (w, h),
                              flags=cv2.INTER_LINEAR, borderValue=0.0)
    if rng.random() < p.elastic_prob:
        ink = elastic(ink, rng, p.elastic_alpha, p.elastic_sigma)
    box = _ink_bbox(ink)
    if box is None:
        return (np.full((8, 8), 255, np.uint8), True)
    y0, y1, x0, x1 = box
    gh, gw = y1 - y0, x1 - x0
    m = [int(rng.uniform(*p.margin) * gh) for _ in range(2)] + [int(rng.uniform(*p.margin) * gw) for _ in range(2)]
    y0, y1 = max(0, y0 - m[0]), min(h, y1 + m[1])
    x0, x1 = max(0, x0 - m[2]), min(w, x1 + m[3])
    ink = ink[y0:y1, x0:x1].copy()
    ch, cw = ink.shape
    if rng.random() < p.border_prob:  # plate frame above or below, thinner than a stroke
        t = max(1, int(rng.uniform(0.03, 0.08) * ch))
        rows = slice(0, t) if rng.random() < 0.5 else slice(ch - t, ch)
        a0 = int(rng.uniform(0, 0.3) * cw)
        ink[rows, a0: cw - int(rng.uniform(0, 0.3) * cw)] = 1.0
    if rng.random() < p.neighbour_prob:  # a sliver of the next character
        t = max(1, int(rng.uniform(0.04, 0.12) * cw))
        cols = slice(0, t) if rng.random() < 0.5 else slice(cw - t, cw)
        r0 = int(rng.uniform(0, 0.5) * ch)
        ink[r0: ch - int(rng.uniform(0, 0.2) * ch), cols] = 1.0
    # low resolution: shrink to a small glyph, blur, then back up
    target_h = int(rng.integers(p.low_res_height[0], p.low_res_height[1] + 1))
    s = target_h / max(gh, 1)
    small = cv2.resize(ink, (max(2, round(cw * s)), max(2, round(ch * s))), interpolation=cv2.INTER_AREA)
    sigma = rng.uniform(*p.blur_sigma)
    if sigma > 0.2:
        small = cv2.GaussianBlur(small, (0, 0), sigma)
    up = rng.uniform(*p.upscale)
    if up > 1.05:
        small = cv2.resize(small, (round(small.shape[1] * up), round(small.shape[0] * up)),
                           interpolation=cv2.INTER_LINEAR)
    # contrast: ink and background grey levels, with a gentle illumination gradient
    contrast = rng.uniform(*p.contrast)
    bg = rng.uniform(contrast, 1.0)
    fg = bg - contrast
    gy, gx = np.mgrid[0: small.shape[0], 0: small.shape[1]].astype(np.float32)
    grad = rng.uniform(-0.15, 0.15) * (gx / max(small.shape[1], 1) - 0.5) + rng.uniform(-0.1, 0.1) * (
        gy / max(small.shape[0], 1) - 0.5)
    img = bg - small * (bg - fg) + grad * contrast
    img = img + rng.normal(0.0, rng.uniform(*p.noise) * contrast, img.shape)
    ink_is_dark = True
    if rng.random() < p.invert_prob:
        img = 1.0 - img
        ink_is_dark = False
    out = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < p.jpeg_prob:
        q = int(rng.integers(p.jpeg_quality[0], p.jpeg_quality[1] + 1))
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return out, ink_is_dark
