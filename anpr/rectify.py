"""Cut a candidate plate out of the frame as an upright, fixed-height crop, and undo residual tilt.

A candidate's rotated rectangle gives the first estimate of the plate's angle; the warp maps it
(plus a margin, so characters cut by a loose candidate are whole) to an axis-aligned crop of fixed
height. Once characters are segmented, the line through their centres measures the tilt that is
left, and `deskew_angle` lets the pipeline warp again. Each crop keeps the inverse transform, so
character boxes map back to original-image pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from .params import Params


@dataclass
class PlateCrop:
    """An upright gray crop of a plate candidate and the affine map from crop to frame pixels."""

    gray: np.ndarray
    to_frame: np.ndarray  # 2x3 affine: crop (x, y, 1) -> frame (x, y)
    # the same view warped with bicubic interpolation, where it enlarges the frame a lot (warp_rect)
    sharp: np.ndarray | None = field(default=None, repr=False)

    @property
    def char_gray(self) -> np.ndarray:
        """The image the CNN's character crops are cut from: the bicubic warp where there is one."""
        return self.gray if self.sharp is None else self.sharp

    def map_points(self, pts: np.ndarray) -> np.ndarray:
        """Crop coordinates (N, 2) to frame coordinates (N, 2)."""
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        return pts @ self.to_frame[:, :2].T + self.to_frame[:, 2]

    def map_box(self, x: float, y: float, w: float, h: float) -> tuple[int, int, int, int]:
        """Axis-aligned frame box (x, y, w, h) around a crop box."""
        corners = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]], np.float64)
        f = self.map_points(corners)
        x0, y0 = f.min(axis=0)
        x1, y1 = f.max(axis=0)
        return int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0))


def warp_rect(
    gray: np.ndarray,
    center: tuple[float, float],
    size: tuple[float, float],
    angle_deg: float,
    out_height: int,
    sharp_from: float = 0.0,
) -> PlateCrop:
    """Warp the rotated rectangle (center, (w, h), angle) of `gray` to an upright crop `out_height` tall.
    Where that enlarges the frame at least `sharp_from` times (0: never), the crop also gets a bicubic
    warp (`PlateCrop.sharp`): sharper strokes for the CNN on small plates, while segmentation keeps
    the bilinear one its thresholds are tuned to."""
    w, h = max(size[0], 2.0), max(size[1], 2.0)
    scale = out_height / h
    out_w = max(8, int(round(w * scale)))
    a = math.radians(angle_deg)
    cos, sin = math.cos(a), math.sin(a)
    # crop -> frame: rotate the crop's axes by the angle, scale back, centre on the rectangle
    inv = 1.0 / scale
    m = np.array(
        [
            [cos * inv, -sin * inv, 0.0],
            [sin * inv, cos * inv, 0.0],
        ]
    )
    cx, cy = out_w / 2.0, out_height / 2.0
    m[0, 2] = center[0] - (m[0, 0] * cx + m[0, 1] * cy)
    m[1, 2] = center[1] - (m[1, 0] * cx + m[1, 1] * cy)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(
        gray, m, (out_w, out_height), flags=interp | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    sharp = None
    if 0 < sharp_from <= scale:
        sharp = cv2.warpAffine(gray, m, (out_w, out_height), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REPLICATE)
    return PlateCrop(crop, m, sharp)


def crop_candidate(gray: np.ndarray, rect, params: Params) -> PlateCrop:
    """Upright crop of a candidate's rotated rectangle plus the configured margins."""
    (cx, cy), (w, h), ang = rect
    w2 = w * (1 + 2 * params.rect_margin_x)
    h2 = h * (1 + 2 * params.rect_margin_y)
    return warp_rect(gray, (cx, cy), (w2, h2), ang, params.rect_height, params.char_cubic_from)


def deskew_angle(centers: np.ndarray) -> float:
    """Tilt in degrees of the line through character centres (N, 2) in crop pixels (0 if too few)."""
    if len(centers) < 3:
        return 0.0
    xs, ys = centers[:, 0], centers[:, 1]
    dx = xs - xs.mean()
    var = float(dx @ dx)
    if var < 1.0:
        return 0.0
    slope = float(dx @ (ys - ys.mean())) / var  # least-squares line (np.polyfit costs ~0.5 ms)
    return math.degrees(math.atan(slope))


def rewarp(gray: np.ndarray, crop: PlateCrop, x0: float, x1: float, angle_deg: float, height_px: float,
           params: Params) -> PlateCrop:
    """Warp again around the crop span [x0, x1] (crop pixels), turned by `angle_deg`, `height_px` tall."""
    cy = crop.gray.shape[0] / 2.0
    center = crop.map_points(np.array([[(x0 + x1) / 2.0, cy]]))[0]
    sx = math.hypot(crop.to_frame[0, 0], crop.to_frame[1, 0])  # frame pixels per crop pixel
    base = math.degrees(math.atan2(crop.to_frame[1, 0], crop.to_frame[0, 0]))
    w = (x1 - x0) * sx
    h = height_px * sx
    return warp_rect(gray, (float(center[0]), float(center[1])), (w, h), base + angle_deg, params.rect_height,
                     params.char_cubic_from)
