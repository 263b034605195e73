"""Real character crops cut from plate photos (OpenALPR `train-ocr`: `plate-chars/gb|br/chars`).

File names are `LABEL-VARIANT-PLATEID.ext`: the label is the text before the first '-' (lower-case
letters in `br/` mean upper-case), VARIANT numbers the 2-3 near-identical crops of each character,
and the rest (`PLATEID`, e.g. `3_KRY2710` or `CROPPED_GU60RZB-2014-12-04....-image`) names the plate
photo the crop came from. Group id rule: one group per PLATEID, and PLATEIDs whose crops carry the
same set of characters (at least `MERGE_MIN_CHARS` distinct ones) are merged into one group, because
they are the same plate cut twice (e.g. `10_DWG1072` and `10_DWGD072`). Crops are dark on light.
"""
from __future__ import annotations

from pathlib import Path

import cv2

from .charset import CharSet

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
MERGE_MIN_CHARS = 4
SOURCE_PREFIX = "platechars"


class PlateCharsError(ValueError):
    """A crop file whose name or content cannot be used."""


def parse_name(name: str) -> tuple[str, str]:
    """(label, plate id) from a crop file name."""
    stem = Path(name).stem
    parts = stem.split("-", 2)
    if len(parts) < 3 or len(parts[0]) != 1 or not parts[0].isalnum():
        raise PlateCharsError(f"{name}: expected LABEL-VARIANT-PLATEID (label one character before the first '-')")
    return parts[0].upper(), parts[2]


def plate_groups(plate_ids: list[str], labels: list[str], prefix: str) -> list[str]:
    """Map each crop's plate id to its group: plate ids with the same character set share one."""
    chars: dict[str, set[str]] = {}
    for pid, lab in zip(plate_ids, labels):
        chars.setdefault(pid, set()).add(lab)
    by_charset: dict[frozenset[str], str] = {}
    group_of: dict[str, str] = {}
    for pid in sorted(chars):
        key = frozenset(chars[pid])
        if len(key) >= MERGE_MIN_CHARS:
            group_of[pid] = by_charset.setdefault(key, pid)
        else:
            group_of[pid] = pid
    return [f"{prefix}:{group_of[pid]}" for pid in plate_ids]


def load_platechars(chars_dir: str | Path, source: str | None = None, keep_crops: bool = True) -> CharSet:
    """All crops in `chars_dir` (one region, e.g. `plate-chars/gb/chars`) as a `CharSet`."""
    chars_dir = Path(chars_dir)
    if not chars_dir.is_dir():
        raise PlateCharsError(f"{chars_dir}: not a directory of character crops")
    source = source or f"{SOURCE_PREFIX}-{chars_dir.parent.name}"
    crops, labels, plate_ids = [], [], []
    for path in sorted(chars_dir.iterdir()):
        if path.suffix.lower() not in EXTENSIONS:
            continue
        label, pid = parse_name(path.name)
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise PlateCharsError(f"{path}: cannot decode the image; remove or replace the file")
        crops.append(img)
        labels.append(label)
        plate_ids.append(pid)
    if not crops:
        raise PlateCharsError(f"{chars_dir}: no crops ({', '.join(EXTENSIONS)}) found")
    groups = plate_groups(plate_ids, labels, source)
    return CharSet.from_crops(source, crops, labels, groups, ink_dark=True, keep_crops=keep_crops)
