"""Write the intermediate images of one frame's pass, like the original project's illustrations.

Files: `01-edges.png` (vertical edges at working resolution), `02-closed-K.png` (each closing pass),
`03-candidates.png` (candidate rectangles on the frame), `04-plate-N.png` (each kept plate's upright
crop with its character cuts), `05-binary-N.png` (the binarization it was cut from), `06-result.png`
(the frame with the reported plates and their text).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .params import Params


def draw_reads(image: np.ndarray, items: list[tuple[tuple[int, int, int, int], str, bool]]) -> np.ndarray:
    """A BGR copy of `image` with boxes and labels; `ok` items green, the others red."""
    out = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    thick = max(1, round(max(out.shape[:2]) / 600))
    for (x, y, w, h), label, ok in items:
        color = (0, 200, 0) if ok else (0, 0, 255)
        cv2.rectangle(out, (x, y), (x + w, y + h), color, thick)
        if label:
            cv2.putText(out, label, (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thick, color, thick)
    return out


def write_debug(out_dir: Path, image: np.ndarray, trace: dict, kept: list, params: Params) -> None:
    """Write the step images of one frame into `out_dir` (created if needed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if "edges" in trace:
        cv2.imwrite(str(out_dir / "01-edges.png"), trace["edges"])
    for k, closed in enumerate(trace.get("closed", [])):
        cv2.imwrite(str(out_dir / f"02-closed-{k}.png"), closed)
    frame = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    cands = frame.copy()
    for c in trace.get("candidates", []):
        pts = cv2.boxPoints(c.rect).astype(np.int32)
        cv2.polylines(cands, [pts], True, (0, 200, 255), 2)
    cv2.imwrite(str(out_dir / "03-candidates.png"), cands)
    for n, h in enumerate(kept):
        plate = cv2.cvtColor(h.crop.gray, cv2.COLOR_GRAY2BGR)
        for x, y, w, hh in h.seg.boxes:
            cv2.rectangle(plate, (x, y), (x + w - 1, y + hh - 1), (0, 200, 0), 1)
        cv2.imwrite(str(out_dir / f"04-plate-{n}.png"), plate)
        if h.seg.binary is not None:
            cv2.imwrite(str(out_dir / f"05-binary-{n}.png"), h.seg.binary)
    items = [(h.frame_box(params), h.reading.text if h.reading else "", True) for h in kept]
    cv2.imwrite(str(out_dir / "06-result.png"), draw_reads(frame, items))
