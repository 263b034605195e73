"""Character crops cut from labelled plate photos (the benchmark layout: REGION/NAME.jpg + NAME.txt).

A photo's ground truth names the plate's text and box, not where each character is, so the pipeline
finds them: of the lines it reads over the true box (IoU >= `MATCH_IOU`) with as many characters as
the truth, the one that reads most of them right is cut into crops labelled by the truth. These are
the crops the CNN sees at inference (same segmentation, padding, stretch), in the fonts of the plates
the device reads: US state fonts, for one, are in no other source. A line that reads fewer than
`MIN_AGREEMENT` of the truth's characters right is taken for a misaligned cut and gives nothing;
photos without a usable line give no crops (counted in the log). One group per photo.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .charset import CharSet

MATCH_IOU = 0.3
MIN_AGREEMENT = 0.5
LINES_PER_PHOTO = 1  # cuts of one plate kept (more: near-duplicates of the same characters)
SOURCE_PREFIX = "platephotos"


class PlatePhotosError(ValueError):
    """A folder that holds no usable labelled photos."""


def agreement(read: str, truth: str) -> float:
    """Share of positions where a read of the truth's length has the truth's character."""
    if len(read) != len(truth) or not truth:
        return 0.0
    return sum(a == b for a, b in zip(read, truth)) / len(truth)


def harvest_photo(reader, image: np.ndarray, box: tuple[int, int, int, int], plate: str,
                  lines: int = 1) -> list[tuple[list[np.ndarray], bool]]:
    """(crops, ink_dark) of the best `lines` lines of `image` over `box` that split into `plate`'s
    characters (most characters read right first; different cuts of one plate). `reader` is an
    `anpr.pipeline.PlateReader`."""
    from anpr.localize import iou

    found = []
    for h in reader.line_reads(image):
        if iou(h.frame_box(reader.params), box) < MATCH_IOU:
            continue
        score = agreement(h.reading.text, plate)
        if score >= MIN_AGREEMENT:
            found.append((score, h))
    found.sort(key=lambda sh: -sh[0])  # stable: reads of equal agreement keep their confidence order
    out, seen = [], set()
    for _, h in found:
        key = (id(h.crop), h.seg.ink_dark, tuple(h.seg.boxes))
        if key not in seen:
            seen.add(key)
            out.append((reader.char_images(h), h.seg.ink_dark))
        if len(out) >= lines:
            break
    return out


def load_platephotos(root: str | Path, weights: str | Path | None = None, source: str | None = None,
                     keep_crops: bool = True, log: Callable[[str], None] | None = None) -> CharSet:
    """Crops of every labelled photo under `root` (a region folder or a folder of region folders),
    found with the model `weights` (default: the shipped one). Crops are made dark-on-light."""
    from anpr.classify import CharClassifier
    from anpr.evaluate import find_samples, region_for
    from anpr.imageio import ImageError, load_image
    from anpr.pipeline import PlateReader

    root = Path(root)
    if not root.is_dir():
        raise PlatePhotosError(f"{root}: not a folder of labelled photos (REGION/NAME.jpg + NAME.txt)")
    samples = find_samples(root)
    if not samples:
        raise PlatePhotosError(f"{root}: no photo with a NAME.txt annotation beside it")
    source = source or f"{SOURCE_PREFIX}-{root.name}"
    classifier = CharClassifier(weights)
    readers: dict[str, PlateReader] = {}
    crops: list[np.ndarray] = []
    labels: list[str] = []
    groups: list[str] = []
    used = 0
    for s in samples:
        region = region_for(s, None)
        if region not in readers:
            readers[region] = PlateReader(classifier, region=region)
        try:
            image = load_image(s.image)
        except ImageError as exc:
            raise PlatePhotosError(f"{s.image}: {exc}; remove the photo or its .txt") from exc
        got = harvest_photo(readers[region], image, s.box, s.plate, LINES_PER_PHOTO)
        used += bool(got)
        for chars, ink_dark in got:
            crops += [c if ink_dark else 255 - c for c in chars]
            labels += list(s.plate)
            groups += [f"{source}:{s.region}/{s.image.stem}"] * len(chars)
    if log:
        log(f"  {source}: {len(crops)} characters from {used} of {len(samples)} photos")
    if not crops:
        raise PlatePhotosError(f"{root}: the pipeline split none of the {len(samples)} photos into "
                               "their annotated characters")
    return CharSet.from_crops(source, crops, labels, groups, ink_dark=True, keep_crops=keep_crops)
