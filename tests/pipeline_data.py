"""Dev photos for the pipeline's tests: a fixed, spread-out subset of the OpenALPR benchmark photos.

Crops are cut from the real photos at test time (never stored in the repository)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tests.conftest import shared_path

DEV = "openalpr-benchmark-dev"


@dataclass
class DevPhoto:
    path: Path
    region: str
    box: tuple[int, int, int, int]
    plate: str

    def gray(self) -> np.ndarray:
        return cv2.imread(str(self.path), cv2.IMREAD_GRAYSCALE)

    def bgr(self) -> np.ndarray:
        return cv2.imread(str(self.path), cv2.IMREAD_COLOR)


def dev_photos(region: str, every: int = 1, offset: int = 0) -> list[DevPhoto]:
    """Every `every`-th annotated photo of a region (sorted by name), starting at `offset`."""
    root = shared_path(DEV, region)
    out = []
    for txt in sorted(root.glob("*.txt"))[offset::every]:
        parts = txt.read_text().split()
        out.append(DevPhoto(txt.with_suffix(".jpg"), region, tuple(int(v) for v in parts[1:5]), parts[5]))
    return out


def plate_patch(photo: DevPhoto, context: float = 1.0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A gray patch around the true plate with `context` plate sizes of surroundings on each side,
    and the plate's box within the patch."""
    g = photo.gray()
    x, y, w, h = photo.box
    x0, y0 = max(0, int(x - context * w)), max(0, int(y - context * h))
    x1, y1 = min(g.shape[1], int(x + w + context * w)), min(g.shape[0], int(y + h + context * h))
    return g[y0:y1, x0:x1].copy(), (x - x0, y - y0, w, h)
